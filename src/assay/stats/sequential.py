"""Sequential paired comparisons: stop as soon as the answer is known, with an interval valid at any stopping time.

A t-test checked after every batch and stopped at the first p < 0.05 rejects a
true null far more often than 5% of the time: each look is another chance to
cross the line by luck. A *confidence sequence* is a sequence of intervals
that contain the true mean difference at every item count simultaneously, with
probability at least 1 - alpha, so it can be checked after every item and the
evaluation stopped whenever it excludes zero (or lies inside an equivalence
margin) without inflating the error rate.

The construction is the hedged betting confidence sequence of Waudby-Smith &
Ramdas (2023, "Estimating means of bounded random variables by betting"):

* paired differences ``d = a - b`` of scores in [0, 1] lie in [-1, 1]; they are
  rescaled to ``x = (d + 1) / 2`` in [0, 1] with mean ``m = (mu + 1) / 2``;
* for each candidate mean ``m`` (a grid), two gamblers bet that ``x`` is above
  (``K+``) or below (``K-``) ``m`` with predictable bet sizes (the plug-in rule
  of the paper, from the running variance of the items seen before); their
  average wealth ``(K+ + K-) / 2`` is a non-negative martingale starting at 1
  when ``m`` is the true mean, so by Ville's inequality it ever reaches
  ``1 / alpha`` with probability at most alpha;
* the interval after ``t`` items is every ``m`` whose wealth is below
  ``1 / alpha``, widened outward to the neighbouring grid points, and
  intersected with the earlier intervals (a running intersection stays valid).

Assumptions: each item's difference has the same conditional mean given the
items before it (items in a random order, drawn from the population the mean
refers to; the same superpopulation view as the paired t-test), and scores are
in [0, 1]. No normality, no variance assumption: the bounds are exact under
these conditions for any number of items and any stopping rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assay.errors import ConfigError, DataError
from assay.jsonable import jsonable

METHOD = "betting-cs"  # hedged betting confidence sequence (Waudby-Smith & Ramdas 2023)
GRID_POINTS = 2001  # candidate means over [-1, 1]: a 0.001 resolution on the difference
BET_CAP = 0.5  # largest fraction of wealth bet (c in the paper); keeps each factor at least 1 - c
DECISIONS = ("a", "b", "equivalent", "none")
MAX_LOOKS_SHOWN = 256  # looks kept in JSON; the library result keeps them all


def check_alpha(alpha: float) -> None:
    """Raise ``ConfigError`` unless 0 < alpha < 1."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ConfigError(f"alpha={alpha!r}; give an error rate strictly between 0 and 1, e.g. 0.05")


def _check_unit_scores(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    bad = ~np.isfinite(arr) | (arr < 0) | (arr > 1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{name}: score {arr[first]!r} at position {first} is outside [0, 1]; the confidence sequence needs "
            "bounded scores, so rescale them to [0, 1] (e.g. divide a 1-10 rating by 10)"
        )
    return arr


def betting_bounds(diffs, *, alpha: float = 0.05, grid_points: int = GRID_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the confidence sequence for the mean of ``diffs`` after each item.

    ``diffs`` is 1-d (one sequence of differences in [-1, 1]) or 2-d (one row per
    independent sequence, all of the same length: simulations run them at once).
    Returns arrays of the same shape: ``low[..., t]`` and ``high[..., t]`` bound the
    mean after ``t + 1`` items, and hold for every ``t`` at once with probability
    at least ``1 - alpha``.
    """
    check_alpha(alpha)
    d = np.asarray(diffs, dtype=float)
    single = d.ndim == 1
    d = np.atleast_2d(d)
    if d.size and (not np.all(np.isfinite(d)) or d.min() < -1 or d.max() > 1):
        raise DataError("differences must lie in [-1, 1] (scores in [0, 1]); rescale the scores first")
    if grid_points < 3:
        raise ConfigError(f"grid_points={grid_points}; give at least 3")
    x = (d + 1.0) / 2.0
    reps, n = x.shape
    grid = np.linspace(0.0, 1.0, grid_points)
    log_threshold = np.log(1.0 / alpha)
    log_plus = np.zeros((reps, grid_points))
    log_minus = np.zeros((reps, grid_points))
    # predictable running mean and variance with the paper's prior pseudo-observation (mean 1/2, variance 1/4)
    mean_hat = np.full(reps, 0.5)
    sum_x = np.zeros(reps)
    sum_sq = np.full(reps, 0.25)
    low = np.empty((reps, n))
    high = np.empty((reps, n))
    cur_low = np.zeros(reps)
    cur_high = np.ones(reps)
    with np.errstate(divide="ignore"):
        cap_plus = np.where(grid > 0, BET_CAP / grid, np.inf)
        cap_minus = np.where(grid < 1, BET_CAP / (1.0 - grid), np.inf)
    for t in range(1, n + 1):
        var_hat = sum_sq / t  # uses items 1..t-1 only (predictable)
        lam = np.sqrt(2.0 * np.log(2.0 / alpha) / (var_hat * t * np.log1p(t)))
        xt = x[:, t - 1]
        lam_plus = np.minimum(lam[:, None], cap_plus[None, :])
        lam_minus = np.minimum(lam[:, None], cap_minus[None, :])
        centred = xt[:, None] - grid[None, :]
        log_plus += np.log1p(lam_plus * centred)
        log_minus += np.log1p(-lam_minus * centred)
        wealth = np.logaddexp(log_plus, log_minus) + np.log(0.5)
        accepted = wealth < log_threshold
        any_accepted = accepted.any(axis=1)
        first = np.argmax(accepted, axis=1)
        last = grid_points - 1 - np.argmax(accepted[:, ::-1], axis=1)
        # the true mean may sit between grid points: widen to the rejected neighbours
        lo = grid[np.maximum(first - 1, 0)]
        hi = grid[np.minimum(last + 1, grid_points - 1)]
        if not any_accepted.all():
            # every grid point rejected: the mean lies between two of them; keep the least rejected one's cell
            best = np.argmin(wealth, axis=1)
            lo = np.where(any_accepted, lo, grid[np.maximum(best - 1, 0)])
            hi = np.where(any_accepted, hi, grid[np.minimum(best + 1, grid_points - 1)])
        cur_low = np.maximum(cur_low, lo)
        cur_high = np.minimum(cur_high, hi)
        low[:, t - 1] = cur_low
        high[:, t - 1] = cur_high
        sum_x += xt
        mean_hat = (0.5 + sum_x) / (t + 1)
        sum_sq += (xt - mean_hat) ** 2
    low, high = 2.0 * low - 1.0, 2.0 * high - 1.0
    return (low[0], high[0]) if single else (low, high)


def decide(low: float, high: float, margin: float | None) -> str:
    """The decision a look at [low, high] supports: "a" (a better), "b", "equivalent" or "none"."""
    if low > 0:
        return "a"
    if high < 0:
        return "b"
    if margin is not None and low > -margin and high < margin:
        return "equivalent"
    return "none"


@dataclass
class SequentialTest:
    """Where a paired comparison could stop, what it decides there, and the confidence sequence.

    ``looks``, ``low`` and ``high`` trace the sequence over every look (items
    seen after each batch) up to ``n_available``, beyond the stopping time too,
    so a plot shows how it narrows; ``low_at_stop``/``high_at_stop`` are the
    bounds when the decision was made (or after the last item).
    """

    n_available: int
    n_used: int
    decision: str
    diff_at_stop: float  # mean difference of the items used
    low_at_stop: float
    high_at_stop: float
    alpha: float
    batch: int
    margin: float | None
    looks: np.ndarray
    low: np.ndarray
    high: np.ndarray
    method: str = METHOD
    order_seed: int | None = None

    @property
    def fraction_used(self) -> float:
        return self.n_used / self.n_available if self.n_available else float("nan")

    def to_dict(self) -> dict:
        keep = np.unique(np.linspace(0, len(self.looks) - 1, min(len(self.looks), MAX_LOOKS_SHOWN)).astype(int))
        return jsonable(
            {
                "n_used": self.n_used,
                "n_available": self.n_available,
                "decision": self.decision,
                "diff": self.diff_at_stop,
                "cs_low": self.low_at_stop,
                "cs_high": self.high_at_stop,
                "alpha": self.alpha,
                "batch": self.batch,
                "margin": self.margin,
                "method": self.method,
                "order_seed": self.order_seed,
                "sequence": {
                    "n": self.looks[keep].tolist(),
                    "low": self.low[keep].tolist(),
                    "high": self.high[keep].tolist(),
                },
            }
        )

    def render(self) -> str:
        verdict = {
            "a": "a is better",
            "b": "b is better",
            "equivalent": "equivalent within the margin",
            "none": "undecided",
        }[self.decision]
        return (
            f"{verdict} after {self.n_used} of {self.n_available} items: diff {self.diff_at_stop:+.4f}, "
            f"{1 - self.alpha:.0%} confidence sequence [{self.low_at_stop:+.4f}, {self.high_at_stop:+.4f}]"
        )


def sequential_test(
    a,
    b,
    *,
    alpha: float = 0.05,
    margin: float | None = None,
    batch: int = 1,
    grid_points: int = GRID_POINTS,
    order_seed: int | None = None,
) -> SequentialTest:
    """Replay paired scores in the order given and stop at the first look that decides.

    ``a`` and ``b`` are the two models' scores in [0, 1] on the same items, in the
    order they were (or would be) run; the sequence is looked at after every
    ``batch`` items and after the last. It stops when the interval excludes 0
    ("a" or "b" better) or, with ``margin``, lies inside (-margin, margin)
    ("equivalent"). A runner that evaluates items in batches calls this on the
    scores seen so far and stops when ``decision != "none"``: the guarantee is
    the same however often it is called.
    """
    check_alpha(alpha)
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ConfigError(f"batch={batch!r}; give a whole number of items, 1 or more")
    if margin is not None and not (np.isfinite(margin) and 0 < margin <= 1):
        raise ConfigError(f"margin={margin!r}; give an equivalence margin on the score difference in (0, 1], e.g. 0.02")
    a = _check_unit_scores(a, "a")
    b = _check_unit_scores(b, "b")
    if len(a) != len(b):
        raise DataError(f"{len(a)} scores for a and {len(b)} for b; paired scores need one of each per item")
    n = len(a)
    if n < 1:
        raise DataError("no paired items; both models need scores on the same items")
    diffs = a - b
    low, high = betting_bounds(diffs, alpha=alpha, grid_points=grid_points)
    looks = np.unique(np.r_[np.arange(batch, n + 1, batch), n])
    look_low, look_high = low[looks - 1], high[looks - 1]
    stop = len(looks) - 1
    decision = "none"
    for i, (lo, hi) in enumerate(zip(look_low, look_high)):
        decision = decide(lo, hi, margin)
        if decision != "none":
            stop = i
            break
    n_used = int(looks[stop])
    return SequentialTest(
        n_available=n,
        n_used=n_used,
        decision=decision,
        diff_at_stop=float(diffs[:n_used].mean()),
        low_at_stop=float(look_low[stop]),
        high_at_stop=float(look_high[stop]),
        alpha=float(alpha),
        batch=int(batch),
        margin=margin,
        looks=looks,
        low=look_low,
        high=look_high,
        order_seed=order_seed,
    )


def naive_t_bounds(diffs, *, alpha: float = 0.05, min_n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The paired t interval recomputed after each item (the thing not to monitor): for comparisons.

    Shape as in ``betting_bounds``; NaN before ``min_n`` items and while every
    difference so far is equal (no variance estimate).
    """
    from scipy import stats

    d = np.atleast_2d(np.asarray(diffs, dtype=float))
    n = d.shape[1]
    t = np.arange(1, n + 1)
    csum = np.cumsum(d, axis=1)
    csq = np.cumsum(d * d, axis=1)
    mean = csum / t
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (csq - t * mean**2) / (t - 1)
        se = np.sqrt(np.maximum(var, 0) / t)
        q = stats.t.ppf(1 - alpha / 2, np.maximum(t - 1, 1))
        low = np.where((t >= min_n) & (se > 0), mean - q * se, np.nan)
        high = np.where((t >= min_n) & (se > 0), mean + q * se, np.nan)
    if np.asarray(diffs).ndim == 1:
        return low[0], high[0]
    return low, high


@dataclass
class SequentialPairs:
    """The sequential test of every pair (or every model against one), and whether all are decided."""

    pairs: dict[tuple[str, str], SequentialTest]
    alpha_per_pair: float

    @property
    def all_decided(self) -> bool:
        return all(t.decision != "none" for t in self.pairs.values())

    def to_dict(self) -> dict:
        return jsonable(
            {
                "all_decided": self.all_decided,
                "alpha_per_pair": self.alpha_per_pair,
                "pairs": [{"a": a, "b": b, **t.to_dict()} for (a, b), t in self.pairs.items()],
            }
        )

    def render(self) -> str:
        return "\n".join(f"{a} - {b}: {t.render()}" for (a, b), t in self.pairs.items())


def sequential_pairs(
    scores: dict[str, np.ndarray],
    *,
    alpha: float = 0.05,
    margin: float | None = None,
    batch: int = 1,
    against: str | None = None,
    split_alpha: bool = True,
) -> SequentialPairs:
    """The stopping rule for a run of several models on the same items in the same (random) order.

    ``scores`` maps each model to its scores on the items seen so far, in the
    order they were run (all of the same length). Every pair is tested, or each
    model against ``against``; with ``split_alpha`` alpha is divided over the
    pairs (Bonferroni) so that the whole set of decisions errs with probability
    at most alpha. A run stops when ``all_decided``.
    """
    check_alpha(alpha)
    names = list(scores)
    if len(names) < 2:
        raise ConfigError(f"{len(names)} model(s); a sequential comparison needs at least two")
    if against is not None and against not in scores:
        raise ConfigError(f"--against {against!r} is not among the models ({', '.join(names)})")
    if against is None:
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    else:
        pairs = [(against, b) for b in names if b != against]
    per_pair = alpha / len(pairs) if split_alpha else alpha
    return SequentialPairs(
        {(a, b): sequential_test(scores[a], scores[b], alpha=per_pair, margin=margin, batch=batch) for a, b in pairs},
        per_pair,
    )
