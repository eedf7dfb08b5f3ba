"""A multiverse of analysis choices: which pairwise conclusions survive every reasonable way of reaching them.

A comparison of two models rests on choices the data does not dictate: which
normalisation of the scorer, how many few-shot examples, which interval, what
to do with requests that failed, which prompt variant. ``multiverse`` makes the
comparison under every combination of the choices that apply to the sources
(the *specifications*) and reports, for each pair of models, the share of
specifications that conclude "a is better", "b is better" or neither, and the
specification curve: the estimate under every specification, sorted, with its
interval and the choices that made it.

Dimensions, each present only where it applies (otherwise the one choice in
force is listed under ``fixed``):

- ``metric``: the scorer normalisations the sources hold. A run scored by
  log-likelihood of its choices has ``acc``, ``acc_norm`` (log-probability per
  character) and ``acc_bytes`` (per UTF-8 byte); a generation run, each
  scorer it was run with (several ``--scorer``). Only metrics in [0, 1] with
  higher = better take part (not ``p_correct``, ``brier`` or log-probabilities,
  which measure something else); a score file, each value of its ``metric``
  column. The run's default metric (the one ``compare`` uses) comes first.
- ``fewshot``: runs of one task that differ in their few-shot count (the
  ``fewshot`` of each run's ``config.json``; a score file's ``fewshot``
  column), e.g. ``compare RUN_0SHOT RUN_5SHOT --multiverse``; in the order the
  sources were given.
- ``variant``: with prompt variants, ``pooled`` (every item under every
  variant, clustered by the base item: what ``compare`` does) and each variant
  alone.
- ``errors``: when some request failed, ``excluded`` (the failed sample is
  left out: what ``compare`` does) and ``wrong`` (it counts as a score of 0).
- ``interval``: the paired test and its interval. ``auto`` is
  ``paired_diff``'s choice (exact McNemar for 0/1 scores of independent items,
  the t interval otherwise, cluster-robust with clusters; the t interval with
  several samples per item, as ``compare``); ``paired-t`` the t interval
  always; ``bootstrap`` a paired percentile bootstrap of the mean difference
  (``n_boot`` resamples of items, or of whole clusters), with the p-value that
  inverts it. ``auto`` is left out when no specification would make it
  anything but the t interval.

Within a specification every pair of models is compared on its common items
and the p-values are adjusted over the pairs (``correction``); a pair's
conclusion is ``a`` or ``b`` when the adjusted p-value is below
1 - ``confidence`` (the better one by the sign of the difference), else
``neither``. Intervals are the unadjusted ones of the test. Clusters in which
every item stands alone (a single variant of a variant run) are no clusters.

A pre-registered specification (``spec``: the choices fixed before looking)
is marked in every pair's curve and reported first; a key it leaves out takes
that dimension's first value (the default), and a key or value that does not
apply is a ``ConfigError`` naming it and what would be valid.
"""

from __future__ import annotations

import itertools
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import ConfigError, DataError
from assay.jsonable import jsonable
from assay.stats._inputs import check_confidence, is_binary
from assay.stats.bootstrap import Interval
from assay.stats.intervals import FEW_CLUSTERS
from assay.stats.multiplicity import CORRECTIONS, adjust_pvalues
from assay.stats.scores import check_scores, read_score_file

DIMENSIONS = ("metric", "fewshot", "variant", "errors", "interval")
DATA_DIMENSIONS = DIMENSIONS[:-1]  # the choices about the data; ``interval`` is about the test
INTERVALS = ("auto", "paired-t", "bootstrap")
ERRORS = ("excluded", "wrong")
POOLED = "pooled"
NO_FAILURES = "no request failed"
# The normalisations of one multiple-choice decision: which choice has the highest log-probability.
CHOICE_METRICS = ("acc", "acc_norm", "acc_bytes")
CONCLUSIONS = ("a", "b", "neither")
BOOTSTRAP_METHOD = "paired percentile bootstrap of the mean difference; p = 2·min(share ≤ 0, share ≥ 0)"


# ---- results --------------------------------------------------------------------------------------


@dataclass
class SpecEstimate:
    """One pair under one specification: mean(a) - mean(b), its interval and the conclusion."""

    spec: dict[str, Any]
    diff: float | None
    low: float | None
    high: float | None
    p_value: float | None
    p_adjusted: float | None
    test: str | None
    n: int
    n_clusters: int | None
    conclusion: str  # a, b, neither; "not compared" when the pair could not be tested (see error)
    preregistered: bool = False
    error: str | None = None
    confidence: float = 0.95
    ci_method: str = ""  # how [low, high] was made under this specification's ``interval`` choice

    def to_interval(self) -> Interval:
        """The difference under this specification and its unadjusted interval (all None when not compared)."""
        method = self.ci_method or self.test or "not compared"
        return Interval(self.diff, self.low, self.high, self.confidence, method, self.n, self.n_clusters)

    def to_dict(self) -> dict:
        return jsonable(
            {
                "spec": self.spec,
                "diff": self.diff,
                "ci_low": self.low,
                "ci_high": self.high,
                "p_value": self.p_value,
                "p_adjusted": self.p_adjusted,
                "test": self.test,
                "n": self.n,
                "n_clusters": self.n_clusters,
                "conclusion": self.conclusion,
                "preregistered": self.preregistered,
                "error": self.error,
            }
        )


@dataclass
class PairMultiverse:
    """One pair across every specification; ``curve`` sorted by the estimate."""

    a: str
    b: str
    curve: list[SpecEstimate]

    @property
    def compared(self) -> list[SpecEstimate]:
        return [e for e in self.curve if e.diff is not None]

    @property
    def support(self) -> dict[str, float | None]:
        """Share of the specifications that compared the pair concluding each of a, b, neither."""
        done = self.compared
        return {c: (sum(e.conclusion == c for e in done) / len(done) if done else None) for c in CONCLUSIONS}

    @property
    def preregistered(self) -> SpecEstimate | None:
        return next((e for e in self.curve if e.preregistered), None)

    @property
    def median_diff(self) -> float | None:
        """The median estimate over the specifications that compared the pair."""
        diffs = [e.diff for e in self.compared]
        return float(np.median(diffs)) if diffs else None

    @property
    def diff_range(self) -> tuple[float, float] | None:
        """The smallest and largest estimate over the specifications that compared the pair."""
        diffs = [e.diff for e in self.compared]
        return (min(diffs), max(diffs)) if diffs else None

    def to_dict(self) -> dict:
        pre = self.preregistered
        spread = self.diff_range
        return jsonable(
            {
                "a": self.a,
                "b": self.b,
                "preregistered": pre.to_dict() if pre is not None else None,
                "support": self.support,
                "n_specifications": len(self.compared),
                "median_diff": self.median_diff,
                "min_diff": None if spread is None else spread[0],
                "max_diff": None if spread is None else spread[1],
                "curve": [e.to_dict() for e in self.curve],
            }
        )


@dataclass
class MultiverseResult:
    """Every pairwise conclusion under every specification of the analysis choices that apply."""

    dimensions: dict[str, list]
    fixed: dict[str, Any]
    models: list[str]
    pairs: list[PairMultiverse]
    preregistered: dict[str, Any] | None
    confidence: float
    correction: str
    n_boot: int
    seed: int | None
    notes: list[str] = field(default_factory=list)

    @property
    def n_specifications(self) -> int:
        return int(np.prod([len(v) for v in self.dimensions.values()])) if self.dimensions else 1

    @property
    def data_dimensions(self) -> list[str]:
        """The dimensions that are choices about the data (all but ``interval``)."""
        return [d for d in self.dimensions if d in DATA_DIMENSIONS]

    def to_dict(self) -> dict:
        return jsonable(
            {
                "dimensions": self.dimensions,
                "fixed": self.fixed,
                "specifications": self.n_specifications,
                "preregistered": self.preregistered,
                "models": self.models,
                "confidence": self.confidence,
                "correction": self.correction,
                "n_boot": self.n_boot,
                "seed": self.seed,
                "pairs": [p.to_dict() for p in self.pairs],
                "notes": list(self.notes),
            }
        )

    def render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        pct = f"{self.confidence:.0%}"
        product = " × ".join(f"{name} ({len(values)})" for name, values in self.dimensions.items()) or "one"
        parts = [Text(f"Multiverse: {self.n_specifications} specifications = {product}", style="bold")]
        for name, values in self.dimensions.items():
            parts.append(Text(f"  {name}: {', '.join(str(v) for v in values)}"))
        if self.fixed:
            parts.append(Text("  fixed: " + ", ".join(f"{k}={v}" for k, v in self.fixed.items()), style="dim"))
        if self.preregistered is not None:
            # Reported first: what the analysis fixed in advance concludes, then how the others agree.
            first = Table(title="Pre-registered specification: " + _spec_text(self.preregistered))
            for column in ("a - b", "n", "diff", f"{pct} CI", "p adj", "test", "conclusion"):
                first.add_column(column, justify="left" if column in ("a - b", "test", "conclusion") else "right")
            for pair in self.pairs:
                e = pair.preregistered
                if e is None or e.diff is None:
                    first.add_row(f"{pair.a} - {pair.b}", "0", "-", "-", "-", "-", "not compared")
                    continue
                first.add_row(
                    f"{pair.a} - {pair.b}",
                    str(e.n),
                    f"{e.diff:+.4f}",
                    f"[{e.low:+.4f}, {e.high:+.4f}]",
                    f"{e.p_adjusted:.3g}",
                    e.test,
                    _conclusion_text(e.conclusion, pair),
                )
            parts.append(first)
        table = Table(
            title=f"Share of the {self.n_specifications} specifications behind each conclusion "
            f"({self.correction}-adjusted p < {1 - self.confidence:g})"
        )
        for column in ("a - b", "a better", "b better", "neither", "median diff", "range of diffs"):
            table.add_column(column, justify="left" if column == "a - b" else "right")
        for pair in self.pairs:
            support = pair.support
            diffs = [e.diff for e in pair.compared]
            row = [f"{pair.a} - {pair.b}", _share(support["a"]), _share(support["b"]), _share(support["neither"])]
            row += [f"{np.median(diffs):+.4f}", f"[{min(diffs):+.4f}, {max(diffs):+.4f}]"] if diffs else ["-", "-"]
            table.add_row(*row)
        parts.append(table)
        for message in self.notes:
            parts.append(Text(f"note: {message}", style="yellow"))
        return Group(*parts)


def _spec_text(spec: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in spec.items())


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _conclusion_text(conclusion: str, pair: PairMultiverse) -> str:
    return {"a": f"{pair.a} better", "b": f"{pair.b} better"}.get(conclusion, conclusion)


# ---- loading: one long frame of every score under every choice -----------------------------------

COLUMNS = ["model", "item", "sample", "score", "cluster", "metric", "fewshot", "variant", "error"]


@dataclass
class MultiverseSource:
    """One source's scores under every metric it offers, as a run's are read by
    ``assay.run.sources.multiverse_source``.

    ``frame`` has the columns ``COLUMNS``: a failed sample is a row with ``error``
    true (and no score) under each metric; a variant's ``item`` is its base item;
    ``fewshot`` is the source's few-shot count (None when unknown). ``metrics``
    lists the metrics in order, the default first; ``task`` names the task when
    the source says.
    """

    label: str
    frame: pd.DataFrame
    metrics: list[str]
    task: str | None = None


def _natural(value: str):
    """Sort variant names by the numbers in them (v2 before v10), then by text."""
    return (tuple(int(n) for n in re.findall(r"\d+", str(value))), str(value))


def _in_unit_interval(scores: pd.Series) -> bool:
    return bool(((scores >= 0) & (scores <= 1)).all())


def _unit_metrics(label: str, frame: pd.DataFrame, metrics: list[str], notes: list[str]) -> list[str]:
    """The metrics that are choices: the default, and the others whose scores lie in [0, 1]."""
    scored = frame[~frame["error"].astype(bool)]
    outside = [m for m in metrics[1:] if not _in_unit_interval(scored.loc[scored["metric"] == m, "score"])]
    for m in outside:
        notes.append(f"{label}: metric {m} has scores outside [0, 1]; it is not one of the choices")
    return [m for m in metrics if m not in outside]


def _checked_source(source: MultiverseSource, notes: list[str]) -> MultiverseSource:
    kept = _unit_metrics(source.label, source.frame, list(source.metrics), notes)
    frame = source.frame[source.frame["metric"].isin(kept)]
    return MultiverseSource(source.label, _tidy(frame), kept, source.task)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def _count(value, label: str, where: str) -> int | None:
    """A few-shot count from a score file's cell (CSV cells are text); blank is unknown."""
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (np.isfinite(number) and number >= 0 and number == int(number)):
        raise DataError(f"{label} {where}: fewshot {value!r} is not a whole number of examples (0 or more)")
    return int(number)


def _truthy(value) -> bool:
    if _missing(value):
        return False
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "none", "nan")
    return bool(value)


def _load_table(source, notes: list[str]) -> MultiverseSource:
    """A score file or DataFrame: compare's columns, plus optional ``metric``, ``fewshot``, ``variant``
    (then ``item`` is the base item) and ``error`` (truthy: a failed sample, its score ignored)."""
    if isinstance(source, pd.DataFrame):
        raw, label = source.reset_index(drop=True), "<DataFrame>"
    else:
        raw, label = read_score_file(source), str(Path(source))
    if "_where" not in raw.columns:
        raw = raw.assign(_where=[f"row {i + 1}" for i in range(len(raw))])
    error = raw["error"].map(_truthy).astype(bool) if "error" in raw.columns else pd.Series(False, index=raw.index)
    if "score" in raw.columns:
        # A failed sample has no score to check; it is 0 or left out by the choice made.
        raw = raw.assign(score=raw["score"].where(~error, 0))
    metric_of = raw["metric"].astype(str) if "metric" in raw.columns else pd.Series("score", index=raw.index)
    fewshot_of = pd.Series(
        [_count(v, label, where) for v, where in zip(raw["fewshot"], raw["_where"])]
        if "fewshot" in raw.columns
        else [None] * len(raw),
        index=raw.index,
        dtype=object,
    )
    across = "variant" if "variant" in raw.columns else None
    extra = [c for c in ("metric", "fewshot", "error") if c in raw.columns]
    frames = []
    metrics = list(dict.fromkeys(metric_of))
    for (metric, _), rows in raw.groupby([metric_of, fewshot_of.astype(str)], sort=False, dropna=False):
        index = rows.index
        out = check_scores(rows.drop(columns=extra), label, None, notes, across)
        out["metric"] = metric
        out["fewshot"] = fewshot_of.loc[index].to_numpy(dtype=object)
        out["error"] = error.loc[index].to_numpy()
        if across is None:
            out["variant"] = None
        frames.append(out)
    frame = pd.concat(frames, ignore_index=True)
    frame.loc[frame["error"], "score"] = np.nan
    if len(metrics) > 1:
        metrics = _unit_metrics(label, frame, metrics, notes)
        frame = frame[frame["metric"].isin(metrics)]
    return MultiverseSource(label, _tidy(frame), metrics, None)


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reindex(columns=COLUMNS).copy()
    for column in ("model", "item", "sample", "metric"):
        out[column] = out[column].astype(str)
    # Object columns, so that None stays None (a column of ints and None would turn into floats and NaN).
    for column in ("cluster", "variant"):
        out[column] = pd.Series([None if _missing(v) else str(v) for v in out[column]], index=out.index, dtype=object)
    out["fewshot"] = pd.Series([None if _missing(v) else int(v) for v in out["fewshot"]], index=out.index, dtype=object)
    out["score"] = out["score"].astype(float)
    out["error"] = out["error"].astype(bool)
    return out.reset_index(drop=True)


def _load(sources, notes: list[str]) -> list[MultiverseSource]:
    if isinstance(sources, (str, Path, pd.DataFrame, MultiverseSource)):
        sources = [sources]
    if not sources:
        raise ConfigError("no sources given; pass run directories or score files")
    loaded = []
    for source in sources:
        if isinstance(source, MultiverseSource):
            loaded.append(_checked_source(source, notes))
        else:
            loaded.append(_load_table(source, notes))
    tasks = sorted({s.task for s in loaded if s.task is not None})
    if len(tasks) > 1:
        raise ConfigError(
            f"--multiverse compares models on one task; these runs hold {', '.join(tasks)}: "
            "give the runs of one task (at several few-shot counts, if you like)"
        )
    return loaded


# ---- the choices that apply -----------------------------------------------------------------------


@dataclass
class _Universe:
    frame: pd.DataFrame
    dimensions: dict[str, list]
    fixed: dict[str, Any]
    why: dict[str, str]  # why a dimension does not apply, for a spec that names it


def _universe(loaded: list[MultiverseSource], notes: list[str]) -> _Universe:
    dimensions: dict[str, list] = {}
    fixed: dict[str, Any] = {}
    why: dict[str, str] = {}

    # metric: the normalisations every source has (a source's default first).
    lists = [s.metrics for s in loaded]
    common = [m for m in lists[0] if all(m in other for other in lists[1:])]
    frames = []
    if common:
        for s in loaded:
            dropped = [m for m in s.metrics if m not in common]
            if dropped:
                notes.append(f"{s.label}: metric(s) {', '.join(dropped)} are not in every source; left out")
            frames.append(s.frame[s.frame["metric"].isin(common)])
    else:
        # Nothing in common (a run's scorer and a score file's unnamed score): each source's default.
        common = ["default"]
        notes.append(
            "the sources share no metric name ("
            + "; ".join(f"{s.label}: {', '.join(s.metrics)}" for s in loaded)
            + "); each is compared on its first"
        )
        for s in loaded:
            frames.append(s.frame[s.frame["metric"] == s.metrics[0]].assign(metric="default"))
    frame = pd.concat(frames, ignore_index=True)
    if len(common) > 1:
        dimensions["metric"] = common
    else:
        fixed["metric"] = common[0]
        why["metric"] = f"the sources have one metric ({common[0]})"

    # fewshot: the counts the sources differ in, in the order given.
    counts = list(dict.fromkeys(frame["fewshot"]))
    known = [c for c in counts if c is not None]
    if len(known) > 1:
        unknown = [s.label for s in loaded if s.frame["fewshot"].isna().any()]
        if unknown:
            raise ConfigError(
                f"the sources differ in their few-shot count ({', '.join(map(str, known))}) but {unknown[0]} does "
                "not say its own: give run directories, or a fewshot column in the score file"
            )
        dimensions["fewshot"] = known
    else:
        if known:
            fixed["fewshot"] = known[0]
        why["fewshot"] = (
            f"every source uses {known[0]} few-shot example(s)" if known else "the sources do not say a few-shot count"
        )
    for count in counts:
        # One model per source within a few-shot count, as compare asks of its sources.
        origin: dict[str, str] = {}
        for s in loaded:
            counted = s.frame["fewshot"].isna() if count is None else s.frame["fewshot"] == count
            for model in s.frame.loc[counted, "model"].unique():
                if model in origin:
                    raise DataError(
                        f"model {model!r} appears in both {origin[model]} and {s.label}"
                        + (f" at {count} few-shot example(s)" if count is not None else "")
                        + "; rename one of them"
                    )
                origin[model] = s.label

    # variant: the variants every source has, pooled first.
    has = [s.frame["variant"].notna().any() for s in loaded]
    if any(has) and not all(has):
        plain = next(s.label for s, h in zip(loaded, has) if not h)
        raise ConfigError(f"{plain} has no prompt variants while other sources do; compare runs of the same variants")
    if all(has):
        sets = [set(s.frame["variant"].dropna()) for s in loaded]
        shared = sorted(set.intersection(*sets), key=_natural)
        if not shared:
            raise ConfigError(
                "the sources share no prompt variant ("
                + "; ".join(f"{s.label}: {', '.join(sorted(v, key=_natural))}" for s, v in zip(loaded, sets))
                + "); compare runs of the same variants"
            )
        left_out = sorted(set.union(*sets) - set(shared), key=_natural)
        if left_out:
            notes.append(f"variant(s) {', '.join(left_out)} are not in every source; left out")
            frame = frame[frame["variant"].isin(shared)]
        if len(shared) > 1:
            dimensions["variant"] = [POOLED] + shared
        else:
            fixed["variant"] = shared[0]
            why["variant"] = f"the sources have one prompt variant ({shared[0]})"
    else:
        why["variant"] = "the sources have no prompt variants (run with --prompt-variants N or several --template)"

    # errors: only when some sample failed.
    if frame["error"].any():
        dimensions["errors"] = list(ERRORS)
    else:
        fixed["errors"] = "excluded"
        why["errors"] = NO_FAILURES
    dimensions["interval"] = list(INTERVALS)  # narrowed once the data specifications are known
    ordered = {d: dimensions[d] for d in DIMENSIONS if d in dimensions}
    return _Universe(frame.reset_index(drop=True), ordered, fixed, why)


def _restrict(universe: _Universe, choices: dict[str, list] | None, where: str) -> None:
    """Keep only the given values of some dimensions (``choices``); a single value left fixes it."""
    for name, values in (choices or {}).items():
        values = [values] if isinstance(values, (str, int)) else list(values)
        if not values:
            raise ConfigError(f"{where}: {name} is given no value; name at least one, or leave {name} out")
        if name not in universe.dimensions:
            for value in values:
                _check_fixed(universe, name, value, where)
            continue
        picked = [_match(universe, name, v, where) for v in values]
        universe.dimensions[name] = [v for v in universe.dimensions[name] if v in picked]
        if len(universe.dimensions[name]) == 1:
            universe.fixed[name] = universe.dimensions.pop(name)[0]
            universe.why[name] = f"{where} fixes it"


def _valid(universe: _Universe, name: str) -> str:
    return ", ".join(str(v) for v in universe.dimensions[name])


def _match(universe: _Universe, name: str, value, where: str):
    """The dimension value ``value`` names, or a ConfigError naming it and the valid values."""
    if name not in DIMENSIONS:
        raise ConfigError(f"{where}: unknown choice {name!r}; the choices are {', '.join(DIMENSIONS)}")
    for candidate in universe.dimensions[name]:
        if str(candidate) == str(value).strip():
            return candidate
    if name == "interval" and str(value) == "auto" and "paired-t" in universe.dimensions[name]:
        return "paired-t"  # auto was left out as the same test as paired-t here
    raise ConfigError(f"{where}: {name} {value!r} does not apply; valid: {_valid(universe, name)}")


def _check_fixed(universe: _Universe, name: str, value, where: str) -> None:
    """A choice of a dimension that does not vary: accepted when it is the one in force."""
    if name not in DIMENSIONS:
        raise ConfigError(f"{where}: unknown choice {name!r}; the choices are {', '.join(DIMENSIONS)}")
    in_force = universe.fixed.get(name)
    accepted = {str(in_force)} if name in universe.fixed and in_force is not None else set()
    if name == "errors" and universe.why.get(name) == NO_FAILURES:
        accepted = set(ERRORS)  # nothing failed: the two choices are the same analysis
    if str(value).strip() in accepted:
        return
    raise ConfigError(
        f"{where}: {name} {value!r} does not apply: {universe.why.get(name, 'it does not vary here')}"
        + (f" (in force: {in_force})" if name in universe.fixed and in_force is not None else "")
    )


def read_spec(path: str | Path) -> dict[str, Any]:
    """A pre-registered specification: a JSON object of choices, e.g. ``{"metric": "acc_norm"}``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f'--spec {path}: no such file; give a JSON object of choices, e.g. {{"metric": "acc"}}')
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--spec {path}: not JSON ({exc}); give an object of choices") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(
            f'--spec {path}: give a JSON object of choices ({", ".join(DIMENSIONS)}), e.g. {{"interval": "auto"}}'
        )
    return data


def _resolve_spec(universe: _Universe, spec: dict, where: str, notes: list[str]) -> dict[str, Any]:
    resolved = {}
    for name, value in spec.items():
        if isinstance(value, (list, dict)):
            raise ConfigError(f"{where}: {name} takes one value, not {json.dumps(value)}")
        if name in universe.dimensions:
            resolved[name] = _match(universe, name, value, where)
        else:
            _check_fixed(universe, name, value, where)
    missing = [d for d in universe.dimensions if d not in resolved]
    if missing:
        notes.append(
            f"{where} does not name {', '.join(missing)}; the pre-registered specification takes "
            + ", ".join(f"{d}={universe.dimensions[d][0]}" for d in missing)
        )
    return {d: resolved.get(d, universe.dimensions[d][0]) for d in universe.dimensions}


# ---- one data specification -----------------------------------------------------------------------


@dataclass
class _Data:
    means: dict[str, pd.Series]  # model -> per-unit mean score
    clusters: pd.Series | None  # unit -> cluster
    multi_sample: bool
    exact_applies: bool  # 0/1 scores of independent items, one sample: ``auto`` is McNemar's exact test


def _data(universe: _Universe, choice: dict[str, Any]) -> _Data:
    frame = universe.frame
    choice = {**universe.fixed, **choice}  # a dimension fixed by ``choices`` or by the data still filters
    rows = frame[frame["metric"] == choice["metric"]]
    if choice.get("fewshot") is not None:
        rows = rows[rows["fewshot"] == choice["fewshot"]]
    variant = choice.get("variant", POOLED)
    if variant != POOLED:
        rows = rows[rows["variant"] == variant]
    if choice.get("errors", "excluded") == "excluded":
        rows = rows[~rows["error"]]
    else:
        rows = rows.assign(score=rows["score"].fillna(0.0))
    pooled = variant == POOLED and rows["variant"].notna().any()
    unit = rows["item"] + "@" + rows["variant"] if pooled else rows["item"]
    rows = rows.assign(unit=unit.to_numpy())
    means = {}
    multi = False
    for model, mine in rows.groupby("model", sort=False):
        grouped = mine.groupby("unit", sort=False)["score"]
        means[model] = grouped.mean()
        multi = multi or bool(grouped.count().max() > 1)
    labels = rows.groupby("unit", sort=False)["cluster"]
    clusters = None
    if pooled:
        # Every variant of an item shares its cluster (the base item, unless the item had one).
        first = rows.groupby("unit", sort=False).first()
        clusters = first["cluster"].where(first["cluster"].notna(), first["item"])
    elif rows["cluster"].notna().any():
        if rows["cluster"].isna().any():
            row = rows[rows["cluster"].isna()].iloc[0]
            raise DataError(f"item {row['item']!r} has no cluster while other items do; give every item one or none")
        if (labels.nunique() > 1).any():
            unit_id = labels.nunique().idxmax()
            raise DataError(f"item {unit_id!r} is given several clusters; an item belongs to one cluster")
        clusters = labels.first()
    if clusters is not None:
        sizes = clusters.value_counts()
        if len(sizes) < 2 or sizes.max() == 1:
            clusters = None  # one cluster says nothing; clusters of one item are items
    binary = all(is_binary(m.to_numpy()) for m in means.values())
    return _Data(means, clusters, multi, binary and clusters is None and not multi)


# ---- the comparison under one specification ------------------------------------------------------


def _bootstrap(jobs: list[tuple[np.ndarray, Any]], confidence: float, n_boot: int, seed) -> list[tuple]:
    """(low, high, p) of the paired percentile bootstrap of mean(d) for each job (d, cluster labels or None):
    items, or whole clusters, resampled. Jobs of the same size share one draw of resamples, exactly as if
    each were drawn alone with the same seed (the draw depends only on the size and the seed), so the pairs
    of a specification cost one resampling rather than one each."""
    from assay.stats.bootstrap import bootstrap_means, cluster_codes, percentile_bounds

    columns: list[np.ndarray] = []  # per job: its units' values (one column, or cluster sums and sizes)
    for d, labels in jobs:
        if labels is None:
            columns.append(d[:, None])
        else:
            codes = cluster_codes(labels)
            columns.append(np.column_stack([np.bincount(codes, weights=d), np.bincount(codes).astype(float)]))
    out: list[tuple] = [()] * len(jobs)
    by_size: dict[int, list[int]] = {}
    for i, column in enumerate(columns):
        by_size.setdefault(len(column), []).append(i)
    for members in by_size.values():
        resampled = bootstrap_means(np.hstack([columns[i] for i in members]), n_boot, seed)
        at = 0
        for i in members:
            width = columns[i].shape[1]
            block = resampled[:, at : at + width]
            at += width
            draws = block[:, 0] if width == 1 else block[:, 0] / block[:, 1]
            low, high = percentile_bounds(draws, confidence)
            # The p-value that inverts the percentile interval: twice the smaller tail beyond 0 (+1: never 0).
            tail = min(int(np.sum(draws <= 0)), int(np.sum(draws >= 0)))
            out[i] = (float(low), float(high), min(1.0, 2 * (tail + 1) / (n_boot + 1)))
    return out


def _compare_pair(a: pd.Series, b: pd.Series, data: _Data, interval: str, confidence: float) -> dict[str, Any]:
    from assay.stats.paired import paired_diff

    if interval == "bootstrap":
        common = a.index.intersection(b.index, sort=False)
        if len(common) < 2:
            raise DataError(f"only {len(common)} item(s) common to both models; a paired comparison needs at least 2")
        d = a.loc[common].to_numpy(dtype=float) - b.loc[common].to_numpy(dtype=float)
        labels = None if data.clusters is None else data.clusters.loc[common].to_numpy(dtype=object)
        n_clusters = None if labels is None else len(set(labels))
        # The interval and p come from _bootstrap, with the other pairs of the specification.
        return dict(
            diff=float(d.mean()),
            test="bootstrap",
            n=len(d),
            n_clusters=n_clusters,
            ci_method=BOOTSTRAP_METHOD,
            resample=(d, labels),
        )
    test = "paired-t" if interval == "paired-t" or data.multi_sample else "auto"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the same caveat under every specification; see the notes
        r = paired_diff(a, b, clusters=data.clusters, confidence=confidence, test=test)
    return dict(
        diff=r.diff,
        low=r.low,
        high=r.high,
        p=r.p_value,
        test=r.test,
        n=r.n,
        n_clusters=r.n_clusters,
        ci_method=r.ci_method,
    )


def multiverse(
    sources,
    *,
    spec: dict[str, Any] | str | Path | None = None,
    metric: str | None = None,
    choices: dict[str, list] | None = None,
    confidence: float = 0.95,
    correction: str = "holm",
    seed: int | None = 0,
    n_boot: int = 2000,
) -> MultiverseResult:
    """Every pairwise comparison of the models in ``sources`` under every specification of the analysis
    choices that apply (see the module's docstring), with the share of specifications behind each conclusion.

    ``sources``: run directories, score files or DataFrames (as ``compare``; runs of one task, possibly
    at several few-shot counts). ``spec``: the pre-registered choices (a dict, or a JSON file as
    ``--spec``), marked in each curve and reported first. ``metric``: compare on this metric only
    (``--metric``). ``choices``: keep only these values of some dimensions
    (``{"interval": ["auto", "paired-t"]}``).
    ``correction`` adjusts p-values over the pairs of each specification; ``seed`` and ``n_boot`` are the
    bootstrap's.
    """
    check_confidence(confidence)
    if correction not in CORRECTIONS:
        raise ConfigError(f"correction {correction!r} is not known; choose one of {', '.join(CORRECTIONS)}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise ConfigError(f"n_boot {n_boot!r}: give a whole number of resamples, 100 or more (e.g. 2000)")
    notes: list[str] = []
    universe = _universe(_load(sources, notes), notes)
    if metric is not None:
        _restrict(universe, {"metric": [metric]}, "--metric")
    _restrict(universe, choices, "choices")
    raw_spec = None
    if spec is not None:
        where = "--spec" if isinstance(spec, dict) else f"--spec {spec}"
        raw_spec = spec if isinstance(spec, dict) else read_spec(spec)
        _resolve_spec(universe, raw_spec, where, [])  # a choice that does not apply fails before any work

    # The data under each combination of the data choices; the interval choice only changes the test.
    data_dims = [d for d in universe.dimensions if d != "interval"]
    data_specs = [
        dict(zip(data_dims, values)) for values in itertools.product(*(universe.dimensions[d] for d in data_dims))
    ]
    datas = [_data(universe, s) for s in data_specs]
    intervals = universe.dimensions.get("interval")
    if intervals is not None and "auto" in intervals and not any(d.exact_applies for d in datas):
        # Without 0/1 scores of independent items, auto is the t interval: the same specification twice.
        intervals.remove("auto")
        notes.append(
            "interval auto is the paired t interval on these scores (they are not 0/1 scores of independent items "
            "with one sample each), so it is not a choice of its own"
        )
        if len(intervals) == 1:
            universe.fixed["interval"] = universe.dimensions.pop("interval")[0]
            universe.why["interval"] = "one interval method applies"

    preregistered = None if raw_spec is None else _resolve_spec(universe, raw_spec, where, notes)

    # Models best first by their mean over the specifications, so that a - b is mostly positive.
    models = sorted(
        {m for d in datas for m in d.means},
        key=lambda m: (-np.mean([d.means[m].mean() for d in datas if m in d.means]), m),
    )
    if len(models) < 2:
        raise DataError(f"--multiverse compares pairs of models; the sources hold {len(models)} ({', '.join(models)})")
    pairs = {pair: [] for pair in itertools.combinations(models, 2)}
    alpha = 1 - confidence
    interval_values = universe.dimensions.get("interval") or [universe.fixed["interval"]]
    boot = n_boot
    if "bootstrap" in interval_values and correction != "none":
        # A bootstrap p-value is at least 2/(B+1); adjusted over m pairs it must still be able to fall below
        # alpha, or the bootstrap could never conclude: B >= 4m/alpha keeps that floor at alpha/2 or less.
        boot = max(n_boot, int(np.ceil(4 * len(pairs) / alpha)))
        if boot > n_boot:
            notes.append(
                f"the bootstrap draws {boot} resamples (not {n_boot}) so that its smallest p-value, adjusted over "
                f"{len(pairs)} pairs, can fall below {alpha:g}"
            )
    not_compared: dict[tuple[str, str], str] = {}
    few_clusters = set()
    for choice, data in zip(data_specs, datas):
        for interval in interval_values:
            full = {**choice, "interval": interval} if "interval" in universe.dimensions else dict(choice)
            full = {d: full[d] for d in universe.dimensions}
            found = []
            for a, b in pairs:
                if a not in data.means or b not in data.means:
                    found.append((a, b, None, "a model has no scores under this specification"))
                    continue
                try:
                    r = _compare_pair(data.means[a], data.means[b], data, interval, confidence)
                except DataError as exc:
                    found.append((a, b, None, str(exc)))
                    continue
                if r["n_clusters"] is not None and r["n_clusters"] < FEW_CLUSTERS:
                    few_clusters.add(r["n_clusters"])
                found.append((a, b, r, None))
            waiting = [r for _, _, r, _ in found if r is not None and "resample" in r]
            for r, (low, high, p) in zip(
                waiting, _bootstrap([r.pop("resample") for r in waiting], confidence, boot, seed)
            ):
                r.update(low=low, high=high, p=p)
            adjusted = adjust_pvalues([r["p"] if r else np.nan for _, _, r, _ in found], correction)
            for (a, b, r, error), p_adj in zip(found, adjusted):
                if r is None:
                    not_compared.setdefault((a, b), error)
                    pairs[(a, b)].append(
                        SpecEstimate(
                            full,
                            None,
                            None,
                            None,
                            None,
                            None,
                            None,
                            0,
                            None,
                            "not compared",
                            error=error,
                            confidence=confidence,
                        )
                    )
                    continue
                significant = bool(p_adj < alpha)
                conclusion = "neither" if not significant or r["diff"] == 0 else ("a" if r["diff"] > 0 else "b")
                pairs[(a, b)].append(
                    SpecEstimate(
                        full,
                        r["diff"],
                        r["low"],
                        r["high"],
                        r["p"],
                        float(p_adj),
                        r["test"],
                        r["n"],
                        r["n_clusters"],
                        conclusion,
                        preregistered=preregistered is not None and full == preregistered,
                        confidence=confidence,
                        ci_method=r["ci_method"],
                    )
                )
    for (a, b), error in not_compared.items():
        notes.append(f"{a} vs {b}: not compared under some specification(s) ({error})")
    if few_clusters:
        notes.append(
            f"some specifications rest on only {min(few_clusters)} cluster(s); a cluster-robust or cluster-bootstrap "
            f"interval is itself uncertain with fewer than {FEW_CLUSTERS}"
        )
    result_pairs = []
    for (a, b), curve in pairs.items():
        # Sorted by the estimate (ties by the order of the specifications); not compared last.
        order = sorted(range(len(curve)), key=lambda i: (curve[i].diff is None, curve[i].diff or 0.0, i))
        result_pairs.append(PairMultiverse(a, b, [curve[i] for i in order]))
    return MultiverseResult(
        dimensions=dict(universe.dimensions),
        fixed=dict(universe.fixed),
        models=models,
        pairs=result_pairs,
        preregistered=preregistered,
        confidence=confidence,
        correction=correction,
        n_boot=int(boot),
        seed=seed,
        notes=notes,
    )
