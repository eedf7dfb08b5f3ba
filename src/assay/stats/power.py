"""Planning: how many items a comparison needs, or what difference a benchmark can detect.

Designs (two-sided test at level ``alpha``):

- binary, unpaired: two proportions on separate item sets; Cohen's h with the
  normal power formula (statsmodels ``NormalIndPower``). ``n_items`` is per model.
- binary, paired: both models on the same items, the exact McNemar test that
  ``assay compare`` runs. Its power is enumerated exactly: the number of
  discordant items m ~ Bin(n, psi), a's share of them b | m ~ Bin(m, pi), and
  the test rejects when its exact p <= alpha; psi and pi follow from
  ``baseline``, ``mde`` and ``correlation`` (the phi correlation of the two
  models' item outcomes). The answer is the smallest n whose exact power
  reaches the target. Connor's (1987) normal-approximation formula is not
  used for the answer, because it falls short of the promised power (0.753
  instead of 0.80 at the 45 items it gives for baseline 0.3, mde 0.3, r 0);
  it remains ``method="analytic"`` and the fallback beyond
  ``EXACT_MAX_ITEMS``, where enumeration would take too long.
- continuous, unpaired: two-sample t-test, effect d = mde / sd
  (statsmodels ``TTestIndPower``).
- continuous, paired: one-sample t-test on per-item differences whose SD is
  sd·sqrt(2(1 - correlation)) (statsmodels ``TTestPower``).

``method="simulation"`` simulates the test for any design; the result always
says which method produced it ("analytic", "exact" or "simulation").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import optimize, stats
from statsmodels.stats.power import NormalIndPower

from assay.errors import ConfigError
from assay.jsonable import jsonable
from assay.stats._inputs import warn

METRIC_TYPES = ("binary", "continuous")
PLAN_METHODS = ("auto", "analytic", "simulation")
# Exact McNemar power costs O(n^1.5) to scan every n up to the answer (about 2 s at 66,000 items);
# above this many items (by Connor's formula) the plan falls back to that formula and says so.
EXACT_MAX_ITEMS = 100_000


@dataclass
class PlanResult:
    """A sample-size or minimum-detectable-effect calculation and the assumptions behind it."""

    solved_for: str  # "n_items" or "mde"
    n_items: int
    mde: float
    power: float
    alpha: float
    metric_type: str
    paired: bool
    baseline: float | None
    correlation: float
    sd: float | None
    method: str  # "analytic", "exact" or "simulation"
    formula: str
    n_simulations: int | None = None
    seed: int | None = None
    warnings: list[str] = field(default_factory=list)
    exact_power: float | None = None  # exact McNemar power at (n_items, mde); paired binary designs only

    def to_dict(self) -> dict:
        return jsonable(
            {
                "n_items": self.n_items,
                "mde": self.mde,
                "solved_for": self.solved_for,
                "method": self.method,
                "formula": self.formula,
                "exact_power": self.exact_power,
                "assumptions": {
                    "metric_type": self.metric_type,
                    "baseline": self.baseline,
                    "power": self.power,
                    "alpha": self.alpha,
                    "two_sided": True,
                    "paired": self.paired,
                    "correlation": self.correlation if self.paired else None,
                    "sd": self.sd,
                    "n_items_is": "items each model answers (the same items)"
                    if self.paired
                    else "items per model (separate item sets)",
                    "n_simulations": self.n_simulations,
                    "seed": self.seed,
                },
                "warnings": list(self.warnings),
            }
        )

    def render(self) -> str:
        design = f"paired (r={self.correlation:g})" if self.paired else "unpaired"
        base = f", baseline {self.baseline:g}" if self.baseline is not None else f", sd {self.sd:g}"
        head = (
            f"{self.n_items} items detect a difference of {self.mde:.4g} with power {self.power:.0%} "
            f"at alpha {self.alpha:g} (two-sided)"
        )
        exact = "" if self.exact_power is None else f"\n  exact McNemar power at these settings: {self.exact_power:.4f}"
        # the CLI silences Python's warnings, so the result shows its own
        notes = "".join(f"\n  warning: {message}" for message in self.warnings)
        return f"{head}\n  {self.metric_type}, {design}{base}; {self.method}: {self.formula}{exact}{notes}"


@dataclass
class _Design:
    metric_type: str
    paired: bool
    baseline: float | None
    correlation: float
    sd: float | None
    alpha: float
    power: float


def _check(metric_type, baseline, power, alpha, paired, correlation, sd, method) -> _Design:
    if metric_type not in METRIC_TYPES:
        raise ConfigError(f"metric type {metric_type!r} is not known; choose binary or continuous")
    if method not in PLAN_METHODS:
        raise ConfigError(f"method {method!r} is not known; choose one of {', '.join(PLAN_METHODS)}")
    if not 0 < power < 1:
        raise ConfigError(f"power={power!r}; give a probability strictly between 0 and 1, e.g. 0.8")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha={alpha!r}; give a level strictly between 0 and 1, e.g. 0.05")
    if not power > alpha:
        # With no difference at all a two-sided test already rejects with probability alpha.
        raise ConfigError(f"power={power!r} must be above alpha={alpha!r}; e.g. power 0.8 at alpha 0.05")
    if not -1 < correlation < 1:
        raise ConfigError(f"correlation={correlation!r}; give a value strictly between -1 and 1")
    if correlation and not paired:
        raise ConfigError(
            f"correlation={correlation!r} applies to paired designs only; add --paired "
            "(both models on the same items) or leave it out"
        )
    if metric_type == "binary":
        if baseline is None or not 0 < baseline < 1:
            raise ConfigError(
                f"baseline={baseline!r}; binary metrics need the baseline accuracy, strictly between 0 and 1"
            )
    else:
        if sd is None or not sd > 0:
            raise ConfigError(f"sd={sd!r}; continuous metrics need the SD of per-item scores (> 0)")
    return _Design(metric_type, paired, baseline, float(correlation) if paired else 0.0, sd, alpha, power)


def _cells(design: _Design, mde: float) -> tuple[float, float]:
    """Discordant-pair probabilities (p10: only baseline right, p01: only the other right)."""
    p1, p2 = design.baseline, design.baseline + mde
    p11 = p1 * p2 + design.correlation * math.sqrt(p1 * (1 - p1) * p2 * (1 - p2))
    if not max(0.0, p1 + p2 - 1) - 1e-12 <= p11 <= min(p1, p2) + 1e-12:
        raise ConfigError(
            f"correlation={design.correlation:g} is impossible for accuracies {p1:g} and {p2:g}; "
            "choose a smaller correlation"
        )
    return p1 - p11, p2 - p11


def _max_mde(design: _Design) -> float:
    return 1 - design.baseline if design.metric_type == "binary" else math.inf


def _check_mde(design: _Design, mde: float) -> None:
    if not mde > 0:
        raise ConfigError(f"mde={mde!r}; give the smallest difference worth detecting, > 0")
    if design.metric_type == "binary" and design.baseline + mde > 1:
        raise ConfigError(
            f"baseline {design.baseline:g} + mde {mde:g} exceeds 1; give an mde below {1 - design.baseline:g}"
        )


# ---- analytic ---------------------------------------------------------------------------------


# The fewest items a two-sample or paired test can run on.
MIN_ITEMS = 2
# Beyond this many items the analytic answer is not searched further (statsmodels' power functions stay accurate).
MAX_ANALYTIC_ITEMS = 1e12


def _t_power(d: float, n: float, paired: bool, alpha: float) -> float:
    """Power of the two-sided t-test at effect ``d`` with ``n`` items (per model):
    statsmodels' ``TTestPower``/``TTestIndPower`` formula, except that the lower
    tail, which scipy's noncentral t returns as NaN where it is below 1e-16
    (a large effect on few items), counts as 0 rather than making the power NaN."""
    df, nc = (n - 1, d * math.sqrt(n)) if paired else (2 * n - 2, d * math.sqrt(n / 2))
    upper = stats.nct.sf(stats.t.isf(alpha / 2, df), df, nc)
    lower = stats.nct.cdf(stats.t.ppf(alpha / 2, df), df, nc)
    return float(upper + (lower if math.isfinite(lower) else 0.0))


def _power_of(design: _Design) -> tuple[Callable[[float, float], float], float]:
    """The power function of a design that has one, ``f(effect, n)``, and the
    effect per unit of mde (1/SD for Cohen's d; 0 for Cohen's h, not linear in it)."""
    a = design.alpha
    if design.metric_type == "binary":
        return lambda h, n: float(NormalIndPower().power(effect_size=h, nobs1=n, alpha=a, ratio=1.0)), 0.0
    if design.paired:
        sd_diff = design.sd * math.sqrt(2 * (1 - design.correlation))
        return lambda d, n: _t_power(d, n, True, a), 1 / sd_diff
    return lambda d, n: _t_power(d, n, False, a), 1 / design.sd


def _solve_n(power_at, target: float) -> float:
    """Items (unrounded, at least MIN_ITEMS) at which ``power_at(n)`` reaches ``target``.

    Solved with brentq on the power function itself: statsmodels' ``solve_power``
    returns NaN when the answer is below its search start (a very large effect)."""
    if power_at(MIN_ITEMS) >= target:
        return float(MIN_ITEMS)
    high = 16.0
    while power_at(high) < target:
        high *= 16
        if high > MAX_ANALYTIC_ITEMS:
            raise ConfigError(
                f"no number of items up to {MAX_ANALYTIC_ITEMS:.0e} reaches power {target:g} for this difference"
            )
    return float(optimize.brentq(lambda n: power_at(n) - target, MIN_ITEMS, high, xtol=1e-10, rtol=1e-12))


def _solve_effect(power_at: Callable[[float], float], target: float, upper: float) -> float | None:
    """The effect (Cohen's d or h) at which ``power_at(effect)`` reaches ``target``, in
    (0, upper]; None when even ``upper`` falls short. Power rises with the effect,
    so a bracket holds one root, found by brentq: statsmodels' ``solve_power`` for
    the effect size sometimes returns a 1-element array or the negative root
    (paired n=73, 87, 92; unpaired n=139, 151 at alpha 0.05, power 0.8)."""
    if power_at(upper) < target:
        return None
    low, high = 0.0, min(upper, 1.0)
    while power_at(high) < target:  # the smallest power-of-two bracket: brentq then needs few steps
        low, high = high, min(upper, 2 * high)
    return float(optimize.brentq(lambda e: power_at(e) - target, low, high, xtol=1e-14, rtol=1e-13))


def _analytic_n(design: _Design, mde: float) -> tuple[float, str]:
    """Required items (unrounded) and the formula used."""
    a, power = design.alpha, design.power
    if design.metric_type == "binary" and not design.paired:
        h = 2 * math.asin(math.sqrt(design.baseline + mde)) - 2 * math.asin(math.sqrt(design.baseline))
        power_of, _ = _power_of(design)
        n = _solve_n(lambda n: power_of(h, n), power)
        return n, "two proportions, normal approximation on Cohen's h (arcsine)"
    if design.metric_type == "binary":
        p10, p01 = _cells(design, mde)
        psi = p10 + p01
        za, zb = stats.norm.ppf(1 - a / 2), stats.norm.ppf(power)
        n = (za * math.sqrt(psi) + zb * math.sqrt(psi - mde**2)) ** 2 / mde**2
        return float(n), "McNemar test, Connor (1987) normal approximation from the discordant-pair probability"
    power_of, per_unit = _power_of(design)
    n = _solve_n(lambda n: power_of(mde * per_unit, n), power)
    if not design.paired:
        return n, "two-sample t-test, d = mde / sd"
    return n, "paired t-test on per-item differences, SD(diff) = sd·sqrt(2(1-r))"


def _analytic_mde(design: _Design, n_items: int, upper: float) -> tuple[float, str]:
    """Detectable difference for ``n_items`` and the formula used (inverting the same formulas)."""
    power = design.power
    unreachable = ConfigError(
        f"{n_items} items cannot reach power {power:g} for any difference up to {upper:.4g}; add items or lower the power"
    )
    power_of, per_unit = _power_of(design)
    if design.metric_type == "binary" and not design.paired:
        # The largest h: the other model at (just below) accuracy 1.
        start = math.asin(math.sqrt(design.baseline))
        h = _solve_effect(
            lambda h: power_of(h, n_items), power, 2 * (math.asin(math.sqrt(design.baseline + upper)) - start)
        )
        if h is None:
            raise unreachable
        return math.sin(start + h / 2) ** 2 - design.baseline, _analytic_n(design, 0.01)[1]
    if design.metric_type == "binary":
        gap = lambda m: _analytic_n(design, m)[0] - n_items  # noqa: E731
        if gap(upper) > 0:
            raise unreachable
        return float(optimize.brentq(gap, 1e-9, upper, xtol=1e-12)), _analytic_n(design, upper)[1]
    d = _solve_effect(lambda d: power_of(d, n_items), power, upper * per_unit)
    if d is None:
        raise unreachable
    return d / per_unit, _analytic_n(design, d / per_unit)[1]


# ---- simulation -------------------------------------------------------------------------------


def _simulated_power(design: _Design, n: int, mde: float, n_simulations: int, seed) -> float:
    """Share of simulated benchmarks of ``n`` items on which the test rejects at ``alpha``."""
    rng = np.random.default_rng(seed)
    a = design.alpha
    if design.metric_type == "binary" and design.paired:
        p10, p01 = _cells(design, mde)
        cells = np.clip([p10, p01, 1 - p10 - p01], 0.0, 1.0)  # float rounding can leave -1e-17
        counts = rng.multinomial(n, cells / cells.sum(), size=n_simulations)
        b, c = counts[:, 0], counts[:, 1]
        # exact McNemar: two-sided binomial test of the discordant pairs against 1/2
        p = np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(b, c), b + c, 0.5))
        p[b + c == 0] = 1.0
        return float(np.mean(p <= a))
    if design.metric_type == "binary":
        p1, p2 = design.baseline, design.baseline + mde
        x1, x2 = rng.binomial(n, p1, n_simulations), rng.binomial(n, p2, n_simulations)
        pooled = (x1 + x2) / (2 * n)
        se = np.sqrt(pooled * (1 - pooled) * 2 / n)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, (x2 - x1) / n / se, 0.0)
        return float(np.mean(2 * stats.norm.sf(np.abs(z)) <= a))
    # Continuous: normal item scores, simulated through the sufficient statistics of the t-test.
    if design.paired:
        sd, df, scale = design.sd * math.sqrt(2 * (1 - design.correlation)), n - 1, 1 / n
    else:
        sd, df, scale = design.sd, 2 * n - 2, 2 / n
    mean = rng.normal(mde, sd * math.sqrt(scale), n_simulations)
    var = sd**2 * rng.chisquare(df, n_simulations) / df
    t = mean / np.sqrt(var * scale)
    return float(np.mean(2 * stats.t.sf(np.abs(t), df) <= a))


def _simulated_n(design: _Design, mde: float, n_simulations: int, seed, start: float) -> int:
    """Smallest n whose simulated power reaches the target (bisection; power rises with n)."""
    low, high = 2, max(4, int(math.ceil(start)))
    while _simulated_power(design, high, mde, n_simulations, seed) < design.power:
        low, high = high, high * 2
        if high > 10_000_000:
            raise ConfigError(f"no benchmark below 10 million items detects mde={mde:g}; give a larger mde")
    while high - low > 1:
        mid = (low + high) // 2
        if _simulated_power(design, mid, mde, n_simulations, seed) >= design.power:
            high = mid
        else:
            low = mid
    return high


# ---- exact McNemar power ----------------------------------------------------------------------
#
# The exact McNemar test on n items with b items only a gets right and c only b gets right is the
# two-sided binomial test of b ~ Bin(m, 1/2), m = b + c: p = min(1, 2·P(X <= min(b, c))), the same p
# as scipy's binomtest and statsmodels' mcnemar(exact=True) (the null is symmetric). So the test
# rejects exactly when min(b, c) <= k_m, the largest k with 2·P(X <= k) <= alpha, and its power is
#   sum_m P(M = m) · g(m),  M ~ Bin(n, psi),  g(m) = P(B <= k_m) + P(B >= m - k_m),  B ~ Bin(m, pi)
# with psi = p10 + p01 (discordant probability) and pi = p10 / psi.


def _rejection_bounds(m: np.ndarray, alpha: float) -> np.ndarray:
    """k_m for each m: the exact McNemar test rejects when min(b, c) <= k_m (-1: it never can)."""
    m = np.asarray(m, dtype=np.int64)
    guess = np.nan_to_num(stats.binom.ppf(alpha / 2, m, 0.5), nan=0.0).astype(np.int64)
    k = np.full(m.shape, -1, dtype=np.int64)
    # ppf's own rounding can be off by one; settle it with the same rule the comparison applies (p <= alpha)
    for candidate in (guess - 1, guess, guess + 1):
        ok = (candidate >= 0) & (np.minimum(1.0, 2 * stats.binom.cdf(candidate, m, 0.5)) <= alpha)
        k = np.where(ok, np.maximum(k, candidate), k)
    return k


def _conditional_power(m: np.ndarray, pi: float, alpha: float, k: np.ndarray | None = None) -> np.ndarray:
    """g(m) = P(the exact McNemar test rejects | m discordant items, a wins each with probability pi).

    ``k``: the rejection bounds of these m, when already known (they do not depend on pi).
    """
    m = np.asarray(m, dtype=np.int64)
    k = _rejection_bounds(m, alpha) if k is None else k
    # k_m < m/2 always (p = 1 at b = m/2), so the two tails do not overlap
    tails = stats.binom.cdf(k, m, pi) + stats.binom.sf(m - k - 1, m, pi)
    return np.where(k >= 0, tails, 0.0)


def _split(p10: float, p01: float) -> tuple[float, float]:
    p10, p01 = max(p10, 0.0), max(p01, 0.0)  # float rounding in _cells can leave -1e-17
    psi = p10 + p01
    return psi, (p10 / psi if psi > 0 else 0.5)


def mcnemar_exact_power(
    n: int, p10: float, p01: float, alpha: float = 0.05, *, bounds: np.ndarray | None = None
) -> float:
    """Exact power of the two-sided exact McNemar test at level ``alpha`` on ``n`` items.

    ``p10``/``p01`` are the probabilities that an item is right for only the
    first/only the second model. Sums over the discordant counts that carry
    all but 2e-15 of the probability. ``bounds``: ``_rejection_bounds`` of
    0..n at ``alpha``, to reuse across calls with the same n.
    """
    psi, pi = _split(p10, p01)
    if psi == 0:
        return 0.0
    lo = int(stats.binom.ppf(1e-15, n, psi))
    hi = int(stats.binom.isf(1e-15, n, psi))
    m = np.arange(max(lo - 1, 0), min(hi + 1, n) + 1)
    k = None if bounds is None else bounds[m]
    return float(np.dot(stats.binom.pmf(m, n, psi), _conditional_power(m, pi, alpha, k)))


def _exact_mcnemar_n(
    p10: float, p01: float, alpha: float, power: float, start: float, limit: int
) -> tuple[int, float] | None:
    """Smallest n whose exact McNemar power reaches ``power``, and that power; None past ``limit``.

    Exact tests' power need not rise with n, so every n from 1 up is checked rather than bisecting.
    The distribution of M ~ Bin(n, psi) is carried from n to n + 1 by one convolution step (M gains
    a discordant item with probability psi), trimmed where its probabilities fall below 1e-30.
    """
    psi, pi = _split(p10, p01)
    size = max(64, 2 * int(math.ceil(start)) + 64)
    g = _conditional_power(np.arange(size), pi, alpha)
    dist, lo = np.array([1.0]), 0  # P(M = lo + i) for i < len(dist)
    for n in range(1, limit + 1):
        grown = np.zeros(len(dist) + 1)
        grown[:-1] += dist * (1 - psi)
        grown[1:] += dist * psi
        kept = np.flatnonzero(grown >= 1e-30)
        dist, lo = grown[kept[0] : kept[-1] + 1], lo + kept[0]
        if lo + len(dist) > len(g):
            size = 2 * (lo + len(dist))
            g = _conditional_power(np.arange(size), pi, alpha)
        achieved = float(np.dot(dist, g[lo : lo + len(dist)]))
        if achieved >= power:
            return n, achieved
    return None


def _exact_label(n_connor: float) -> str:
    return (
        "exact McNemar test, power enumerated exactly (discordant items m ~ Bin(n, psi), "
        "a's share b | m ~ Bin(m, pi)); smallest n whose power reaches the target "
        f"(Connor's normal approximation gives {math.ceil(n_connor - 1e-9)})"
    )


def _too_large(found: list[str], what: str) -> str:
    message = (
        f"the exact McNemar power was not enumerated ({what}); "
        "Connor's normal approximation can slightly overstate the exact test's power"
    )
    warn(message, found)
    return f"; {message}"


def required_items(
    *,
    metric_type: str = "binary",
    baseline: float | None = None,
    mde: float,
    power: float = 0.8,
    alpha: float = 0.05,
    paired: bool = False,
    correlation: float = 0.0,
    sd: float | None = None,
    method: str = "auto",
    n_simulations: int = 4000,
    seed: int | None = 0,
) -> PlanResult:
    """Items needed to detect a true difference of ``mde`` with probability ``power``.

    Binary metrics need ``baseline`` (the weaker model's accuracy; the other is
    ``baseline + mde``); continuous ones need ``sd`` (SD of per-item scores).
    ``correlation`` is the correlation of the two models' item scores in a
    paired design. Paired binary designs are planned for the exact McNemar
    test (``method="auto"``): the smallest n whose exact power reaches
    ``power``; ``method="analytic"`` gives Connor's formula instead, with the
    exact power it achieves in ``exact_power``.
    """
    design = _check(metric_type, baseline, power, alpha, paired, correlation, sd, method)
    _check_mde(design, mde)
    found: list[str] = []
    n_analytic, formula = _analytic_n(design, mde)
    mcnemar = design.metric_type == "binary" and design.paired
    if method == "simulation":
        n_items = _simulated_n(design, mde, n_simulations, seed, n_analytic)
        return PlanResult(
            "n_items",
            n_items,
            mde,
            power,
            alpha,
            metric_type,
            paired,
            baseline,
            design.correlation,
            sd,
            "simulation",
            _simulation_label(design),
            n_simulations,
            seed,
            found,
        )
    n_items = int(math.ceil(n_analytic - 1e-9))
    if not mcnemar:
        return PlanResult(
            "n_items",
            n_items,
            mde,
            power,
            alpha,
            metric_type,
            paired,
            baseline,
            design.correlation,
            sd,
            "analytic",
            formula,
            None,
            None,
            found,
        )
    p10, p01 = _cells(design, mde)
    achieved = None
    if n_items > EXACT_MAX_ITEMS:
        formula += _too_large(found, f"Connor's n = {n_items:,} exceeds {EXACT_MAX_ITEMS:,}")
    elif method == "auto":
        # Scan past the cap if need be: the exact n is a few percent above Connor's.
        exact = _exact_mcnemar_n(p10, p01, alpha, power, n_analytic, 2 * EXACT_MAX_ITEMS)
        if exact is not None:
            n_exact, achieved = exact
            return PlanResult(
                "n_items",
                n_exact,
                mde,
                power,
                alpha,
                metric_type,
                paired,
                baseline,
                design.correlation,
                sd,
                "exact",
                _exact_label(n_analytic),
                None,
                None,
                found,
                achieved,
            )
        formula += _too_large(found, f"its power stays below {power:g} up to {2 * EXACT_MAX_ITEMS:,} items")
    else:  # method="analytic" asked for Connor's formula; report what it buys with the exact test
        achieved = mcnemar_exact_power(n_items, p10, p01, alpha)
        if achieved < power:
            warn(
                f"the exact McNemar test that assay compare runs has power {achieved:.3f} at {n_items} items, "
                f"below {power:g}; method='auto' gives the items that reach it",
                found,
            )
    return PlanResult(
        "n_items",
        n_items,
        mde,
        power,
        alpha,
        metric_type,
        paired,
        baseline,
        design.correlation,
        sd,
        "analytic",
        formula,
        None,
        None,
        found,
        achieved,
    )


def _simulation_label(design: _Design) -> str:
    if design.metric_type == "binary" and design.paired:
        return "exact McNemar test simulated"
    if design.metric_type == "binary":
        return "two-proportion z-test simulated"
    return ("paired" if design.paired else "two-sample") + " t-test on normal scores simulated"


MDE_GRID = 200  # differences checked before bisecting, so the smallest crossing is found, not just any


def _exact_mcnemar_mde(design: _Design, n_items: int, upper: float) -> tuple[float, float]:
    """Smallest difference whose exact McNemar power on ``n_items`` reaches the target, and that power.

    The exact power is a smooth function of the difference (a polynomial in the cell probabilities)
    but need not be monotone, so the first grid point where it reaches the target brackets the
    smallest crossing (up to the grid's 1/200 of the range), which bisection then pins down.
    """
    bounds = _rejection_bounds(np.arange(n_items + 1), design.alpha)  # the same for every difference

    def gap(mde: float) -> float:
        return mcnemar_exact_power(n_items, *_cells(design, mde), design.alpha, bounds=bounds) - design.power

    grid = np.linspace(0.0, upper, MDE_GRID + 1)
    grid[0] = min(1e-9, upper / 2)
    gaps = np.array([gap(m) for m in grid])
    if gaps[-1] < 0:
        raise ConfigError(
            f"{n_items} items cannot reach power {design.power:g} for any difference up to "
            f"{upper:.4g}; add items or lower the power"
        )
    first = int(np.argmax(gaps >= 0))
    if first == 0:  # a target power at or below the test's size: any difference reaches it
        return float(grid[0]), gaps[0] + design.power
    # Bisection keeps gap(low) < 0 <= gap(high), so the answer provably reaches the target.
    low, high = float(grid[first - 1]), float(grid[first])
    while high - low > 1e-12 * max(1.0, high):
        mid = (low + high) / 2
        low, high = (low, mid) if gap(mid) >= 0 else (mid, high)
    mde = high
    return mde, gap(mde) + design.power


def minimum_detectable_effect(
    n_items: int,
    *,
    metric_type: str = "binary",
    baseline: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    paired: bool = False,
    correlation: float = 0.0,
    sd: float | None = None,
    method: str = "auto",
    n_simulations: int = 4000,
    seed: int | None = 0,
) -> PlanResult:
    """Smallest true difference that ``n_items`` items detect with probability ``power``.

    For binary metrics the difference is an increase over ``baseline``. Paired
    binary designs use the exact McNemar power, as ``required_items`` does.
    """
    design = _check(metric_type, baseline, power, alpha, paired, correlation, sd, method)
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 2:
        raise ConfigError(f"n_items={n_items!r}; give a whole number of items, at least 2")
    n_items = int(n_items)
    found: list[str] = []
    upper = _max_mde(design)
    if design.metric_type == "continuous":
        # Power rises with the effect; beyond 20 SDs every design of 2+ items detects it.
        upper = 20 * design.sd
    upper -= 1e-9
    mcnemar = design.paired and design.metric_type == "binary"
    if mcnemar:
        # Some large differences are impossible at this correlation; search only where cells are valid.
        upper = _largest_valid_mde(design, upper)

    if method == "simulation":

        def sim_gap(mde: float) -> float:
            return _simulated_power(design, n_items, mde, n_simulations, seed) - power

        if sim_gap(upper) < 0:
            raise ConfigError(f"{n_items} items cannot reach power {power:g} for any difference up to {upper:.4g}")
        low, high = 0.0, upper
        for _ in range(40):  # bisection; the simulated power is a step function, so brentq's interpolation won't help
            mid = (low + high) / 2
            if sim_gap(mid) >= 0:
                high = mid
            else:
                low = mid
        return PlanResult(
            "mde",
            n_items,
            high,
            power,
            alpha,
            metric_type,
            paired,
            baseline,
            design.correlation,
            sd,
            "simulation",
            _simulation_label(design),
            n_simulations,
            seed,
            found,
        )
    if mcnemar and method == "auto" and n_items <= EXACT_MAX_ITEMS:
        mde, achieved = _exact_mcnemar_mde(design, n_items, upper)
        formula = (
            "exact McNemar test, power enumerated exactly (discordant items m ~ Bin(n, psi), a's share "
            f"b | m ~ Bin(m, pi)); smallest difference whose power reaches the target (first of {MDE_GRID} "
            "grid points, refined by bisection)"
        )
        return PlanResult(
            "mde",
            n_items,
            mde,
            power,
            alpha,
            metric_type,
            paired,
            baseline,
            design.correlation,
            sd,
            "exact",
            formula,
            None,
            None,
            found,
            achieved,
        )
    mde, formula = _analytic_mde(design, n_items, upper)
    achieved = None
    if mcnemar:
        if n_items <= EXACT_MAX_ITEMS:
            achieved = mcnemar_exact_power(n_items, *_cells(design, mde), alpha)
            if achieved < power:
                warn(
                    f"the exact McNemar test that assay compare runs has power {achieved:.3f} for a difference of "
                    f"{mde:.4g} on {n_items} items, below {power:g}; method='auto' gives the difference that "
                    "reaches it",
                    found,
                )
        else:
            formula += _too_large(found, f"n_items = {n_items:,} exceeds {EXACT_MAX_ITEMS:,}")
    return PlanResult(
        "mde",
        n_items,
        mde,
        power,
        alpha,
        metric_type,
        paired,
        baseline,
        design.correlation,
        sd,
        "analytic",
        formula,
        None,
        None,
        found,
        achieved,
    )


def _largest_valid_mde(design: _Design, upper: float) -> float:
    """Largest difference whose 2x2 table is possible at ``design.correlation``."""

    def valid(m: float) -> bool:
        try:
            _cells(design, m)
            return True
        except ConfigError:
            return False

    if valid(upper):
        return upper
    low, high = 0.0, upper
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if valid(mid) else (low, mid)
    return low


def plan(
    *,
    n_items: int | None = None,
    mde: float | None = None,
    **kwargs,
) -> PlanResult:
    """Give ``mde`` to get the items needed, or ``n_items`` to get the detectable difference."""
    if (n_items is None) == (mde is None):
        raise ConfigError(
            "give exactly one of mde (to get the number of items) or n_items (to get the detectable difference)"
        )
    if mde is not None:
        return required_items(mde=mde, **kwargs)
    return minimum_detectable_effect(n_items, **kwargs)
