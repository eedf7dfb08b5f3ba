import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, nbinom

from assay.errors import ConfigError, DataError
from assay.stats.passuntil import (
    aggregate_pass_until,
    pass_until_item,
    pass_until_outcomes,
    pass_until_report,
)


def test_interval_ends_solve_the_negative_binomial_tails():
    res = pass_until_item(40, 3, target_passes=3, budget=100)
    assert res.stopped_by == "target" and res.estimate == pytest.approx(3 / 40)
    assert res.unbiased == pytest.approx(2 / 39)
    # N = K + failures; P(N <= 40 | p_L) = P(N >= 40 | p_U) = 2.5%.
    assert nbinom.cdf(40 - 3, 3, res.ci_low) == pytest.approx(0.025, rel=1e-6)
    assert nbinom.sf(40 - 3 - 1, 3, res.ci_high) == pytest.approx(0.025, rel=1e-6)
    first_try = pass_until_item(1, 1, target_passes=1, budget=10)
    assert first_try.ci_high == 1.0 and first_try.unbiased == 1.0
    assert pass_until_item(4, 1, target_passes=1, budget=10).unbiased == 0.0


def test_budget_reached_reports_an_upper_bound_not_zero():
    res = pass_until_item(500, 0, target_passes=2, budget=500, confidence=0.9)
    assert res.stopped_by == "budget" and res.censored
    assert res.estimate is None and res.upper_bound > 0
    assert binom.cdf(0, 500, res.upper_bound) == pytest.approx(0.05, rel=1e-6)
    one = pass_until_item(500, 1, target_passes=2, budget=500)
    assert binom.cdf(1, 500, one.upper_bound) == pytest.approx(0.025, rel=1e-6)
    assert 0 < one.ci_low < one.upper_bound
    assert "<" in res.render() and res.to_dict()["estimate"] is None


def _exact_coverage(p, k, budget, confidence):
    """Probability, over every possible PassUntil outcome, that the interval holds p."""
    total = 0.0
    for n in range(k, budget + 1):
        res = pass_until_item(n, k, target_passes=k, budget=budget, confidence=confidence)
        if res.ci_low <= p <= res.ci_high:
            total += nbinom.pmf(n - k, k, p)
    for c in range(k):
        res = pass_until_item(budget, c, target_passes=k, budget=budget, confidence=confidence)
        if res.ci_low <= p <= res.ci_high:
            total += binom.pmf(c, budget, p)
    return total


@pytest.mark.parametrize("p", [0.002, 0.01, 0.05, 0.2])
def test_intervals_cover_at_least_nominal_by_exact_enumeration(p):
    assert _exact_coverage(p, k=2, budget=300, confidence=0.9) >= 0.9 - 1e-9


def test_unbiased_estimate_is_unbiased_by_enumeration():
    k, p = 3, 0.05
    n = np.arange(k, 5000)
    mean = np.sum((k - 1) / (n - 1) * nbinom.pmf(n - k, k, p))
    assert mean == pytest.approx(p, rel=1e-6)
    mle_mean = np.sum(k / n * nbinom.pmf(n - k, k, p))
    assert mle_mean > p * 1.05  # why the unbiased version is offered


def test_outcomes_are_cut_at_the_kth_pass():
    # Batches of 3 overshoot: the second pass is sample 4.
    res = pass_until_outcomes([0, 1, 0, 1, 1, 1], target_passes=2, budget=10)
    assert (res.samples, res.passes, res.stopped_by) == (4, 2, "target")
    capped = pass_until_outcomes([0, 0, 1, 0, 0, 0, 0, 1], target_passes=2, budget=6)
    assert (capped.samples, capped.passes, capped.stopped_by) == (6, 1, "budget")


def test_invalid_input():
    with pytest.raises(DataError, match="budget is B=10"):
        pass_until_item(5, 1, target_passes=2, budget=10)
    with pytest.raises(DataError, match="exceeds K=2"):
        pass_until_item(5, 3, target_passes=2, budget=10)
    with pytest.raises(ConfigError, match="--budget"):
        pass_until_item(5, 1, target_passes=2, budget=1)
    with pytest.raises(ConfigError, match="--pass-until"):
        pass_until_item(5, 1, target_passes=0, budget=10)
    with pytest.raises(DataError, match="0 or 1"):
        pass_until_outcomes([0, 0.5], target_passes=1, budget=4)


def test_aggregate_brackets_capped_items():
    items = [
        pass_until_item(10, 2, target_passes=2, budget=50),
        pass_until_item(40, 2, target_passes=2, budget=50),
        pass_until_item(50, 0, target_passes=2, budget=50),
    ]
    agg = aggregate_pass_until(items, seed=1, n_boot=400)
    assert agg.n_censored == 1 and agg.value is None
    # uncensored items at (K-1)/(N-1): 1/9 and 1/39
    assert agg.value_low == pytest.approx((1 / 9 + 1 / 39 + 0.0) / 3)
    assert agg.value_high == pytest.approx((1 / 9 + 1 / 39 + items[2].upper_bound) / 3)
    assert agg.ci_low <= agg.value_low < agg.value_high <= agg.ci_high
    uncapped = aggregate_pass_until(items[:2], seed=1, n_boot=400)
    assert uncapped.value == pytest.approx((1 / 9 + 1 / 39) / 2)
    assert aggregate_pass_until(items, seed=1, n_boot=400).ci_high == agg.ci_high


def test_report_from_a_frame():
    rng = np.random.default_rng(5)
    rows = []
    for model, p in [("tiny", 0.01), ("small", 0.2)]:
        for item in range(6):
            passes = 0
            for s in range(200):
                ok = rng.random() < p
                rows.append({"model": model, "item": item, "sample": s, "score": float(ok)})
                passes += ok
                if passes >= 2 and s % 4 == 3:  # stop at the end of a batch of 4
                    break
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # order must come from `sample`
    report = pass_until_report(frame, target_passes=2, budget=200, n_boot=200)
    d = report.to_dict()
    json.dumps(d, allow_nan=False)
    small = report.models["small"]
    assert small.n_censored == 0 and 0.05 < small.value < 0.5
    for item in small.items:
        assert item.passes == 2
    assert report.models["tiny"].value_high < small.value_low
    assert "PassUntil K=2" in report.render()


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_item_estimate_used_for_means_is_unbiased_by_exact_enumeration(k):
    # E over N ~ NB(K, p) of the estimate averaged into the mean, with a budget
    # far beyond any mass: it must equal p, where K/N does not (about 3x at K=1).
    from scipy.stats import nbinom

    p, budget = 0.05, 3000
    n = np.arange(k, budget + 1)
    weights = nbinom.pmf(n - k, k, p)
    estimates = np.array([pass_until_item(int(m), k, target_passes=k, budget=budget).unbiased for m in n])
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert (weights * estimates).sum() == pytest.approx(p, rel=1e-9)
    assert (weights * k / n).sum() > 1.2 * p
