"""pass@k, coverage curves and majority vote under repeated sampling.

* ``pass_at_k(n, c, k)``: the unbiased estimator of Chen et al. (2021),
  1 - C(n-c, k) / C(n, k), the chance that at least one of k samples drawn
  without replacement from the n observed ones passes. Computed as a sum of
  log1p terms, so that n in the thousands neither overflows nor cancels.
* ``aggregate_pass_at_k``: the mean over items with a percentile bootstrap
  interval over items (items are the unit of sampling; the samples within an
  item are already averaged exactly by the estimator). Where the bootstrap
  would collapse or is known to undercover, the interval is the Jeffreys
  interval over items instead (see ``_jeffreys_over_items``); each value says
  which it got.
* ``coverage_curve``: pass@k on a log grid of k with the exponentiated power
  law of Brown et al. (2024), log C(k) ≈ a·k^b, fitted as a straight line of
  log(-log C) against log k, and its extrapolation beyond the samples drawn.
* ``majority_vote_curve``: accuracy of the most common answer among k samples,
  which plateaus where coverage keeps climbing.
* ``passk_report``: all of the above per model from a long table of scores.

The PassUntil rule (K, B) to report for a run, checked against the rule the run
was sampled with, is ``assay.run.pass_until.resolve_pass_until``: it reads the
run's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from assay.errors import ConfigError, DataError
from assay.jsonable import jsonable
from assay.stats.binary import proportion_interval
from assay.stats.bootstrap import Interval, bootstrap_means, check_level, percentile_bounds

# The k values `assay passk` reports when none are asked for; those above the
# samples drawn per item are left out (with a warning) rather than refused.
DEFAULT_KS = (1, 10, 100)

if TYPE_CHECKING:
    import pandas as pd


def _as_int_array(value: Any, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise DataError(f"{name} must hold whole numbers, got {value!r}")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise DataError(f"{name} must hold whole numbers, got {value!r}")
    return arr.astype(np.int64)


def pass_at_k(n: Any, c: Any, k: Any) -> Any:
    """Unbiased pass@k from n samples of which c passed (Chen et al. 2021).

    Broadcasts over arrays of n, c and k; returns a float for scalar input.
    Raises ``ConfigError`` when k is outside 1..n and ``DataError`` when c is
    outside 0..n.
    """
    n_arr, c_arr, k_arr = np.broadcast_arrays(_as_int_array(n, "n"), _as_int_array(c, "c"), _as_int_array(k, "k"))
    if np.any(n_arr < 1):
        raise DataError(f"n (samples per item) must be at least 1, got {n!r}")
    if np.any((c_arr < 0) | (c_arr > n_arr)):
        raise DataError(f"c (passes) must lie in 0..n, got c={c!r} with n={n!r}")
    bad = (k_arr < 1) | (k_arr > n_arr)
    if np.any(bad):
        first = np.flatnonzero(bad.ravel())[0]
        raise ConfigError(
            f"k={int(k_arr.ravel()[first])} needs 1 <= k <= n, but n={int(n_arr.ravel()[first])} "
            "samples per item were drawn; choose k no larger than the samples per item"
        )
    # C(n-c, k) / C(n, k) = prod_{i=n-c+1..n} (1 - k/i) = prod_{j=0..k-1} (1 - c/(n-j)).
    # Summing log1p of whichever product is shorter keeps full precision for n
    # in the thousands (differences of log-gamma values lose ~8 digits there).
    triples = np.stack([n_arr.ravel(), c_arr.ravel(), k_arr.ravel()], axis=1)
    unique, inverse = np.unique(triples, axis=0, return_inverse=True)
    values = np.empty(len(unique))
    for row, (n_i, c_i, k_i) in enumerate(unique):
        if n_i - c_i < k_i:
            values[row] = 1.0  # every k-subset contains a pass
        elif c_i <= k_i:
            values[row] = -np.expm1(np.sum(np.log1p(-k_i / np.arange(n_i - c_i + 1, n_i + 1))))
        else:
            values[row] = -np.expm1(np.sum(np.log1p(-c_i / np.arange(n_i - k_i + 1, n_i + 1))))
    # + 0.0 turns the -0.0 of c = 0 (-expm1(0)) into 0.0: it prints as "-0" otherwise.
    value = np.clip(values[inverse.ravel()].reshape(n_arr.shape), 0.0, 1.0) + 0.0
    return float(value) if value.ndim == 0 else value


BOOTSTRAP_METHOD = "unbiased estimator (Chen et al. 2021); percentile bootstrap over items"


@dataclass
class PassAtK:
    """pass@k averaged over items, with a bootstrap-over-items interval."""

    k: int
    value: float
    ci_low: float
    ci_high: float
    n_items: int
    confidence: float = 0.95
    n_boot: int = 2000
    method: str = BOOTSTRAP_METHOD
    interval: str = "bootstrap"  # or "jeffreys" (see ``method``)
    note: str | None = None  # why the interval is not the bootstrap, when it matters

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "k": self.k,
                "value": self.value,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "n_items": self.n_items,
                "confidence": self.confidence,
                "n_boot": self.n_boot,
                "interval": self.interval,
                "method": self.method,
                "note": self.note,
            }
        )

    def to_interval(self) -> Interval:
        return Interval(self.value, self.ci_low, self.ci_high, self.confidence, self.method, self.n_items)

    def render(self) -> str:
        return (
            f"pass@{self.k} = {self.value:.4f} "
            f"[{self.ci_low:.4f}, {self.ci_high:.4f}] ({self.confidence:.0%}, {self.n_items} items, {self.interval})"
        )


def _item_counts(n: Any, c: Any) -> tuple[np.ndarray, np.ndarray]:
    n_arr = np.atleast_1d(_as_int_array(n, "n"))
    c_arr = np.atleast_1d(_as_int_array(c, "c"))
    n_arr, c_arr = np.broadcast_arrays(n_arr, c_arr)
    if n_arr.ndim != 1 or n_arr.size == 0:
        raise DataError(f"need one (n, c) pair per item, got n={n!r}, c={c!r}")
    return n_arr, c_arr


def aggregate_pass_at_k_many(
    n: Any,
    c: Any,
    ks: Sequence[int],
    *,
    seed: int = 0,
    n_boot: int = 2000,
    confidence: float = 0.95,
) -> list[PassAtK]:
    """``aggregate_pass_at_k`` for several k, sharing one set of item resamples."""
    check_level(confidence)
    if n_boot < 1:
        raise ConfigError(f"n_boot must be at least 1, got {n_boot!r}")
    n_arr, c_arr = _item_counts(n, c)
    ks = [int(k) for k in ks]
    per_item = np.column_stack([pass_at_k(n_arr, c_arr, k) for k in ks])
    draws = bootstrap_means(per_item, n_boot, seed)
    results = []
    for j, k in enumerate(ks):
        values = per_item[:, j]
        jeffreys = _jeffreys_over_items(values, k, confidence)
        if jeffreys is None:
            low, high = map(float, percentile_bounds(draws[:, j], confidence))
            extra: dict[str, Any] = {}
        else:
            low, high, method, note = jeffreys
            extra = {"method": method, "interval": "jeffreys", "note": note}
        results.append(
            PassAtK(
                k=k,
                value=float(values.mean()),
                ci_low=low,
                ci_high=high,
                n_items=int(n_arr.size),
                confidence=confidence,
                n_boot=n_boot,
                **extra,
            )
        )
    return results


def _jeffreys_over_items(values: np.ndarray, k: int, confidence: float) -> tuple[float, float, str, str | None] | None:
    """The Jeffreys interval over items where the bootstrap is the wrong tool, else None.

    * Every item's pass@k is 0 or 1 (one sample per item at k=1, every item
      all-pass or all-fail, or k equal to the samples drawn): the item values
      are Bernoulli-like and the interval is the Jeffreys one for x of m items,
      the interval ``assay run`` reports for binary item scores. The percentile
      bootstrap undercovers near 0 and 1 and collapses to [0, 0] (or [1, 1])
      when every item fails (passes).
    * Every item has the same pass@k v strictly between 0 and 1: the bootstrap
      collapses to [v, v]. The m values are treated as Bernoulli trials with
      m·v successes, conservative because no value in [0, 1] with mean v has a
      larger variance than a Bernoulli one.

    The item count m, not the pooled samples, is used: items are the unit of
    sampling, and when every item fails the chance of that is at most
    (1 - pass@k)^m whatever the spread of the items' pass rates, whereas pooling
    the samples would assume every item has the same pass rate.
    Returns (low, high, method, note); the note is set when every item agrees.
    """
    m = values.size
    binary = bool(np.all((values == 0.0) | (values == 1.0)))
    identical = bool(np.ptp(values) == 0.0)
    if not (binary or identical):
        return None
    successes = float(values.sum()) if binary else float(values[0]) * m
    _, low, high = proportion_interval("beta", successes, m, confidence)
    value = float(values.mean())
    shown = f"{successes:g}" if binary else f"{m} × {value:.4g}"
    if binary:
        method = (
            f"unbiased estimator (Chen et al. 2021); every item's pass@{k} is 0 or 1, so the interval is the "
            f"Jeffreys interval for {shown} of {m} items (the percentile bootstrap undercovers such data)"
        )
    else:
        method = (
            f"unbiased estimator (Chen et al. 2021); every item's pass@{k} is {value:.4g}, so the Jeffreys interval "
            f"for {shown} successes in {m} items stands in for the bootstrap, which would have no width"
        )
    note = None
    if identical:
        what = {0.0: "fails", 1.0: "passes"}.get(value, f"has pass@{k} = {value:.4g}")
        note = (
            f"pass@{k}: every one of the {m} items {what}, so a bootstrap over items would give the zero-width "
            f"interval [{value:.4g}, {value:.4g}]; reported instead: the Jeffreys interval over the {m} items "
            f"[{low:.4f}, {high:.4f}]"
        )
    return float(low), float(high), method, note


def aggregate_pass_at_k(
    n: Any,
    c: Any,
    k: int,
    *,
    seed: int = 0,
    n_boot: int = 2000,
    confidence: float = 0.95,
) -> PassAtK:
    """Mean pass@k over items (``n[i]`` samples, ``c[i]`` passes) with a bootstrap interval."""
    return aggregate_pass_at_k_many(n, c, [k], seed=seed, n_boot=n_boot, confidence=confidence)[0]


def log_k_grid(n: int, points: int = 20) -> np.ndarray:
    """Integers from 1 to n spaced evenly in log k (always including 1 and n)."""
    if n < 1:
        raise ConfigError(f"the k grid needs n >= 1 samples per item, got n={n}")
    grid = np.unique(np.round(np.geomspace(1, n, num=max(points, 2))).astype(np.int64))
    return np.unique(np.concatenate([[1], grid, [n]]))


@dataclass
class CoverageFit:
    """Exponentiated power law log C(k) = a·k^b (Brown et al. 2024).

    Fitted by least squares of log(-log C) on log k over grid points with
    0 < C < 1; ``r2`` is measured in that transformed space.
    """

    a: float | None
    b: float | None
    r2: float | None
    n_points: int
    extrapolation: dict[int, float] = field(default_factory=dict)
    note: str | None = None
    method: str = "least squares of log(-log C(k)) on log k"

    def predict(self, k: Any) -> Any:
        """Coverage predicted at k (array or scalar)."""
        if self.a is None or self.b is None:
            raise ConfigError("the coverage fit failed, so it cannot predict: " + (self.note or ""))
        k_arr = np.asarray(k, dtype=float)
        value = np.exp(self.a * k_arr**self.b)
        return float(value) if value.ndim == 0 else value

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "a": self.a,
                "b": self.b,
                "r2": self.r2,
                "n_points": self.n_points,
                "extrapolation": {str(k): v for k, v in self.extrapolation.items()},
                "note": self.note,
                "method": self.method,
            }
        )

    def render(self) -> str:
        if self.a is None:
            return f"coverage fit: none ({self.note})"
        extra = ", ".join(f"C({k})≈{v:.3f}" for k, v in self.extrapolation.items())
        return f"coverage fit: log C(k) = {self.a:.4g}·k^{self.b:.4g} (R²={self.r2:.3f}); {extra}"


def fit_coverage(ks: Any, coverage: Any, *, extrapolate_to: Sequence[int] = ()) -> CoverageFit:
    """Fit log C(k) = a·k^b to a coverage curve and extrapolate to ``extrapolate_to``.

    Points with coverage 0 or 1 carry no information in log(-log C) and are
    dropped; fewer than two usable points leave a and b as ``None``.
    """
    k_arr = np.asarray(ks, dtype=float)
    c_arr = np.asarray(coverage, dtype=float)
    usable = (c_arr > 0) & (c_arr < 1) & np.isfinite(c_arr)
    n_points = int(usable.sum())
    if n_points < 2:
        return CoverageFit(
            a=None,
            b=None,
            r2=None,
            n_points=n_points,
            note="fewer than two grid points with 0 < coverage < 1",
        )
    x = np.log(k_arr[usable])
    y = np.log(-np.log(c_arr[usable]))
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (intercept + slope * x)
    total = np.sum((y - y.mean()) ** 2)
    r2 = 1.0 - float(np.sum(residual**2)) / float(total) if total > 0 else 1.0
    fit = CoverageFit(a=-float(np.exp(intercept)), b=float(slope), r2=r2, n_points=n_points)
    fit.extrapolation = {int(k): float(fit.predict(int(k))) for k in extrapolate_to}
    return fit


@dataclass
class CoverageCurve:
    """Coverage (mean pass@k over items) on a log grid of k, with its fit."""

    ks: list[int]
    coverage: list[float]
    fit: CoverageFit
    n_items: int

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"k": self.ks, "coverage": self.coverage, "n_items": self.n_items, "fit": self.fit.to_dict()})

    def render(self) -> str:
        points = ", ".join(f"{k}:{v:.3f}" for k, v in zip(self.ks, self.coverage))
        return f"coverage over {self.n_items} items: {points}\n{self.fit.render()}"


def coverage_curve(
    n: Any,
    c: Any,
    *,
    ks: Sequence[int] | None = None,
    points: int = 20,
    extrapolate_factors: Sequence[int] = (10, 100),
) -> CoverageCurve:
    """Coverage for k on a log grid up to the smallest n over items, fitted and extrapolated.

    The fit is extrapolated to k = factor × (largest k) for each factor.
    """
    n_arr, c_arr = _item_counts(n, c)
    grid = log_k_grid(int(n_arr.min()), points) if ks is None else np.asarray(ks, dtype=np.int64)
    cov = np.array([float(np.mean(pass_at_k(n_arr, c_arr, int(k)))) for k in grid])
    k_max = int(grid.max())
    fit = fit_coverage(grid, cov, extrapolate_to=[k_max * f for f in extrapolate_factors])
    return CoverageCurve(ks=[int(k) for k in grid], coverage=cov.tolist(), fit=fit, n_items=int(n_arr.size))


@dataclass
class MajorityVoteCurve:
    """Expected accuracy of the most common answer among k samples."""

    ks: list[int]
    accuracy: list[float]
    n_items: int
    n_draws: int
    method: str = (
        "Monte Carlo over k-subsets drawn without replacement; ties split evenly; "
        "samples without an answer cast no vote"
    )
    votes_on: str = "answers"  # what the samples voted with: "answers" or "normalised output text"

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "k": self.ks,
                "accuracy": self.accuracy,
                "n_items": self.n_items,
                "n_draws": self.n_draws,
                "votes_on": self.votes_on,
                "method": self.method,
            }
        )

    def render(self) -> str:
        points = ", ".join(f"{k}:{v:.3f}" for k, v in zip(self.ks, self.accuracy))
        return f"majority vote over {self.n_items} items: {points}"


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and pd.NA
    except TypeError:  # pd.NA refuses bool()
        return True


def vote_key(answer: Any) -> str | None:
    """What a sample votes for, or None when it gives no answer.

    Numbers vote by value (``1,000``, ``1000`` and ``1000.0`` agree, as the
    numeric scorer would have it); other text votes in its normalised form
    (case, punctuation, articles and spacing folded, as the string scorers
    compare), or as given when normalising leaves nothing. Missing answers and
    the scorers' "found nothing" details ("no number", "no match", "matched ...
    but no group captured") cast no vote.
    """
    from assay.tasks.scorers import gave_no_answer
    from assay.tasks.scorers.normalize import normalize_answer
    from assay.tasks.scorers.numeric import to_fraction

    if _missing(answer):
        return None
    text = str(answer).strip()
    if not text or gave_no_answer(text):
        return None
    number = to_fraction(text) if any(ch.isdigit() for ch in text) else None
    if number is not None:
        return f"= {number}"
    return normalize_answer(text) or text


def _majority_item(
    codes: np.ndarray, correct: np.ndarray, ks: np.ndarray, n_draws: int, rng: np.random.Generator
) -> np.ndarray:
    """Majority-vote accuracy of one item for each k.

    ``codes``: the answer index of each sample (-1 = no answer); ``correct``:
    whether each answer index is right.
    """
    n = codes.size
    n_answers = correct.size
    if n_answers == 0:
        return np.zeros(ks.size)
    # Each row is a random order of the samples; its first k form a k-subset.
    order = np.argsort(rng.random((n_draws, n)), axis=1)
    shuffled = codes[order]
    out = np.empty(ks.size)
    rows = np.arange(n_draws)[:, None]
    for j, k in enumerate(ks):
        first = shuffled[:, :k]
        voted = first >= 0
        flat = (rows * n_answers + np.where(voted, first, 0))[voted]
        counts = np.bincount(flat, minlength=n_draws * n_answers).reshape(n_draws, n_answers)
        top = counts.max(axis=1, keepdims=True)
        winners = (counts == top) & (top > 0)
        n_winners = winners.sum(axis=1)
        right = (winners & correct[None, :]).sum(axis=1)
        out[j] = float(np.mean(np.where(n_winners > 0, right / np.maximum(n_winners, 1), 0.0)))
    return out


def majority_vote_curve(
    answers: Sequence[Sequence[Any]],
    scores: Sequence[Sequence[float]],
    *,
    ks: Sequence[int] | None = None,
    points: int = 20,
    n_draws: int = 200,
    seed: int = 0,
) -> MajorityVoteCurve:
    """Majority-vote accuracy versus k, averaged over items.

    ``answers[i]`` and ``scores[i]`` hold item i's samples. Answers vote by
    ``vote_key`` (numbers by value, text normalised). An answer counts as right
    when the samples giving it scored 1 on average at least one half (they
    agree when the scorer compares the answer with a target). Missing answers
    (None/NaN, or a scorer's "no number"/"no match") cast no vote; an item
    where nobody voted counts wrong. Raises ``DataError`` when no sample of any
    item has an answer, since the curve would then be 0 by construction.
    """
    if len(answers) != len(scores) or not answers:
        raise DataError("majority vote needs answers and scores for the same non-empty list of items")
    n_min = min(len(a) for a in answers)
    grid = log_k_grid(n_min, points) if ks is None else np.asarray(ks, dtype=np.int64)
    if grid.max() > n_min:
        raise ConfigError(f"k={int(grid.max())} exceeds n={n_min} samples per item")
    rng = np.random.default_rng(seed)
    votes = []
    for item_answers, item_scores in zip(answers, scores):
        if len(item_answers) != len(item_scores):
            raise DataError("each item needs one score per answer")
        votes.append([vote_key(a) for a in item_answers])
    if not any(v is not None for item_votes in votes for v in item_votes):
        raise DataError(
            "majority vote needs answers, but no sample has one (all missing, or the scorer found none); "
            "its accuracy would be 0 whatever the samples said"
        )
    per_item = []
    for item_votes, item_scores in zip(votes, scores):
        keys = sorted({v for v in item_votes if v is not None})
        index = {key: i for i, key in enumerate(keys)}
        codes = np.array([-1 if v is None else index[v] for v in item_votes], dtype=np.int64)
        s = np.asarray(item_scores, dtype=float)
        correct = np.array([np.nanmean(s[codes == i]) >= 0.5 for i in range(len(keys))], dtype=bool)
        per_item.append(_majority_item(codes, correct, grid, n_draws, rng))
    accuracy = np.mean(per_item, axis=0)
    return MajorityVoteCurve(
        ks=[int(k) for k in grid], accuracy=accuracy.tolist(), n_items=len(answers), n_draws=n_draws
    )


@dataclass
class ModelPassK:
    """One model's pass@k values, coverage curve and majority vote.

    ``majority_vote`` is None when it is not available; ``majority_vote_note``
    then says why (no answer column, or a scorer that stores no answers).
    """

    model: str
    n_items: int
    samples_min: int
    samples_max: int
    pass_at: list[PassAtK]
    coverage: CoverageCurve
    majority_vote: MajorityVoteCurve | None = None
    majority_vote_note: str | None = None


@dataclass
class PassKReport:
    """pass@k per model with intervals, coverage fits and majority vote.

    ``ks`` are the k values reported; ``requested_ks`` what was asked for (the
    defaults when ``ks_were_default``); ``warnings`` lists everything the
    reader should know, such as defaults left out and intervals that are not
    the bootstrap because it would collapse.
    """

    models: dict[str, ModelPassK]
    ks: list[int]
    confidence: float
    n_boot: int
    seed: int
    requested_ks: list[int] = field(default_factory=list)
    ks_were_default: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "models": {
                name: {
                    f"pass@{p.k}": {
                        "value": p.value,
                        "ci_low": p.ci_low,
                        "ci_high": p.ci_high,
                        "interval": p.interval,
                    }
                    for p in m.pass_at
                }
                for name, m in self.models.items()
            },
            "coverage_fit": {name: m.coverage.fit.to_dict() for name, m in self.models.items()},
            "coverage": {
                name: {"k": m.coverage.ks, "coverage": m.coverage.coverage} for name, m in self.models.items()
            },
            "majority_vote": {
                name: (m.majority_vote.to_dict() if m.majority_vote else None) for name, m in self.models.items()
            },
            "majority_vote_unavailable": {
                name: m.majority_vote_note for name, m in self.models.items() if m.majority_vote is None
            },
            "n_items": {name: m.n_items for name, m in self.models.items()},
            "samples_per_item": {name: {"min": m.samples_min, "max": m.samples_max} for name, m in self.models.items()},
            "ks": self.ks,
            "requested_ks": self.requested_ks,
            "ks_were_default": self.ks_were_default,
            "warnings": list(self.warnings),
            "method": {
                "estimator": "unbiased pass@k, 1 - C(n-c,k)/C(n,k) (Chen et al. 2021)",
                "interval": (
                    "percentile bootstrap over items; where every item's pass@k is 0 or 1 (or all equal) the "
                    "Jeffreys interval over items instead (each value's 'interval' says which)"
                ),
                "confidence": self.confidence,
                "n_boot": self.n_boot,
                "seed": self.seed,
                "coverage_fit": "log C(k) = a*k^b, least squares of log(-log C) on log k (Brown et al. 2024)",
            },
        }
        return jsonable(d)

    def render(self) -> str:
        lines = []
        for name, m in self.models.items():
            lines.append(f"{name}  ({m.n_items} items, {m.samples_min}-{m.samples_max} samples/item)")
            for p in m.pass_at:
                lines.append("  " + p.render())
            lines.append("  " + m.coverage.fit.render())
            if m.majority_vote is not None:
                mv = m.majority_vote
                basis = "" if mv.votes_on == "answers" else f" (votes on the {mv.votes_on})"
                lines.append(
                    f"  majority vote: {mv.accuracy[0]:.3f} at k={mv.ks[0]} → {mv.accuracy[-1]:.3f} at k={mv.ks[-1]}"
                    + basis
                )
            else:
                lines.append(f"  majority vote: n/a ({m.majority_vote_note})")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _binary_scores(values: np.ndarray, model: str) -> np.ndarray:
    bad = ~np.isin(values, (0.0, 1.0))
    if np.any(bad):
        raise DataError(f"pass@k needs scores of 0 (fail) or 1 (pass); model {model!r} has score {values[bad][0]!r}")
    return values


def _choose_ks(ks: Sequence[int] | None, scored: "pd.DataFrame") -> tuple[list[int], list[int], bool, list[str]]:
    """(ks to report, ks requested, whether they were the defaults, warnings).

    Explicit k values are all kept (a k above the samples drawn is refused
    later, per model). The defaults, ``DEFAULT_KS``, keep only the k values no
    larger than the fewest scored samples of any item of any model, and say
    which were left out.
    """
    requested = sorted({int(k) for k in (DEFAULT_KS if ks is None else ks)})
    if not requested:
        raise ConfigError("give at least one k, e.g. --k 1,10,100")
    if requested[0] < 1:
        raise ConfigError(f"k must be at least 1, got k={requested[0]}")
    default = ks is None
    if not default:
        return requested, requested, False, []
    counts = scored.groupby(["model", "item"], sort=True).size()
    n_min = int(counts.min())
    fewest = counts.idxmin()
    kept = [k for k in requested if k <= n_min]
    dropped = [k for k in requested if k > n_min]
    warnings = []
    if dropped:
        warnings.append(
            f"default k={', '.join(map(str, dropped))} left out: more than the {n_min} scored sample(s) of item "
            f"{fewest[1]!r} (model {fewest[0]!r}), the fewest of any item; ask for k <= {n_min} with --k, or draw "
            "more samples"
        )
    return kept, requested, True, warnings


def _majority_for_model(
    rows: "pd.DataFrame", ks: Sequence[int], *, n_draws: int, seed: int
) -> tuple[MajorityVoteCurve | None, str | None]:
    """One model's majority-vote curve, or (None, why not)."""
    if "answer" not in rows.columns and "output" not in rows.columns:
        return None, "the table has no answer column to vote with"
    ordered = rows.sort_values(["item", "sample"])
    votes_on = "answers"
    column = "answer"
    has_answers = "answer" in ordered.columns and any(vote_key(a) is not None for a in ordered["answer"])
    if not has_answers:
        if "output" not in ordered.columns:
            return None, (
                "the scorer stored no extracted answer for any sample (exact, contains and f1 store none), so "
                "the samples have nothing to vote with; score the run with numeric or regex:PATTERN for majority vote"
            )
        from assay.tasks.scorers.normalize import normalize_answer

        ordered = ordered.assign(
            _vote=[None if _missing(o) else normalize_answer(str(o)) or None for o in ordered["output"]]
        )
        column, votes_on = "_vote", "normalised output text"
        if ordered["_vote"].isna().all():
            return None, "no sample has an answer or any output text to vote with"
    grouped = ordered.groupby("item", sort=True)
    curve = majority_vote_curve(
        [g[column].tolist() for _, g in grouped],
        [g["score"].tolist() for _, g in grouped],
        ks=ks,
        n_draws=n_draws,
        seed=seed,
    )
    curve.votes_on = votes_on
    if votes_on != "answers":
        curve.method += "; the scorer stored no answers, so samples vote with their normalised output text"
    return curve, None


def passk_report(
    frame: "pd.DataFrame",
    ks: Sequence[int] | None = None,
    *,
    seed: int = 0,
    n_boot: int = 2000,
    confidence: float = 0.95,
    points: int = 20,
    n_draws: int = 200,
) -> PassKReport:
    """pass@k for each model in a long table of scores.

    ``frame`` has columns ``model``, ``item``, ``sample``, ``score`` (1 = pass,
    0 = fail) and optionally ``answer`` (what the scorer extracted) and
    ``output`` (the model's text) for majority vote. Samples vote with their
    answers; when a model's samples carry none (the exact scorer stores none)
    they vote with their normalised output text if the frame has it, and
    otherwise majority vote is reported as not available, with the reason.
    Rows with a missing score (requests that errored are never scored) are
    left out, so items may have different sample counts.

    ``ks=None`` means ``DEFAULT_KS`` (1, 10, 100) where possible: the k values
    larger than the fewest scored samples of any item are left out, with a
    warning. The same holds for that exact list, since ``assay passk`` passes it
    when ``--k`` is not given. Any other k larger than the samples drawn is a
    ``ConfigError``.
    """
    required = {"model", "item", "sample", "score"}
    missing = required - set(frame.columns)
    if missing:
        raise DataError(f"pass@k table lacks column(s) {sorted(missing)}; it needs model, item, sample, score")
    check_level(confidence)
    scored = frame[frame["score"].notna()]
    if scored.empty:
        raise DataError("pass@k table has no scored samples")
    ks, requested, default, warnings = _choose_ks(ks, scored)
    models: dict[str, ModelPassK] = {}
    for model, rows in scored.groupby("model", sort=True):
        scores = _binary_scores(rows["score"].to_numpy(dtype=float), str(model))
        rows = rows.assign(score=scores)
        per_item = rows.groupby("item", sort=True)["score"].agg(["size", "sum"])
        n = per_item["size"].to_numpy(dtype=np.int64)
        c = per_item["sum"].to_numpy().round().astype(np.int64)
        n_min = int(n.min())
        if ks[-1] > n_min:
            fewest = per_item.index[int(np.argmin(n))]
            raise ConfigError(
                f"k={ks[-1]} exceeds n={n_min}, the fewest scored samples of any item (item {fewest!r}) "
                f"for model {model!r}; use k <= {n_min} or draw more samples"
            )
        pass_at = aggregate_pass_at_k_many(n, c, ks, seed=seed, n_boot=n_boot, confidence=confidence)
        warnings += [f"model {model!r}: {p.note}" for p in pass_at if p.note]
        curve = coverage_curve(n, c, points=points)
        majority, note = _majority_for_model(rows, curve.ks, n_draws=n_draws, seed=seed)
        models[str(model)] = ModelPassK(
            model=str(model),
            n_items=int(n.size),
            samples_min=n_min,
            samples_max=int(n.max()),
            pass_at=pass_at,
            coverage=curve,
            majority_vote=majority,
            majority_vote_note=note,
        )
    return PassKReport(
        models=models,
        ks=ks,
        confidence=confidence,
        n_boot=n_boot,
        seed=seed,
        requested_ks=requested,
        ks_were_default=default,
        warnings=warnings,
    )
