"""Bias probes: test cases a judge's own verdicts reveal its biases on.

- ``verbosity``: the same answer rated alone and padded with fluent but
  irrelevant text. Effect: mean rating change (padded minus plain); an
  unbiased judge scores 0 or below (the padding adds nothing).
- ``position``: two identical outputs shown as A and B. Effect: share of "A"
  minus share of "B"; an unbiased judge says tie or splits evenly (0). The
  real pair in both orders adds position consistency and the rate at which
  the first-shown output wins.
- ``self_preference``: in a run with outputs of the judge's own model family
  and of other families, pairwise verdicts (both orders) on own-family vs
  other-family outputs of the same item, against the gold-answer label from
  the run's scorer. Effect: the judge's mean credit to its own family minus
  the gold credit (1 win, 0.5 tie, 0 loss); positive means self-preference.
  Without such a run the probe is reported as not applicable, with the reason.

Every effect comes with a percentile-bootstrap interval over items, its n,
the count of invalid verdicts (left out, never coerced) and the count of
failed requests (``n_errors``: no reply at all, so not a verdict, valid or not).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from assay.errors import ConfigError, DataError, ModelError
from assay.jsonable import jsonable
from assay.judge.agreement import bootstrap_over_items
from assay.judge.judging import DEFAULT_MAX_TOKENS, ORIGINAL, SWAPPED, Unit, outcome_from_reply
from assay.judge.prompts import load_template
from assay.judge.protocols.pairwise import PAIRWISE
from assay.judge.protocols.pointwise import POINTWISE
from assay.models.base import GENERATE, GenParams, Model, Request
from assay.stats.bootstrap import Interval

PROBES = ("verbosity", "position", "self_preference")

# Fluent, on-no-topic padding: it reads well and says nothing about any question.
PADDING = (
    "It is worth keeping in mind that questions of this kind have been discussed for a long time, "
    "and many thoughtful people have approached them from different angles.",
    "In general, taking a moment to reflect on the broader context can be a valuable habit, "
    "whatever the subject at hand happens to be.",
    "Many readers find it helpful to revisit such topics from time to time, since understanding "
    "often deepens with patience and practice.",
    "As with many things in life, careful attention to detail and an open mind tend to serve "
    "people well over the long run.",
    "Of course, everyone's circumstances are different, and it is always reasonable to consider "
    "several perspectives before settling on a view.",
    "This is a fascinating area, and there is much more that could be said about its history "
    "and the many conversations surrounding it.",
)


@dataclass
class ProbeResult:
    probe: str
    judge: str
    applicable: bool
    effect: float | None = None
    low: float | None = None
    high: float | None = None
    method: str | None = None
    n: int = 0
    n_invalid: int = 0
    n_errors: int = 0
    first_error: str | None = None
    meaning: str = ""
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    # What ``effect`` is measured in: a figure puts effects of one unit on one axis.
    unit: str = "share of verdicts"
    level: float = 0.95  # of the interval [low, high]

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "probe": self.probe,
                "judge": self.judge,
                "applicable": self.applicable,
                "effect": self.effect,
                "low": self.low,
                "high": self.high,
                "method": self.method,
                "n": self.n,
                "n_invalid": self.n_invalid,
                "n_errors": self.n_errors,
                "first_error": self.first_error,
                "meaning": self.meaning,
                "reason": self.reason,
                "detail": self.detail,
                "unit": self.unit,
            }
        )

    def to_interval(self) -> Interval:
        """The effect and its interval (all None when the probe does not apply or had no valid verdict)."""
        return Interval(self.effect, self.low, self.high, self.level, self.method or "no interval", self.n)

    def render(self) -> str:
        head = f"probe {self.probe} ({self.judge})"
        if not self.applicable:
            return f"{head}: not applicable: {self.reason}"
        failed = ""
        if self.n_errors:
            failed = f", {self.n_errors} failed request(s); first: {self.first_error}"
        if self.effect is None:
            return f"{head}: no valid verdicts (n={self.n}, {self.n_invalid} invalid{failed})"
        interval = "" if self.low is None else f" [{self.low:.3f}, {self.high:.3f}]"
        return (
            f"{head}: effect {self.effect:+.3f}{interval} ({self.method}; n={self.n}, "
            f"{self.n_invalid} invalid{failed})\n  {self.meaning}"
        )


def _pairs(items: Any) -> pd.DataFrame:
    from assay.judge.audit import human_pairs_to_labels

    if items is None:
        raise ConfigError(
            "the verbosity and position probes need human-labelled pairs (items=FILE "
            "or the table from human_pairs_to_labels)"
        )
    frame = items if isinstance(items, pd.DataFrame) else human_pairs_to_labels(items)
    missing = [c for c in ("item", "input", "output_1", "output_2", "label") if c not in frame.columns]
    if missing:
        raise DataError(
            f"probe items lack column(s) {', '.join(missing)}; use assay.judge.audit.human_pairs_to_labels(FILE)"
        )
    return frame.reset_index(drop=True)


def _estimate(items: list[str], values: list[float], *, seed: int, n_boot: int, level: float):
    if not values:
        return None, None, None
    array = np.asarray(values, dtype=float)
    est = bootstrap_over_items(
        items, lambda rows: {"effect": float(array[rows].mean())}, n_boot=n_boot, seed=seed, level=level
    )["effect"]
    low = est.low if np.isfinite(est.low) else None
    high = est.high if np.isfinite(est.high) else None
    return est.value, low, high


@dataclass
class _Replies:
    """A probe's replies in order (None for a failed request) and the failures' causes."""

    texts: list[str | None]
    errors: list[str]


def _ask_all(
    model: Model,
    prompts: list[Any],
    params: GenParams,
    use_cache: bool = True,
    *,
    progress: bool = False,
    description: str = "probe",
) -> _Replies:
    """Replies through the executor and the shared response cache, so a probe
    run again costs no calls; a failed request's reply is None and its cause
    is kept: it is an error, not an invalid verdict."""
    from assay.run.executor import ask
    from assay.run.store import RunStore

    with RunStore(None, use_cache=use_cache) as cache:
        samples, tally = ask(
            model, [Request(GENERATE, p, params, 0) for p in prompts], cache, progress=progress, description=description
        )
    if tally.fatal:
        raise ModelError(tally.fatal)
    errors = [s.error for s in samples if s is not None and s.error is not None]
    return _Replies([None if s is None or s.error is not None else s.text for s in samples], errors)


def _failures(result: ProbeResult, replies: _Replies) -> ProbeResult:
    result.n_errors = len(replies.errors)
    result.first_error = " ".join(replies.errors[0].split())[:300] if replies.errors else None
    return result


def _verbosity(
    model: Model,
    name: str,
    pairs: pd.DataFrame,
    rng: random.Random,
    *,
    scale: int,
    max_tokens: int,
    seed: int,
    n_boot: int,
    level: float,
    use_cache: bool = True,
    progress: bool = False,
) -> ProbeResult:
    template = load_template(POINTWISE, scale=scale)
    params = GenParams(max_tokens=max_tokens, seed=seed, json_schema=POINTWISE.verdict_schema(scale))
    prompts, plan = [], []
    for row in pairs.itertuples(index=False):
        answer = row.output_2 if row.label == "2" else row.output_1
        padding = " ".join(rng.sample(PADDING, 3))
        for kind, text in (("plain", answer), ("padded", f"{answer}\n\n{padding}")):
            prompts.append(template.prompt(chat=model.chat, question=row.input, output=text, scale=scale))
            plan.append((row.item, kind))
    replies = _ask_all(model, prompts, params, use_cache, progress=progress, description=f"probe verbosity ({name})")
    scores: dict[str, dict[str, float | None]] = {}
    invalid = 0
    for (item, kind), reply in zip(plan, replies.texts):
        if reply is None:
            scores.setdefault(item, {})[kind] = None
            continue
        outcome = outcome_from_reply(Unit(item, name, None, ORIGINAL, ()), POINTWISE, reply, scale)
        invalid += int(outcome.invalid)
        scores.setdefault(item, {})[kind] = None if outcome.invalid else outcome.score
    both = [
        (i, s["padded"] - s["plain"])
        for i, s in scores.items()
        if s.get("plain") is not None and s.get("padded") is not None
    ]
    effect, low, high = _estimate([i for i, _ in both], [d for _, d in both], seed=seed, n_boot=n_boot, level=level)
    return _failures(
        ProbeResult(
            "verbosity",
            name,
            True,
            effect,
            low,
            high,
            "percentile bootstrap over items",
            len(both),
            invalid,
            meaning=f"mean change of the 1-{scale} rating when irrelevant fluent text is "
            "appended (0: no verbosity bias; > 0: padding is rewarded)",
            detail={"n_items": len(scores), "template_hash": template.hash},
            unit=f"rating points (1–{scale} scale)",
            level=level,
        ),
        replies,
    )


def _position(
    model: Model,
    name: str,
    pairs: pd.DataFrame,
    *,
    max_tokens: int,
    seed: int,
    n_boot: int,
    level: float,
    use_cache: bool = True,
    progress: bool = False,
) -> ProbeResult:
    from assay.judge.judging import position_consistency

    template = load_template(PAIRWISE)
    params = GenParams(max_tokens=max_tokens, seed=seed, json_schema=PAIRWISE.verdict_schema())
    units = []
    for row in pairs.itertuples(index=False):
        answer = row.output_2 if row.label == "2" else row.output_1
        units.append(
            Unit(
                row.item,
                "same",
                "same",
                "identical",
                (("question", row.input), ("output_a", answer), ("output_b", answer)),
            )
        )
        units.append(
            Unit(
                row.item,
                "output_1",
                "output_2",
                ORIGINAL,
                (("question", row.input), ("output_a", row.output_1), ("output_b", row.output_2)),
            )
        )
        units.append(
            Unit(
                row.item,
                "output_1",
                "output_2",
                SWAPPED,
                (("question", row.input), ("output_a", row.output_2), ("output_b", row.output_1)),
            )
        )
    prompts = [template.prompt(chat=model.chat, **u.vars) for u in units]
    replies = _ask_all(model, prompts, params, use_cache, progress=progress, description=f"probe position ({name})")
    identical_items, identical_values, real = [], [], []
    counts = {"A": 0, "B": 0, "tie": 0}
    invalid = 0
    for unit, reply in zip(units, replies.texts):
        if reply is None:
            continue  # a failed request: counted in n_errors
        outcome = outcome_from_reply(unit, PAIRWISE, reply, 10)
        if outcome.invalid:
            invalid += 1
            continue
        if unit.order == "identical":
            # "1" is the first-shown output (A) in the original numbering.
            choice = {"1": "A", "2": "B", "tie": "tie"}[outcome.verdict]  # type: ignore[index]
            counts[choice] += 1
            identical_items.append(unit.item)
            identical_values.append({"A": 1.0, "B": -1.0, "tie": 0.0}[choice])
        else:
            real.append(outcome)
    effect, low, high = _estimate(identical_items, identical_values, seed=seed, n_boot=n_boot, level=level)
    return _failures(
        ProbeResult(
            "position",
            name,
            True,
            effect,
            low,
            high,
            "percentile bootstrap over items",
            len(identical_values),
            invalid,
            meaning="share of 'A' minus share of 'B' when A and B are the same text "
            "(0: no position bias; > 0: the first position is favoured)",
            detail={
                "identical_counts": counts,
                "real_pairs_both_orders": position_consistency(real),
                "template_hash": template.hash,
            },
            level=level,
        ),
        replies,
    )


def _self_preference(
    judge: str,
    model: Model,
    run_dir: str | Path | None,
    *,
    n: int,
    max_tokens: int,
    seed: int,
    n_boot: int,
    level: float,
    base_urls: list[str] | None,
) -> ProbeResult:
    from assay.judge.judging import judge_run, read_outputs
    from assay.models.registry import get_model
    from assay.run.store import open_run

    def not_applicable(reason: str) -> ProbeResult:
        return ProbeResult(
            "self_preference",
            judge,
            False,
            reason=reason,
            meaning="judge credit to its own family's outputs minus the gold credit",
            level=level,
        )

    if run_dir is None:
        return not_applicable(
            "needs a run directory with outputs of the judge's own model family and of "
            "other families; human-labelled pairs carry no model family"
        )
    family = getattr(model, "family", "unknown")
    data = read_outputs(run_dir)
    families = {}
    for name in data.outputs:
        try:
            families[name] = get_model(name, base_urls=base_urls).family
        except ModelError:
            families[name] = "unknown"
    own = sorted(m for m, f in families.items() if f == family)
    other = sorted(m for m, f in families.items() if f not in (family, "unknown"))
    if not own or not other:
        found = ", ".join(f"{m} ({f})" for m, f in sorted(families.items())) or "none"
        return not_applicable(
            f"the run needs outputs of the judge's family '{family}' and of another family; models found: {found}"
        )
    if not all(m in data.scores for m in own + other):
        return not_applicable("the run has no gold-answer scores for these models to serve as labels")
    # Each own-family model against each other-family model, on the same items.
    credits: list[tuple[str, float, float]] = []
    invalid = 0
    templates = set()
    for mine in own:
        for theirs in other:
            pair_models = {judge: model}
            result = _pairwise_verdicts(
                judge,
                run_dir,
                mine,
                theirs,
                n=n,
                max_tokens=max_tokens,
                seed=seed,
                models=pair_models,
                judge_run=judge_run,
                open_run=open_run,
            )
            rows, template_hash = result
            templates.add(template_hash)
            for item, group in rows.groupby("item"):
                valid = group[group["invalid"] == 0]
                invalid += int((group["invalid"] != 0).sum())
                gold_mine, gold_theirs = data.scores[mine].get(item), data.scores[theirs].get(item)
                if valid.empty or gold_mine is None or gold_theirs is None:
                    continue
                # Verdicts are in the run's numbering; the own-family model may be output 1 or 2.
                # A verdict's credit goes to output 1's model; the other gets the rest.
                credit = valid.apply(
                    lambda r: (
                        PAIRWISE.credit(r["verdict"], None)
                        if r["model"] == mine
                        else 1.0 - PAIRWISE.credit(r["verdict"], None)
                    ),
                    axis=1,
                ).mean()
                gold = 1.0 if gold_mine > gold_theirs else 0.0 if gold_mine < gold_theirs else 0.5
                credits.append((f"{mine}|{theirs}|{item}", float(credit), gold))
    differences = [c - g for _, c, g in credits]
    effect, low, high = _estimate([i for i, _, _ in credits], differences, seed=seed, n_boot=n_boot, level=level)
    return ProbeResult(
        "self_preference",
        judge,
        True,
        effect,
        low,
        high,
        "percentile bootstrap over items",
        len(credits),
        invalid,
        f"mean credit the judge gives its own family ({family}: {', '.join(own)}) against "
        f"{', '.join(other)}, minus the credit the gold answers give (0: none; > 0: self-preference)",
        detail={
            "family": family,
            "own": own,
            "other": other,
            "judge_credit": float(np.mean([c for _, c, _ in credits])) if credits else None,
            "gold_credit": float(np.mean([g for _, _, g in credits])) if credits else None,
            "template_hash": sorted(templates),
        },
        level=level,
    )


def _pairwise_verdicts(
    judge: str, run_dir, mine: str, theirs: str, *, n: int, max_tokens: int, seed: int, models, judge_run, open_run
):
    result = judge_run(
        run_dir,
        [judge],
        protocol=PAIRWISE.name,
        against=theirs,
        limit=n,
        max_tokens=max_tokens,
        seed=seed,
        progress=False,
        models=models,
    )
    with open_run(run_dir) as store:
        rows = store.verdicts_frame(judge=judge, protocol=PAIRWISE.name)
    pair = ((rows["model"] == mine) & (rows["model_b"] == theirs)) | (
        (rows["model"] == theirs) & (rows["model_b"] == mine)
    )
    rows = rows[pair & (rows["template_hash"] == result.template_hash)]
    rows = rows.assign(invalid=rows["invalid"].astype(int))[["item", "model", "model_b", "order", "verdict", "invalid"]]
    judged_items = sorted(rows["item"].unique())[:n]
    return rows[rows["item"].isin(judged_items)], result.template_hash


def run_probes(
    judge: str,
    *,
    items: str | Path | pd.DataFrame | None = None,
    run_dir: str | Path | None = None,
    probes: Sequence[str] = PROBES,
    n: int = 8,
    seed: int = 0,
    scale: int = 10,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    n_boot: int = 1000,
    level: float = 0.95,
    base_urls: list[str] | None = None,
    model: Model | None = None,
    max_retries: int = 4,
    n_ctx: int = 2048,
    use_cache: bool = True,
    progress: bool = False,
    timeout: float | None = None,
) -> list[ProbeResult]:
    """Run bias probes on ``judge`` (a model name; ``model`` may supply the object).

    ``items``: human-labelled pairs (a file for ``human_pairs_to_labels`` or its
    table), of which ``n`` are drawn with ``seed``. ``run_dir``: a run for the
    self-preference probe. The result list goes into ``AuditResult.probes``.
    ``progress``: a progress bar per probe on stderr (``assay audit`` shows them).
    ``timeout``: seconds one request to a server judge may take (default 120).
    """
    unknown = [p for p in probes if p not in PROBES]
    if unknown:
        raise ConfigError(f"unknown probe(s) {', '.join(unknown)}; valid: {', '.join(PROBES)}")
    if n < 1:
        raise ConfigError(f"probe size n must be at least 1, not {n}")
    if model is None:
        from assay.models.registry import get_model

        model = get_model(judge, base_urls=base_urls, max_retries=max_retries, n_ctx=n_ctx, timeout=timeout)
    rng = random.Random(seed)
    results = []
    try:
        pairs = None
        if {"verbosity", "position"} & set(probes):
            everything = _pairs(items)
            picked = sorted(rng.sample(range(len(everything)), min(n, len(everything))))
            pairs = everything.iloc[picked]
        for probe in probes:
            if probe == "verbosity":
                results.append(
                    _verbosity(
                        model,
                        judge,
                        pairs,
                        rng,
                        scale=scale,
                        max_tokens=max_tokens,
                        seed=seed,
                        n_boot=n_boot,
                        level=level,
                        use_cache=use_cache,
                        progress=progress,
                    )
                )
            elif probe == "position":
                results.append(
                    _position(
                        model,
                        judge,
                        pairs,
                        max_tokens=max_tokens,
                        seed=seed,
                        n_boot=n_boot,
                        level=level,
                        use_cache=use_cache,
                        progress=progress,
                    )
                )
            else:
                results.append(
                    _self_preference(
                        judge,
                        model,
                        run_dir,
                        n=n,
                        max_tokens=max_tokens,
                        seed=seed,
                        n_boot=n_boot,
                        level=level,
                        base_urls=base_urls,
                    )
                )
    finally:
        model.close()
    return results
