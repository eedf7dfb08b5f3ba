"""Prediction intervals calibrated on the training rows' own extrapolation errors.

A bootstrap over the fitted rows says how uncertain the curve is where the data
are; a forecast for a larger model is mostly wrong for another reason: the
curve bends beyond the data. The only evidence about that error available
before the larger model exists is how the same procedure did when the
training data were cut short. So the training rows are sorted by scale (the
first x column, so that all checkpoints of one model fall on the same side of
a cut), and for each cut the procedure is refitted on the rows at or below
it and forecasts the rows above. Each forecast error is recorded with how
far it extrapolated, in decades of x beyond the largest x of its fit.

The errors are then turned into an interval by split-conformal prediction
with a scale that grows with that distance d and with the span L (decades
of the first x the fit saw):

    scale(d, L) = sqrt(sigma0^2 + (b * d * (d + c * L))^2)

``sigma0`` is the in-range scatter (the RMS residual of the fit itself);
``b`` (growth) and ``c`` (lever, how much a longer lever arm adds) are
estimated by maximum likelihood of the backtest errors as normal with that
scale; ``reach`` says why that form. The interval at a new row is
``prediction ± q * scale(d, L)``, where q is the conformal quantile of the
normalised errors |e| / scale (each backtest fold weighing the same, with the
usual (n+1)/n finite-sample correction; with fewer errors than that
correction allows, the normal-theory Student-t quantile instead). A forecast
further out than any backtest reached gets the same rule extrapolated,
which widens quadratically with distance.

The same folds give the calibration's own check: each fold's errors are
judged by the intervals calibrated on the other folds only, and the share
inside is the cross-validated coverage reported under ``calibration``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class BacktestErrors:
    """Forecast errors of the nested backtests, one entry per forecast row."""

    error: np.ndarray  # truth - forecast, on the scale the intervals are built on
    distance: np.ndarray  # decades of x beyond the fold's largest fitted x
    fold: np.ndarray  # fold index of each error
    cluster: np.ndarray  # the row's cluster (model) label, for intervals on coverage
    span: np.ndarray  # decades of the first x the fold was fitted on (its lever arm), per error
    cuts: list[float] = field(default_factory=list)  # the largest first-x value each fold was fitted on
    failed: int = 0  # folds whose fit failed (too few rows, optimiser error)

    @property
    def n_folds(self) -> int:
        return int(len(np.unique(self.fold))) if len(self.fold) else 0


@dataclass
class Calibration:
    """The interval rule learned from the backtests: half-width = quantile * scale(distance, span)."""

    level: float
    sigma0: float
    growth: float  # b in scale = sqrt(sigma0^2 + (b * d * (d + c * span))^2)
    quantile: float  # conformal quantile of |error| / scale; inf when too few errors
    n_errors: int
    n_folds: int
    quantile_method: str = "conformal"  # or "student-t" when the errors are too few for a conformal bound
    lever: float = 1.0  # c in that scale: how much a longer fitted span adds to the error at a distance

    def scale(self, distance, span) -> np.ndarray:
        return np.sqrt(self.sigma0**2 + (self.growth * reach(distance, span, self.lever)) ** 2)

    def half_width(self, distance, span) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return self.quantile * self.scale(distance, span)


def reach(distance, span, lever: float = 1.0) -> np.ndarray:
    """d * (d + lever * span): how a smooth misfit's extrapolation error grows, in decades squared.

    A straight line fitted over ``span`` decades of a truth with constant
    curvature is off by curvature * (d^2 + span * d + span^2 / 6) at d decades
    beyond its data; the constant part is the in-range scatter, the rest is
    d * (d + span): a longer lever arm averages over more bend, so it is not
    trusted more at the same distance (lever 1). A curve with more
    parameters follows part of the bend, and a short span also means fewer
    points and a noisier fit, so how much the span adds is estimated from
    the backtests (``calibrate``) rather than fixed; lever 0 is pure d^2.
    """
    distance = np.maximum(np.asarray(distance, dtype=float), 0.0)
    return distance * (distance + lever * np.asarray(span, dtype=float))


def nested_backtests(
    rank: np.ndarray,
    fit_and_forecast: Callable[[np.ndarray, np.ndarray], np.ndarray | None],
    distance: Callable[[np.ndarray, np.ndarray], np.ndarray],
    truth: np.ndarray,
    cluster: np.ndarray,
    *,
    min_train: int,
    min_slices: int = 2,
) -> BacktestErrors:
    """Refit on the rows up to each cut of ``rank`` and forecast the rows above it.

    ``fit_and_forecast(train_index, test_index)`` returns forecasts for the
    test rows (on the scale of ``truth``) or None when the fit fails;
    ``distance(train_index, test_index)`` how far each test row lies beyond
    the training rows. A cut needs ``min_slices`` distinct ranks and
    ``min_train`` rows below it, and at least one row above it.
    """
    values = np.unique(rank)
    errors, distances, folds, clusters, cuts, spans = [], [], [], [], [], []
    failed = 0
    for cut in values[:-1]:
        train = np.flatnonzero(rank <= cut)
        test = np.flatnonzero(rank > cut)
        if len(np.unique(rank[train])) < min_slices or len(train) < min_train:
            continue
        forecast = fit_and_forecast(train, test)
        if forecast is None or not np.all(np.isfinite(forecast)):
            failed += 1
            continue
        fold = len(cuts)
        cuts.append(float(cut))
        errors.append(truth[test] - forecast)
        distances.append(distance(train, test))
        folds.append(np.full(len(test), fold))
        clusters.append(cluster[test])
        spans.append(np.full(len(test), training_span(rank[train])))
    if not cuts:
        empty = np.zeros(0)
        return BacktestErrors(empty, empty, empty.astype(int), empty.astype(object), empty, [], failed)
    return BacktestErrors(
        np.concatenate(errors),
        np.concatenate(distances),
        np.concatenate(folds),
        np.concatenate(clusters),
        np.concatenate(spans),
        cuts,
        failed,
    )


def training_span(rank: np.ndarray) -> float:
    """Decades of the ranking x the fit saw: the lever arm its extrapolation rests on."""
    return max(float(np.ptp(rank)), 1e-3)


def _fold_weights(fold: np.ndarray) -> np.ndarray:
    """Each fold weighs the same, however many rows it forecast: a fold is one experiment."""
    labels, counts = np.unique(fold, return_inverse=False, return_counts=True)
    per_fold = dict(zip(labels, 1.0 / counts))
    weights = np.array([per_fold[f] for f in fold])
    return weights / weights.sum()


def student_quantile(scores: np.ndarray, weights: np.ndarray, level: float, n: int) -> float:
    """The normal-theory prediction quantile t(n-1) * rms * sqrt(1 + 1/n) of the normalised errors.

    Used when the errors are too few for the conformal quantile to be finite
    (fewer than about 1 / (1 - level) of them): exact for normal errors, and
    the only bound such a handful of backtests can give.
    """
    from scipy import special

    if n < 2:
        return float("inf")
    rms = float(np.sqrt(np.sum(weights * scores**2) / np.sum(weights)))
    return float(special.stdtrit(n - 1, 0.5 + level / 2) * rms * np.sqrt(1 + 1 / n))


def weighted_conformal_quantile(scores: np.ndarray, weights: np.ndarray, level: float, n: int) -> float:
    """The smallest score s with weighted share of scores <= s at least level * (n + 1) / n.

    With equal weights this is the split-conformal quantile, the ceil((n+1)·level)-th
    smallest score; when that exceeds the data the quantile is infinite, an honest
    "the backtests are too few to bound this" rather than a number.
    """
    target = level * (n + 1) / n
    if target > 1:
        return float("inf")
    order = np.argsort(scores)
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, target - 1e-12))
    return float(scores[order][min(index, len(scores) - 1)])


# Candidate levers for the profile likelihood: 0 (span adds nothing) to 4 (a span adds four times what the
# straight-line misfit says). The estimates reach both ends on real tables; benchmarks/scaling/forecast_coverage.py
# measures what a range of 0 to 2 or 0 to 10 would change (docs/scaling.md).
LEVERS = np.linspace(0.0, 4.0, 41)


def fit_error_scale(errors: BacktestErrors, sigma0: float, weights: np.ndarray) -> tuple[float, float]:
    """(growth b, lever c) maximising the weighted normal likelihood of the backtest errors.

    Each error e is taken as normal with variance sigma0^2 + (b * reach(d, span, c))^2.
    For each c of ``LEVERS``, log b is found on a coarse grid (the likelihood in b can
    have a flat shoulder where sigma0 dominates) and refined around its best point;
    the pair with the highest likelihood wins. Returns (0, 1) when the errors carry
    no distance (all inside the data).
    """
    from scipy import optimize

    e2 = errors.error**2
    best = (np.inf, 0.0, 1.0)
    if not np.any(e2 > 0):
        return 0.0, 1.0  # every backtest was exact: nothing grows
    for lever in LEVERS:
        r2 = reach(errors.distance, errors.span, lever) ** 2
        if not np.any(r2 > 0):
            continue

        def nll(log_b, r2=r2):
            variance = sigma0**2 + np.exp(2 * np.asarray(log_b))[..., None] * r2
            return np.sum(weights * (np.log(variance) + e2 / variance), axis=-1)

        # Where b * reach equals every error the scale is already too wide: search below that.
        reached = r2 > 0
        top = 0.5 * np.log(np.max(e2[reached] / r2[reached]) + 1e-300) + 2.0
        grid = np.linspace(top - 30.0, top, 61)
        start = float(grid[int(np.argmin(nll(grid)))])
        refined = optimize.minimize_scalar(
            lambda log_b: float(nll(log_b)), bounds=(start - 0.5, start + 0.5), method="bounded"
        )
        if refined.fun < best[0]:
            best = (float(refined.fun), float(np.exp(refined.x)), float(lever))
    if not np.isfinite(best[0]):
        return 0.0, 1.0
    return best[1], best[2]


def calibrate(errors: BacktestErrors, sigma0: float, level: float) -> Calibration:
    """Learn how the error scale grows with distance, and the conformal quantile, from backtest errors."""
    e = errors.error
    sigma0 = float(max(sigma0, 1e-12))
    if len(e) == 0:
        return Calibration(level, sigma0, 0.0, float("inf"), 0, 0)
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(errors.distance)) and np.all(np.isfinite(errors.span))):
        raise ValueError("backtest errors, distances and spans must be finite")
    weights = _fold_weights(errors.fold)
    growth, lever = fit_error_scale(errors, sigma0, weights)
    rule = Calibration(level, sigma0, growth, float("inf"), len(e), errors.n_folds, lever=lever)
    scores = np.abs(e) / rule.scale(errors.distance, errors.span)
    rule.quantile = weighted_conformal_quantile(scores, weights, level, len(e))
    if not np.isfinite(rule.quantile):
        rule.quantile, rule.quantile_method = student_quantile(scores, weights, level, len(e)), "student-t"
    return rule


def cross_validated_coverage(errors: BacktestErrors, sigma0: float, level: float) -> dict:
    """Judge each fold by the interval rule calibrated on the other folds.

    Returns per-fold and pooled coverage (the pooled share weighs folds
    equally, as the calibration does), or an explanation when there are
    fewer than two folds to cross.
    """
    folds = np.unique(errors.fold)
    if len(folds) < 2:
        return {
            "coverage": None,
            "per_fold": [],
            "note": f"{len(folds)} backtest fold(s): at least 2 are needed to check the calibration on a fold "
            "it was not learned from",
        }
    per_fold, inside = [], np.zeros(len(errors.error), dtype=bool)
    for fold in folds:
        mine = errors.fold == fold
        others = BacktestErrors(
            errors.error[~mine], errors.distance[~mine], errors.fold[~mine], errors.cluster[~mine], errors.span[~mine]
        )
        rule = calibrate(others, sigma0, level)
        covered = np.abs(errors.error[mine]) <= rule.half_width(errors.distance[mine], errors.span[mine])
        inside[mine] = covered
        per_fold.append(
            {
                "fold": int(fold),
                "cut": errors.cuts[int(fold)] if errors.cuts else None,
                "n": int(mine.sum()),
                "coverage": float(covered.mean()),
                "max_distance": float(np.max(errors.distance[mine])),
            }
        )
    weights = _fold_weights(errors.fold)
    return {"coverage": float(np.sum(weights * inside)), "per_fold": per_fold, "covered": inside}


def interval_from_calibration(
    calibration: dict, columns: list[str], centre: np.ndarray, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Low and high at x (one row per column) around ``centre``, from a stored calibration
    (``assay.scaling.law_intervals.calibrate_law``); NaN when it could not bound an interval."""
    x = np.asarray(x, dtype=float).reshape(len(columns), -1)
    reach_max = np.array([calibration["log10_x_max"][c] for c in columns])
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.max(np.maximum(np.log10(x) - reach_max[:, None], 0.0), axis=0)
    quantile = calibration.get("quantile")
    if quantile is None:
        nan = np.full(len(d), np.nan)
        return nan, nan.copy()
    rule = Calibration(
        calibration.get("level", 0.9),
        calibration["sigma0"],
        calibration["growth"],
        quantile,
        0,
        0,
        lever=calibration.get("lever", 1.0),  # fits saved before the lever was estimated used 1
    )
    half = rule.half_width(d, calibration["span"])
    if calibration["error_scale"] == "log y":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.exp(np.log(centre) - half), np.exp(np.log(centre) + half)
    return centre - half, centre + half


def held_out_intervals(abs_error: np.ndarray, covered: np.ndarray | None, models: np.ndarray | None):
    """95% intervals (``MeanCI``, or None below two errors) for held-out mean |error| and coverage.

    Clustered by model when ``models`` repeats (checkpoints of one model err
    together); with every model distinct, or only one, clusters add nothing.
    """
    from assay.stats.intervals import mean_ci

    if models is not None and (len(np.unique(models)) == len(models) or len(np.unique(models)) < 2):
        models = None
    mae = mean_ci(abs_error, clusters=models, confidence=0.95) if len(abs_error) >= 2 else None
    cov = (
        mean_ci(np.asarray(covered, dtype=float), clusters=models, confidence=0.95)
        if covered is not None and len(covered) >= 2
        else None
    )
    return mae, cov
