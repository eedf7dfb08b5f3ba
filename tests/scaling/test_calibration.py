"""The interval rule of assay.scaling.calibration, checked by enumeration, scipy and simulation."""

import math

import numpy as np
import pytest
import scipy.stats

from assay.scaling.calibration import (
    BacktestErrors,
    calibrate,
    cross_validated_coverage,
    nested_backtests,
    reach,
    student_quantile,
    weighted_conformal_quantile,
)


@pytest.mark.parametrize("n", [9, 10, 19, 20, 57, 200])
def test_equal_weight_quantile_is_the_split_conformal_order_statistic(n):
    rng = np.random.default_rng(n)
    scores = rng.exponential(size=n)
    level = 0.9
    rank = math.ceil((n + 1) * level)  # the split-conformal rank (Lei et al. 2018)
    expected = np.inf if rank > n else np.sort(scores)[rank - 1]
    assert weighted_conformal_quantile(scores, np.full(n, 1 / n), level, n) == expected


def test_student_quantile_is_the_normal_prediction_quantile():
    scores = np.array([0.3, -1.2, 0.8, 1.9, -0.4])
    weights = np.full(5, 0.2)
    rms = np.sqrt(np.mean(scores**2))
    expected = scipy.stats.t.ppf(0.95, 4) * rms * np.sqrt(1 + 1 / 5)
    assert student_quantile(scores, weights, 0.9, 5) == pytest.approx(expected, rel=1e-9)


def test_calibrate_recovers_the_growth_and_covers_fresh_errors():
    rng = np.random.default_rng(0)
    sigma0, growth, n_folds = 0.01, 0.02, 40
    folds, distances, spans = [], [], []
    for f in range(n_folds):
        d = rng.uniform(0.1, 2.0, 30)
        folds.append(np.full(30, f))
        distances.append(d)
        spans.append(np.full(30, rng.uniform(0.5, 3.0)))
    fold, d, span = map(np.concatenate, (folds, distances, spans))
    true_scale = np.sqrt(sigma0**2 + (growth * d * (d + span)) ** 2)
    errors = BacktestErrors(rng.standard_normal(len(d)) * true_scale, d, fold, fold.astype(object), span)
    rule = calibrate(errors, sigma0, 0.9)
    assert rule.growth == pytest.approx(growth, rel=0.15)
    assert rule.lever == pytest.approx(1.0, abs=0.3)
    assert rule.quantile_method == "conformal"
    # Fresh errors from the same law fall inside at about the nominal rate.
    d_new = rng.uniform(0.1, 2.0, 20000)
    span_new = rng.uniform(0.5, 3.0, 20000)
    fresh = rng.standard_normal(20000) * np.sqrt(sigma0**2 + (growth * d_new * (d_new + span_new)) ** 2)
    inside = np.mean(np.abs(fresh) <= rule.half_width(d_new, span_new))
    assert 0.87 <= inside <= 0.93
    crossed = cross_validated_coverage(errors, sigma0, 0.9)
    assert 0.85 <= crossed["coverage"] <= 0.95 and len(crossed["per_fold"]) == n_folds


@pytest.mark.parametrize("lever", [0.0, 2.0])
def test_calibrate_estimates_how_much_the_fitted_span_adds(lever):
    """Errors whose scale ignores the span (lever 0) or doubles its weight (lever 2): the likelihood finds
    which, and the rule fitted with the fixed straight-line lever of 1 would miscover fresh errors."""
    rng = np.random.default_rng(int(lever) + 5)
    sigma0, growth = 0.01, 0.02
    fold = np.repeat(np.arange(40), 30)
    d = rng.uniform(0.1, 2.0, len(fold))
    span = np.repeat(rng.uniform(0.3, 3.0, 40), 30)
    scale = np.sqrt(sigma0**2 + (growth * reach(d, span, lever)) ** 2)
    rule = calibrate(
        BacktestErrors(rng.standard_normal(len(d)) * scale, d, fold, fold.astype(object), span), sigma0, 0.9
    )
    assert abs(rule.lever - lever) <= 0.6, rule.lever
    # Fresh forecasts from longer spans than any fold saw: the estimated lever carries the rate there.
    d_new, span_new = rng.uniform(0.1, 2.0, 20000), np.full(20000, 4.0)
    fresh = rng.standard_normal(20000) * np.sqrt(sigma0**2 + (growth * reach(d_new, span_new, lever)) ** 2)
    inside = np.mean(np.abs(fresh) <= rule.half_width(d_new, span_new))
    assert 0.86 <= inside <= 0.94, inside


def test_reach_is_zero_inside_the_data():
    assert reach(np.array([-0.5, 0.0, 1.0]), 2.0).tolist() == [0.0, 0.0, 3.0]


def test_nested_backtests_cut_below_each_larger_size():
    rank = np.repeat([1.0, 2.0, 3.0, 4.0], 2)  # two rows (checkpoints) per size
    truth = np.arange(8, dtype=float)
    seen = []

    def fit_and_forecast(train, test):
        seen.append((rank[train].max(), rank[test].min()))
        return np.full(len(test), truth[train].mean())

    def distance(train, test):
        return rank[test] - rank[train].max()

    errors = nested_backtests(rank, fit_and_forecast, distance, truth, np.arange(8).astype(object), min_train=3)
    # Cut at 1 has 2 rows (< min_train 3): skipped. Cuts at 2 and 3 remain.
    assert seen == [(2.0, 3.0), (3.0, 4.0)] and errors.cuts == [2.0, 3.0]
    assert errors.n_folds == 2 and len(errors.error) == 4 + 2
    assert errors.distance.tolist() == [1, 1, 2, 2, 1, 1]
    assert errors.span.tolist() == [1, 1, 1, 1, 2, 2]
    assert errors.error[:4].tolist() == pytest.approx(truth[4:] - 1.5)


def test_too_few_errors_fall_back_to_student_t():
    errors = BacktestErrors(
        np.array([0.01, -0.02, 0.015]),
        np.array([0.5, 1.0, 0.5]),
        np.array([0, 0, 1]),
        np.array(["a", "b", "c"], dtype=object),
        np.array([1.0, 1.0, 1.5]),
    )
    rule = calibrate(errors, 0.005, 0.9)
    assert rule.quantile_method == "student-t" and math.isfinite(rule.quantile)
