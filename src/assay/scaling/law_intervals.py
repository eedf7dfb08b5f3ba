"""Calibrated prediction intervals for any fitted law, for ``backtest(..., intervals="calibrated")``.

The same rule as ``assay scale forecast`` (``assay.scaling.calibration``):
the law is refitted on the training rows cut below each of their larger
sizes, forecasts the rows above, and the errors, scaled by how far they
extrapolated, set a split-conformal interval. Losses (every law but the
sigmoids) are calibrated on log y, accuracies on y.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from assay.errors import ConfigError
from assay.scaling.calibration import (
    calibrate,
    cross_validated_coverage,
    interval_from_calibration,
    nested_backtests,
    training_span,
)
from assay.scaling.fit import ScalingFit, fit_law

LINEAR_SCALE_LAWS = ("sigmoid", "two-step")


@dataclass
class LawIntervals:
    low: np.ndarray
    high: np.ndarray
    calibration: dict


def calibrate_law(
    train: pd.DataFrame, fit: ScalingFit, *, chance: float | None, level: float, cluster: np.ndarray
) -> dict:
    """The interval rule for ``fit`` (fitted on ``train``), from nested backtests of its law.

    The returned dict is all ``interval_from_calibration`` needs, so a saved
    fit can carry it and give the same intervals when it predicts later.
    """
    x = np.vstack([pd.to_numeric(train[c], errors="coerce").to_numpy(float) for c in fit.x])
    truth_raw = pd.to_numeric(train[fit.y[-1]], errors="coerce").to_numpy(float)
    if np.any(x <= 0):
        raise ConfigError(
            f"calibrated intervals measure extrapolation in decades of {', '.join(fit.x)}, which "
            "must then be positive; use bootstrap intervals for this law"
        )
    log_scale = fit.law not in LINEAR_SCALE_LAWS and bool(np.all(truth_raw > 0))

    def on_scale(values):
        return np.log(values) if log_scale else values

    log_x = np.log10(x)
    rank = log_x[0]
    truth = on_scale(truth_raw)

    def fit_and_forecast(train_index, test_index):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                refit = fit_law(
                    train.iloc[train_index],
                    fit.law,
                    fit.x,
                    fit.y,
                    chance=chance,
                    cluster="",
                    x_transform=fit.options.get("x_transform", "auto"),
                )
            value, _, _ = refit.predict_arrays(x[:, test_index])
            return on_scale(value)
        except Exception:  # a fold too small or degenerate for this law is skipped, and counted
            return None

    def distance(train_index, test_index):
        reach = log_x[:, train_index].max(axis=1)
        return np.max(np.maximum(log_x[:, test_index] - reach[:, None], 0.0), axis=0)

    n_free = len(fit.params) - (1 if chance is not None and fit.law in LINEAR_SCALE_LAWS else 0)
    errors = nested_backtests(rank, fit_and_forecast, distance, truth, cluster, min_train=n_free + 2)
    fitted = fit.predict_arrays(x, interval=False)[0]
    residual = truth - on_scale(fitted)
    sigma0 = float(np.sqrt(np.sum(residual**2) / max(len(residual) - n_free, 1)))
    rule = calibrate(errors, sigma0, level)
    crossed = cross_validated_coverage(errors, sigma0, level)
    return {
        "level": level,
        "error_scale": "log y" if log_scale else "y",
        "folds": rule.n_folds,
        "failed_folds": errors.failed,
        "n_errors": rule.n_errors,
        "sigma0": rule.sigma0,
        "growth": rule.growth,
        "lever": rule.lever,
        "span": training_span(rank),
        "quantile": rule.quantile if np.isfinite(rule.quantile) else None,
        "quantile_method": rule.quantile_method,
        "backtest_coverage": crossed.get("coverage"),
        "log10_x_max": dict(zip(fit.x, map(float, log_x.max(axis=1)))),
    }


def calibrated_intervals(
    train: pd.DataFrame, fit: ScalingFit, test_x: np.ndarray, *, chance: float | None, level: float, cluster: np.ndarray
) -> LawIntervals:
    """Intervals at ``test_x`` (n_x × m) for ``fit`` (fitted on ``train``), from nested backtests of the law."""
    if np.any(np.asarray(test_x) <= 0):
        raise ConfigError(f"calibrated intervals need positive {', '.join(fit.x)} to predict at")
    calibration = calibrate_law(train, fit, chance=chance, level=level, cluster=cluster)
    centre = fit.predict_arrays(test_x, interval=False)[0]
    low, high = interval_from_calibration(calibration, fit.x, centre, test_x)
    return LawIntervals(low, high, calibration)
