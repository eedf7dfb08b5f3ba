"""Judge a run's outputs with LLM judges (alone or as a jury) or lexical judges.

``judge_run`` reads the outputs in a run directory, asks each judge for a
verdict on each unit (an output, or a pair of outputs in one presentation
order), and writes the verdicts to the run's ``verdicts`` table beside the
outputs. Every request is cached like a generation: a verdict already in the
run, or a response in the shared cache, costs no call. Pairwise comparisons
are judged in both orders and the swapped verdict is mapped back to the
original numbering (model = output 1, model_b = output 2).

A judge that cannot be reached stops its own requests; what was judged is
kept and the call ends with ``IncompleteRunError``; running it again judges
only the rest.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from assay.errors import ConfigError, DataError, IncompleteRunError
from assay.jsonable import jsonable
from assay.judge.pool import Vote, check_pool, load_weights, pool_votes
from assay.judge.prompts import JudgeTemplate, load_template
from assay.judge.protocols import ORIGINAL, SWAPPED, Protocol, get_protocol, protocols
from assay.judge.protocols.pairwise import PAIRWISE
from assay.judge.protocols.pairwise import map_back as _map_back  # noqa: F401 - the name tests know it by
from assay.models.base import GENERATE, GenParams, Model, Request
from assay.records import Item, Verdict, stable_hash
from assay.run.executor import Jobs, Tally, execute, fetch
from assay.stats.bootstrap import Interval

JURY = "jury"
# Enough for a bounded explanation plus the verdict field.
DEFAULT_MAX_TOKENS = 128
# The level of a summary's intervals: _interval calls scaled_mean_ci at its default.
SUMMARY_LEVEL = 0.95


# --------------------------------------------------------------------------- results


@dataclass
class JudgeSummary:
    """One judge's (or the jury's) verdicts on this call's units and what they cost.

    ``mean_score`` (pointwise: mean rating; reference/contains/exact: share
    judged correct) or ``win_rates`` (pairwise: each model's share of wins, a
    tie counting half) are per evaluated model, over valid verdicts only;
    ``invalid`` verdicts are counted, never scored. ``calls``, tokens and
    ``seconds`` (model time) count this call's requests only, so a re-run that
    is all cache hits costs 0.
    """

    name: str
    n: int
    invalid: int
    errors: int = 0
    not_run: int = 0
    mean_score: dict[str, float] | None = None
    win_rates: dict[str, float] | None = None
    intervals: dict[str, dict[str, Any]] = field(default_factory=dict)
    pairs: list[dict[str, Any]] | None = None
    position_consistency: dict[str, Any] | None = None
    calls: int = 0
    cache_hits: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    cost: float | None = None
    vote_ties: int | None = None
    fatal: str | None = None
    first_error: str | None = None  # the first failed request's cause, as the server gave it

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"n": self.n, "invalid": self.invalid, "errors": self.errors, "not_run": self.not_run}
        if self.win_rates is not None:
            d["win_rates"] = self.win_rates
            d["pairs"] = self.pairs
        else:
            d["mean_score"] = self.mean_score
        d.update(
            intervals=self.intervals,
            position_consistency=self.position_consistency,
            calls=self.calls,
            cache_hits=self.cache_hits,
            tokens=self.tokens_in + self.tokens_out,
            tokens_in=self.tokens_in,
            tokens_out=self.tokens_out,
            seconds=round(self.seconds, 3),
            cost=self.cost,
        )
        if self.vote_ties is not None:
            d["vote_ties"] = self.vote_ties
        if self.fatal:
            d["fatal"] = self.fatal
        if self.first_error:
            d["first_error"] = self.first_error
        return jsonable(d)

    def model_interval(self, model: str) -> Interval:
        """``model``'s mean score or win rate and its interval from ``intervals`` (low/high None where it has
        none: fewer than 2 items, or a win rate over several pairs, whose intervals are in ``pairs``)."""
        estimates = self.win_rates if self.win_rates is not None else self.mean_score
        if not estimates or model not in estimates:
            raise ConfigError(f"judge {self.name} has no score for {model!r}; it scored {', '.join(estimates or {})}")
        interval = self.intervals.get(model) or {}
        return Interval(
            estimates[model],
            interval.get("low"),
            interval.get("high"),
            SUMMARY_LEVEL,
            interval.get("method") or "no interval",
            interval.get("n"),
        )


@dataclass
class JudgeResult:
    run_dir: str
    protocol: str
    pool: str | None
    template: str | None
    template_hash: str
    models: list[str]
    judges: dict[str, JudgeSummary]
    jury: JudgeSummary | None = None
    against: str | None = None
    scale: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def left(self) -> int:
        """Units not judged (failed requests or not run), over all judges."""
        return sum(s.errors + s.not_run for s in self.judges.values())

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "run_dir": self.run_dir,
                "protocol": self.protocol,
                "pool": self.pool,
                "template": self.template,
                "template_hash": self.template_hash,
                "scale": self.scale,
                "against": self.against,
                "models": self.models,
                "judges": {name: s.to_dict() for name, s in self.judges.items()},
                "jury": None if self.jury is None else self.jury.to_dict(),
                "notes": list(self.notes),
            }
        )

    def render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        record = get_protocol(self.protocol)
        pairwise = record.pairs
        table = Table(title=f"{self.protocol} verdicts — {record.summary}; template {self.template_hash}")
        table.add_column("judge")
        for model in self.models:
            table.add_column(model, justify="right")
        columns = ["n", "invalid", "errors", "calls", "tokens", "seconds", "cost"]
        if pairwise:
            columns.insert(2, "consistency")
        for column in columns:
            table.add_column(column, justify="right")
        rows = list(self.judges.values()) + ([self.jury] if self.jury is not None else [])
        for s in rows:
            values = s.win_rates if pairwise else s.mean_score
            cells = []
            for model in self.models:
                value = (values or {}).get(model)
                interval = s.intervals.get(model) or {}
                text = "—" if value is None else f"{value:.3f}"
                if value is not None and interval.get("low") is not None:
                    text += f" [{interval['low']:.2f}, {interval['high']:.2f}]"
                cells.append(text)
            extra = {
                "n": str(s.n),
                "invalid": str(s.invalid),
                "errors": str(s.errors + s.not_run),
                "calls": str(s.calls),
                "tokens": str(s.tokens_in + s.tokens_out),
                "seconds": f"{s.seconds:.1f}",
                "cost": "—" if s.cost is None else f"{s.cost:.4f}",
            }
            if pairwise:
                pc = s.position_consistency or {}
                extra["consistency"] = "—" if pc.get("value") is None else f"{pc['value']:.2f} (n={pc['n']})"
            label = s.name if s is not self.jury else f"jury ({self.pool})"
            if s.vote_ties:
                label += f", {s.vote_ties} tied votes"
            table.add_row(label, *cells, *(extra[c] for c in columns))
        notes = [Text(f"note: {n}") for n in self.notes]
        notes.append(Text("invalid verdicts are excluded from the scores above and counted in 'invalid'"))
        return Group(table, *notes)


# --------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Unit:
    """One thing a judge is asked about: an output, or a pair in one order."""

    item: str
    model: str
    model_b: str | None
    order: str
    variables: tuple[tuple[str, Any], ...]

    @property
    def vars(self) -> dict[str, Any]:
        return dict(self.variables)


@dataclass
class Outcome:
    """A judge's answer on one unit, as stored."""

    unit: Unit
    verdict: str | None
    score: float | None
    invalid: bool
    explanation: str | None = None
    raw: str | None = None
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency: float = 0.0
    called: bool = False
    cached: bool = False


@dataclass
class RunOutputs:
    """What a run holds for judging: items, per-model first-sample outputs, the question text."""

    items: dict[str, Item]
    outputs: dict[str, dict[str, str]]  # model -> item -> output text
    questions: dict[str, str]
    failed: dict[str, int]  # model -> samples with an error (not judged)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> item -> primary score


def read_outputs(run_dir: str | Path) -> RunOutputs:
    """Load the first sample of every model on every item (errored samples are
    counted and left out: an error is not an output to judge)."""
    from assay.run.store import open_run, read_config

    with open_run(run_dir) as store:
        items = store.items()
        rows = store.first_samples()
        metric = (read_config(run_dir).get("scorers") or [None])[0]
        score_rows = store.first_scores(metric) if metric else []
    outputs: dict[str, dict[str, str]] = {}
    failed: dict[str, int] = {}
    chat_questions: dict[str, str] = {}
    for model, item, prompt, output, error in rows:
        if error is not None or output is None:
            failed[model] = failed.get(model, 0) + 1
            continue
        outputs.setdefault(model, {})[item] = output.strip()
        if item not in chat_questions and prompt.startswith("["):
            # A chat prompt is stored as its messages: the last user turn is the
            # question as the models saw it, without few-shot examples.
            try:
                messages = json.loads(prompt)
                users = [m["content"] for m in messages if m.get("role") == "user"]
                if users:
                    chat_questions[item] = users[-1]
            except (ValueError, TypeError, KeyError):
                pass
    questions = {item_id: chat_questions.get(item_id) or _input_text(item) for item_id, item in items.items()}
    scores: dict[str, dict[str, float]] = {}
    for model, item, value in score_rows:
        scores.setdefault(model, {})[item] = value
    return RunOutputs(items, outputs, questions, failed, scores)


def _input_text(item: Item) -> str:
    fields = item.input
    if len(fields) == 1:
        return str(next(iter(fields.values())))
    if "input" in fields:
        return str(fields["input"])
    return "\n".join(f"{k}: {v}" for k, v in fields.items())


def build_units(
    data: RunOutputs,
    protocol: str | Protocol,
    *,
    against: str | None = None,
    limit: int | None = None,
    run_dir: str | Path = "run",
) -> tuple[list[Unit], list[str]]:
    """The units a protocol judges, and notes on what was left out."""
    record = get_protocol(protocol)
    models = sorted(data.outputs)
    notes = [f"{n} output(s) of {m} failed in the run and are not judged" for m, n in sorted(data.failed.items())]
    if not models:
        raise DataError(f"{run_dir}: the run has no outputs to judge; run `assay run` first")
    item_ids = sorted(data.items)
    if limit is not None:
        item_ids = item_ids[:limit]
    units: list[Unit] = []
    if record.pairs:
        if len(models) < 2:
            raise DataError(
                f"{run_dir}: {record.name} judging needs outputs of two models on the same items; "
                f"the run has outputs of {len(models)} model ({', '.join(models)}). "
                "Run a second model into the same directory (assay run ... --out RUN_DIR)"
            )
        if against is not None and against not in models:
            raise DataError(
                f"{run_dir}: --against {against}: no outputs of that model; models in the run: {', '.join(models)}"
            )
        pairs = (
            [(m, against) for m in models if m != against]
            if against is not None
            else [(a, b) for i, a in enumerate(models) for b in models[i + 1 :]]
        )
        missing = 0
        for item_id in item_ids:
            for a, b in pairs:
                out_a, out_b = data.outputs[a].get(item_id), data.outputs[b].get(item_id)
                if out_a is None or out_b is None:
                    missing += 1
                    continue
                question = data.questions[item_id]
                units.append(
                    Unit(item_id, a, b, ORIGINAL, (("question", question), ("output_a", out_a), ("output_b", out_b)))
                )
                units.append(
                    Unit(item_id, a, b, SWAPPED, (("question", question), ("output_a", out_b), ("output_b", out_a)))
                )
        if missing:
            notes.append(f"{missing} pair(s) lack one of the two outputs and are not judged")
        return units, notes
    if against is not None:
        pairs = [p.name for p in protocols() if p.pairs]
        raise ConfigError(f"--against applies to the {', '.join(pairs)} protocol{'s' if len(pairs) > 1 else ''} only")
    needs_target = record.needs_target
    if needs_target:
        no_target = [i for i in item_ids if data.items[i].target is None]
        if len(no_target) == len(item_ids):
            raise DataError(
                f"{run_dir}: the {record.name} protocol compares outputs with the gold answer, "
                f"but none of the {len(item_ids)} items has a target; use a task with a "
                "target field (--target-field) or the pointwise protocol"
            )
        if no_target:
            notes.append(f"{len(no_target)} item(s) without a target are not judged")
    for model in models:
        for item_id in item_ids:
            output = data.outputs[model].get(item_id)
            item = data.items[item_id]
            if output is None or (needs_target and item.target is None):
                continue
            variables = [("question", data.questions[item_id]), ("output", output)]
            if needs_target:
                variables.append(("reference", item.target))
            units.append(Unit(item_id, model, None, ORIGINAL, tuple(variables)))
    return units, notes


# --------------------------------------------------------------------------- the verdicts


def outcome_from_reply(
    unit: Unit, protocol: str | Protocol, text: str | None, scale: int, finish_reason: str | None = None
) -> Outcome:
    record = get_protocol(protocol)
    # A reply cut off at max_tokens is read only from a complete verdict.
    parsed = record.parse(text, scale, finish_reason=finish_reason)
    verdict = parsed.verdict
    if verdict is not None:
        verdict = record.in_original_order(verdict, unit.order)
    explanation = parsed.explanation if not parsed.invalid else (parsed.reason or parsed.explanation)
    return Outcome(unit, verdict, parsed.score, parsed.invalid, explanation, text)


def _verdict_key(judge_id: Any, unit: Unit, protocol: str, request: str) -> str:
    return stable_hash(
        {
            "judge": judge_id,
            "request": request,
            "item": unit.item,
            "model": unit.model,
            "model_b": unit.model_b,
            "order": unit.order,
            "protocol": protocol,
        },
        length=32,
    )


def _verdict(key: str, judge: str, protocol: str, template_hash: str, o: Outcome) -> Verdict:
    u = o.unit
    return Verdict(
        key,
        u.item,
        u.model,
        u.model_b,
        judge,
        protocol,
        u.order,
        o.verdict,
        o.score,
        o.explanation,
        o.invalid,
        o.raw,
        template_hash,
        o.tokens_in,
        o.tokens_out,
        o.latency,
        o.error,
        time.time(),
    )


def _stored(store) -> dict[str, Verdict]:
    """Stored verdicts (failed requests left out) by key."""
    return {v.key: v for v in store.verdicts()}


@dataclass
class _JudgeState:
    name: str
    model: Model | None
    outcomes: list[Outcome] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)


def _judge_all(
    states: list[_JudgeState],
    units: list[Unit],
    record: Protocol,
    template: JudgeTemplate,
    params: GenParams,
    scale: int,
    store,
    concurrency: int,
    progress: bool,
) -> None:
    stored = _stored(store)

    async def handle(job: tuple[_JudgeState, Unit], _: Jobs) -> None:
        state, unit = job
        await _judge_one(state, unit, record, template, params, scale, store, stored)

    execute(
        [(state, unit) for state in states for unit in units],
        handle,
        store=store,
        concurrency=concurrency,
        description=f"judging ({record.name}): {', '.join(s.name for s in states)}",
        progress=progress,
    )


async def _judge_one(
    state: _JudgeState,
    unit: Unit,
    record: Protocol,
    template: JudgeTemplate,
    params: GenParams,
    scale: int,
    store,
    stored: dict[str, Verdict],
) -> None:
    model = state.model
    assert model is not None
    prompt = template.prompt(chat=model.chat, scale=scale, **unit.vars)
    request = Request(GENERATE, prompt, params, 0)
    request_hash = request.key(model)
    key = _verdict_key(model.identity, unit, record.name, request_hash)
    previous = stored.get(key)
    if previous is not None:
        outcome = Outcome(
            unit, previous.verdict, previous.score, previous.invalid, previous.explanation, previous.raw, cached=True
        )
        state.outcomes.append(outcome)
        if previous.template_hash != template.hash:
            # A template edit that renders the same prompt (a comment, say):
            # the verdict stands, and its row names the template now in use.
            store.record_verdict(
                _verdict(
                    key,
                    state.name,
                    record.name,
                    template.hash,
                    Outcome(
                        unit,
                        previous.verdict,
                        previous.score,
                        previous.invalid,
                        previous.explanation,
                        previous.raw,
                        tokens_in=previous.tokens_in,
                        tokens_out=previous.tokens_out,
                        latency=previous.latency,
                    ),
                )
            )
        return
    response = await fetch(model, request, store, state.tally, key=request_hash)
    if response is None:
        return  # the judge is unreachable: counted as not run
    sample, called = response.sample, response.called
    if sample.error is not None:
        outcome = Outcome(unit, None, None, False, error=sample.error, latency=sample.latency, called=True)
    else:
        outcome = outcome_from_reply(unit, record, sample.text, scale, sample.finish_reason)
        outcome.called, outcome.cached = called, not called
        if called:
            outcome.tokens_in, outcome.tokens_out, outcome.latency = (
                sample.tokens_in,
                sample.tokens_out,
                sample.latency,
            )
    state.outcomes.append(outcome)
    stored_outcome = outcome
    if not called:
        # Tokens of a cached response were paid once, by whoever asked first;
        # the row still records them so the export shows what a verdict costs.
        stored_outcome = Outcome(
            **{
                **outcome.__dict__,
                "tokens_in": sample.tokens_in,
                "tokens_out": sample.tokens_out,
                "latency": sample.latency,
            }
        )
    store.record_verdict(_verdict(key, state.name, record.name, template.hash, stored_outcome))


def _lexical(units: list[Unit], record: Protocol, data: RunOutputs, store) -> list[Outcome]:
    assert record.lexical is not None
    stored = _stored(store)
    outcomes = []
    name = record.name
    template_hash = stable_hash({"lexical": name}, length=16)
    for unit in units:
        key = stable_hash(
            {
                "judge": name,
                "item": unit.item,
                "model": unit.model,
                "output": unit.vars["output"],
                "reference": unit.vars.get("reference"),
            },
            length=32,
        )
        if key in stored:
            v = stored[key]
            outcomes.append(Outcome(unit, v.verdict, v.score, v.invalid, v.explanation, v.raw, cached=True))
            continue
        lexical = record.lexical(unit.vars["output"], data.items[unit.item])
        outcome = Outcome(unit, lexical.verdict, lexical.score, False, lexical.explanation, None)
        outcomes.append(outcome)
        store.record_verdict(_verdict(key, name, name, template_hash, outcome))
    return outcomes


# --------------------------------------------------------------------------- summaries


def _interval(values: Sequence[float], bounds: tuple[float, float] = (0.0, 1.0)) -> dict[str, Any]:
    """A judge summary's interval. Verdict values are bounded (credit in [0, 1],
    a rating on 1..scale): correct/incorrect verdicts get the binary path's
    Beta interval, the others an interval that stays on their scale (a t
    interval on ratings bunched near 10 would reach past it)."""
    from assay.stats.intervals import scaled_mean_ci

    if len(values) < 2:
        return {"n": len(values), "low": None, "high": None, "method": None}
    with warnings.catch_warnings():
        # Tiny judged sets are often all one value; the methods widen for it.
        warnings.simplefilter("ignore")
        ci = scaled_mean_ci(values, *bounds)
    return {"n": len(values), "low": ci.low, "high": ci.high, "method": ci.method}


def summarise(
    name: str, outcomes: list[Outcome], protocol: str | Protocol, models: list[str], scale: int = 10
) -> JudgeSummary:
    """One judge's verdicts summed up; ``scale`` bounds a rated protocol's intervals (1..scale)."""
    record = get_protocol(protocol)
    judged = [o for o in outcomes if o.error is None]
    valid = [o for o in judged if not o.invalid and o.verdict is not None]
    summary = JudgeSummary(
        name,
        n=len(judged),
        invalid=sum(1 for o in judged if o.invalid),
        errors=len(outcomes) - len(judged),
        first_error=next((o.error for o in outcomes if o.error is not None), None),
    )
    called = [o for o in outcomes if o.called]
    summary.calls = len(called)
    summary.cache_hits = sum(1 for o in outcomes if o.cached)
    summary.tokens_in = sum(o.tokens_in for o in called)
    summary.tokens_out = sum(o.tokens_out for o in called)
    summary.seconds = sum(o.latency for o in called)
    if record.pairs:
        summary.win_rates, summary.pairs, summary.intervals = _win_rates(valid, models, record)
        summary.position_consistency = position_consistency(valid)
        return summary
    # Items are averaged first, so every item weighs the same in the interval.
    by_model: dict[str, list[float]] = {}
    for o in valid:
        credit = record.credit(o.verdict, o.score)  # type: ignore[arg-type]
        if credit is not None:
            by_model.setdefault(o.unit.model, []).append(credit)
    summary.mean_score = {m: sum(v) / len(v) for m, v in sorted(by_model.items())}
    bounds = (1.0, float(scale)) if record.rated else (0.0, 1.0)
    summary.intervals = {m: _interval(v, bounds) for m, v in sorted(by_model.items())}
    return summary


def _win_rates(valid: list[Outcome], models: list[str], record: Protocol):
    per_pair: dict[tuple[str, str], dict[str, list[float]]] = {}
    per_model: dict[str, list[float]] = {}
    for o in valid:
        credit = record.credit(o.verdict, o.score)  # type: ignore[arg-type]
        pair = (o.unit.model, o.unit.model_b)
        per_pair.setdefault(pair, {}).setdefault(o.unit.item, []).append(credit)  # type: ignore[arg-type]
        per_model.setdefault(o.unit.model, []).append(credit)
        per_model.setdefault(o.unit.model_b, []).append(1.0 - credit)  # type: ignore[arg-type]
    pairs = []
    intervals = {}
    for (a, b), by_item in sorted(per_pair.items()):
        credits = [c for cs in by_item.values() for c in cs]
        item_means = [sum(cs) / len(cs) for cs in by_item.values()]
        interval = _interval(item_means)
        pairs.append(
            {
                "model": a,
                "model_b": b,
                "n": len(credits),
                "n_items": len(by_item),
                "wins": sum(c == 1.0 for c in credits),
                "losses": sum(c == 0.0 for c in credits),
                "ties": sum(c == 0.5 for c in credits),
                "win_rate": sum(credits) / len(credits),
                "low": interval["low"],
                "high": interval["high"],
                "method": interval["method"],
            }
        )
    win_rates = {m: sum(v) / len(v) for m, v in sorted(per_model.items())}
    for m in win_rates:
        mine = [p for p in pairs if m in (p["model"], p["model_b"])]
        if len(mine) == 1:
            p = mine[0]
            flip = p["model_b"] == m
            if p["low"] is not None:
                intervals[m] = {
                    "n": p["n_items"],
                    "low": 1 - p["high"] if flip else p["low"],
                    "high": 1 - p["low"] if flip else p["high"],
                    "method": p["method"],
                }
    return win_rates, pairs, intervals


def position_consistency(valid: list[Outcome]) -> dict[str, Any] | None:
    """Share of pairs whose two orders got the same (mapped-back) verdict, and
    how often the first-presented output won among decisive verdicts."""
    by_unit: dict[tuple, dict[str, str]] = {}
    for o in valid:
        by_unit.setdefault((o.unit.item, o.unit.model, o.unit.model_b), {})[o.unit.order] = o.verdict  # type: ignore[assignment]
    both = [v for v in by_unit.values() if ORIGINAL in v and SWAPPED in v]
    first_wins = []
    for o in valid:
        if o.verdict in ("1", "2"):
            first_wins.append(float((o.verdict == "1") == (o.unit.order == ORIGINAL)))
    if not both:
        return {"value": None, "n": 0, "first_position_rate": None}
    agree = [float(v[ORIGINAL] == v[SWAPPED]) for v in both]
    interval = _interval(agree)
    return {
        "value": sum(agree) / len(agree),
        "n": len(agree),
        "low": interval["low"],
        "high": interval["high"],
        "method": interval["method"],
        "first_position_rate": sum(first_wins) / len(first_wins) if first_wins else None,
    }


def _pool_outcomes(
    states: list[_JudgeState], pool: str, weights: Mapping[str, float] | None, record: Protocol
) -> tuple[list[Outcome], int]:
    by_unit: dict[Unit, list[Vote]] = {}
    for state in states:
        for o in state.outcomes:
            if o.error is None:
                by_unit.setdefault(o.unit, []).append(Vote(state.name, o.verdict, o.score, o.invalid))
    pooled, ties = [], 0
    for unit, votes in by_unit.items():
        p = pool_votes(votes, pool, weights, scores=record.pools_scores)
        ties += int(p.vote_tie)
        score = p.score
        if not record.pools_scores and p.vote_tie:
            score = None  # a split jury has no correctness value; pairwise reads "tie" itself
        # A split vote is a tie, not an invalid verdict; only a unit without
        # any valid vote is invalid for the jury.
        pooled.append(Outcome(unit, p.verdict, score, p.verdict is None))
    return pooled, ties


def price_cost(
    prices: Mapping[str, tuple[float, float]] | None, judge: str, tokens_in: int, tokens_out: int
) -> float | None:
    """Cost in the prices' currency; prices are per million input / output tokens."""
    if not prices or judge not in prices:
        return None
    per_in, per_out = prices[judge]
    return tokens_in * per_in / 1e6 + tokens_out * per_out / 1e6


def parse_price(text: str) -> tuple[str, tuple[float, float]]:
    """``MODEL=IN/OUT`` (per million tokens) as given to ``--price``."""
    model, sep, rest = text.rpartition("=")
    parts = rest.split("/")
    try:
        if not sep or not model or len(parts) != 2:
            raise ValueError
        per_in, per_out = float(parts[0]), float(parts[1])
        if per_in < 0 or per_out < 0:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"--price {text!r}: expected MODEL=IN/OUT, prices per million input and "
            "output tokens, e.g. openai:gpt-4o-mini=0.15/0.60"
        ) from None
    return model, (per_in, per_out)


# --------------------------------------------------------------------------- entry point


def judge_run(
    run_dir: str | Path,
    judges: Sequence[str] = (),
    *,
    protocol: str | Protocol,
    pool: str | None = None,
    against: str | None = None,
    template: str | Path | None = None,
    scale: int = 10,
    rubric: str | Path | None = None,
    prices: Mapping[str, tuple[float, float]] | None = None,
    weights_from: str | Path | Mapping[str, Any] | None = None,
    weights_metric: str = "cohens_kappa",
    concurrency: int = 1,
    base_urls: list[str] | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    seed: int = 0,
    limit: int | None = None,
    constrained: bool = True,
    progress: bool = True,
    models: Mapping[str, Model] | None = None,
    use_cache: bool = True,
    max_retries: int = 4,
    n_ctx: int = 2048,
    timeout: float | None = None,
) -> JudgeResult:
    """Judge a run's outputs; the library form of ``assay judge``.

    ``judges`` are model names (several form a jury); the lexical protocols
    (contains, exact) take none. ``models`` may supply ready model objects by
    judge name (tests pass fakes). ``timeout``: seconds one request to a
    server judge may take (default 120). Raises ``IncompleteRunError`` (with
    the result as ``.result``) when some verdicts could not be obtained.
    """
    from assay.run.store import RunStore

    record = get_protocol(protocol)
    protocol = record.name
    if concurrency < 1 or max_tokens < 1:
        raise ConfigError("--concurrency and --max-tokens must be at least 1")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit {limit}: give at least 1 (or leave it out for every item)")
    if record.rated and scale < 2:
        raise ConfigError(f"--scale {scale}: a rating scale needs at least 2 points")
    judges = list(judges)
    if not record.needs_judge and judges:
        raise ConfigError(
            f"the {protocol} protocol is a lexical judge and takes no --judge (given: {', '.join(judges)})"
        )
    if record.needs_judge and not judges:
        raise ConfigError(f"the {protocol} protocol needs at least one --judge MODEL")
    if len(set(judges)) != len(judges):
        raise ConfigError(f"a judge is named twice: {', '.join(judges)}")
    if pool is not None and len(judges) < 2:
        raise ConfigError("--pool pools a jury: give --judge at least twice")
    pool = pool or (record.default_pool if len(judges) >= 2 else None)
    weights = None
    if pool is not None:
        check_pool(pool, record)
        if pool == "weighted":
            if weights_from is None:
                raise ConfigError(
                    "--pool weighted needs --weights-from AUDIT_JSON (per-judge agreement "
                    "with human labels, from `assay audit --json`)"
                )
            weights = load_weights(weights_from, metric=weights_metric, judges=judges)
    elif weights_from is not None:
        raise ConfigError("--weights-from applies with --pool weighted only")

    if max_retries < 0:
        raise ConfigError(f"--max-retries {max_retries}: give 0 or more (0: no retries)")
    run_path = Path(run_dir)
    # The directory's writer lock (assay.run.lock) from reading the outputs to the last verdict:
    # a run still writing outputs refuses the judge (and is refused), an identical judge waits.
    from assay.run.lock import acquire
    from assay.run.store import DB_NAME

    if not (run_path / DB_NAME).is_file():
        raise DataError(f"{run_path}: not a run directory (no {DB_NAME})")
    key, description = judge_writer(
        protocol,
        judges,
        against=against,
        template=template,
        rubric=rubric,
        scale=scale,
        limit=limit,
        max_tokens=max_tokens,
        seed=seed,
        constrained=constrained,
    )
    with acquire(run_path, key=key, description=description):
        data = read_outputs(run_path)
        units, notes = build_units(data, record, against=against, limit=limit, run_dir=run_path)
        models_judged = sorted({u.model for u in units} | {u.model_b for u in units if u.model_b})
        if not record.needs_judge:
            tmpl_hash = stable_hash({"lexical": protocol}, length=16)
            with RunStore(run_path) as store:
                outcomes = _lexical(units, record, data, store)
            summary = summarise(protocol, outcomes, record, models_judged)
            summary.cost = 0.0
            return JudgeResult(
                str(run_path), protocol, None, None, tmpl_hash, models_judged, {protocol: summary}, notes=notes
            )

        tmpl = load_template(record, template, rubric=rubric, scale=scale)
        params = GenParams(
            temperature=0.0,
            max_tokens=max_tokens,
            seed=seed,
            json_schema=record.verdict_schema(scale) if constrained else None,
        )
        states = []
        for name in judges:
            if models is not None and name in models:
                states.append(_JudgeState(name, models[name]))
            else:
                from assay.models.registry import get_model

                states.append(
                    _JudgeState(
                        name,
                        get_model(name, base_urls=base_urls, max_retries=max_retries, n_ctx=n_ctx, timeout=timeout),
                    )
                )
        try:
            with RunStore(run_path, use_cache=use_cache) as store:
                _judge_all(states, units, record, tmpl, params, scale, store, concurrency, progress)
        finally:
            for state in states:
                if models is None or state.name not in models:
                    state.model.close()  # type: ignore[union-attr]

    summaries = {}
    for state in states:
        s = summarise(state.name, state.outcomes, record, models_judged, scale)
        s.not_run, s.fatal = state.tally.not_run, state.tally.fatal
        s.cost = price_cost(prices, state.name, s.tokens_in, s.tokens_out)
        summaries[state.name] = s
        note = getattr(state.model, "constrained_note", None)
        if note:
            notes.append(f"{state.name}: {note}")
    jury = None
    if len(states) >= 2:
        pooled, ties = _pool_outcomes(states, pool, weights, record)  # type: ignore[arg-type]
        jury = summarise(JURY, pooled, record, models_judged, scale)
        jury.vote_ties = ties
        jury.invalid = sum(1 for o in pooled if o.invalid)
        for attr in ("calls", "cache_hits", "tokens_in", "tokens_out", "seconds"):
            setattr(jury, attr, sum(getattr(s, attr) for s in summaries.values()))
        costs = [s.cost for s in summaries.values()]
        # A jury's cost is known only when every judge's price is.
        jury.cost = None if any(c is None for c in costs) else sum(costs)  # type: ignore[arg-type]
        if any(c is None for c in costs) and any(c is not None for c in costs):
            notes.append("jury cost not shown: give --price for every judge")
    result = JudgeResult(
        str(run_path),
        protocol,
        pool,
        str(template) if template else None,
        tmpl.hash,
        models_judged,
        summaries,
        jury,
        against,
        scale if record.rated else None,
        notes,
    )
    if result.left:
        reasons = (
            "; ".join(
                f"{s.name}: {s.fatal or 'first failure: ' + _short(s.first_error or '')}"
                for s in summaries.values()
                if s.fatal or s.first_error
            )
            or "failed requests are stored with their error"
        )
        error = IncompleteRunError(
            f"{result.left} verdict(s) left to do ({reasons}). The verdicts obtained are stored in "
            f"{run_path}; run the same command again to judge only the rest."
        )
        error.result = result  # type: ignore[attr-defined]
        raise error
    return result


def judge_writer(
    protocol: str,
    judges: Sequence[str],
    *,
    against: str | None,
    template: str | Path | None,
    rubric: str | Path | None,
    scale: int,
    limit: int | None,
    max_tokens: int,
    seed: int,
    constrained: bool,
) -> tuple[str, str]:
    """A judge pass's claim on its run directory's lock (``assay.run.lock``): a
    key (an identical pass waits for this one, then finds its verdicts stored;
    a run or another pass is refused at once) and how the busy message
    describes it."""
    settings = {
        "judge": protocol,
        "judges": list(judges),
        "against": against,
        "template": None if template is None else str(template),
        "rubric": None if rubric is None else str(rubric),
        "scale": scale,
        "limit": limit,
        "max_tokens": max_tokens,
        "seed": seed,
        "constrained": constrained,
    }
    by = f" by {', '.join(judges)}" if judges else ""
    return stable_hash(settings), f"verdicts of the {protocol} protocol{by}"


def _short(error: str, limit: int = 300) -> str:
    """A failed request's cause on one line (servers may append a traceback)."""
    line = " ".join(error.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --------------------------------------------------------------------------- win-rate input


def winrate_annotations(
    run_dir: str | Path, baseline: str, *, judges: Sequence[str] | None = None, template_hash: str | None = None
):
    """Pairwise verdicts against ``baseline`` as ``assay winrate`` input.

    Columns ``model, instruction, preference, output, baseline_output, item``;
    ``preference`` is the mean over judges and both orders of the model's
    credit (1 win, 0.5 tie, 0 loss), so 1 means the model's output is better.
    Invalid verdicts are left out; an item with none valid is dropped.
    """
    import pandas as pd

    from assay.run.store import open_run

    with open_run(run_dir) as store:
        frame = store.verdicts_frame(protocol=PAIRWISE.name)
    frame = frame[
        (~frame["invalid"].astype(bool))
        & frame["verdict"].notna()
        & ((frame["model"] == baseline) | (frame["model_b"] == baseline))
    ]
    if frame.empty:
        raise DataError(
            f"{run_dir}: no valid pairwise verdicts involving baseline '{baseline}'; "
            f"run `assay judge {run_dir} --protocol pairwise --against {baseline} --judge MODEL`"
        )
    if judges is not None:
        frame = frame[frame["judge"].isin(list(judges))]
    if template_hash is not None:
        frame = frame[frame["template_hash"] == template_hash]
    if frame.empty:
        raise DataError(
            f"{run_dir}: no valid pairwise verdicts against '{baseline}' from "
            f"judge(s) {', '.join(judges) if judges is not None else 'any'} with template "
            f"{template_hash or 'any'}"
        )
    hashes = sorted(frame["template_hash"].unique())
    if len(hashes) > 1:
        raise ConfigError(
            f"{run_dir}: pairwise verdicts from {len(hashes)} templates ({', '.join(hashes)}); "
            "choose one with template_hash"
        )
    flip = frame["model"] == baseline
    credit = frame["verdict"].map(dict(PAIRWISE.kind.credit))  # type: ignore[arg-type]
    frame = frame.assign(other=frame["model_b"].where(flip, frame["model"]), credit=credit.where(~flip, 1.0 - credit))
    prefs = frame.groupby(["other", "item"])["credit"].mean().reset_index()
    data = read_outputs(run_dir)
    rows = []
    for other, item, preference in prefs.itertuples(index=False):
        rows.append(
            {
                "model": other,
                "instruction": data.questions[item],
                "preference": float(preference),
                "output": data.outputs[other][item],
                "baseline_output": data.outputs[baseline][item],
                "item": item,
            }
        )
    return pd.DataFrame(rows, columns=["model", "instruction", "preference", "output", "baseline_output", "item"])
