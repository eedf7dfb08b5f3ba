"""The shared resampler and interval type, checked against scipy and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from assay.errors import ConfigError
from assay.stats.bootstrap import (
    Interval,
    bootstrap_means,
    check_level,
    cluster_codes,
    percentile_bounds,
    resample_clusters,
    resample_index_matrix,
    scipy_bootstrap,
)


def test_plain_bootstrap_draws_the_resamples_scipy_draws():
    # scipy draws its n_resamples × n indices from the same generator in one call,
    # so the percentile interval of the item means must agree to rounding.
    x = np.random.default_rng(0).random(50)
    ref = stats.bootstrap(
        (x,), np.mean, n_resamples=2000, method="percentile", confidence_level=0.9, rng=np.random.default_rng(7)
    )
    low, high = percentile_bounds(bootstrap_means(x[:, None], 2000, 7)[:, 0], 0.9)
    assert low == pytest.approx(ref.confidence_interval.low, rel=1e-12)
    assert high == pytest.approx(ref.confidence_interval.high, rel=1e-12)
    idx = resample_index_matrix(50, 2000, 7)
    assert idx.shape == (2000, 50) and idx.min() >= 0 and idx.max() < 50


def test_one_row_per_cluster_is_the_plain_bootstrap():
    rows, draw = resample_clusters(np.arange(30), np.random.default_rng(3))
    assert np.array_equal(rows, np.random.default_rng(3).integers(0, 30, size=30))
    assert np.array_equal(draw, np.arange(30))


def test_cluster_bootstrap_variance_matches_the_clusters_variance():
    # Equal clusters of 4 rows with a strong cluster effect: the bootstrap variance
    # of the overall mean is (G-1)/G · var(cluster means)/G, far above the i.i.d. one.
    rng = np.random.default_rng(11)
    n_clusters, size = 40, 4
    values = np.repeat(rng.normal(0, 1, n_clusters), size) + rng.normal(0, 0.2, n_clusters * size)
    codes = np.repeat(np.arange(n_clusters), size)
    draws = np.random.default_rng(5)
    means = np.array([values[resample_clusters(codes, draws)[0]].mean() for _ in range(4000)])
    cluster_means = values.reshape(n_clusters, size).mean(axis=1)
    expected = (n_clusters - 1) / n_clusters * cluster_means.var(ddof=1) / n_clusters
    assert means.var() == pytest.approx(expected, rel=0.1)
    assert means.var() > 2 * values.var() / len(values)


def test_resampled_clusters_stay_whole_and_in_order():
    codes = cluster_codes(["b", "a", "b", "c", "a"])
    assert codes.tolist() == [1, 0, 1, 2, 0]
    assert cluster_codes(["b", "a", "b"], order="appearance").tolist() == [0, 1, 0]
    rows, draw = resample_clusters(codes, np.random.default_rng(1))
    for j in np.unique(draw):
        members = rows[draw == j]
        assert len(set(codes[members])) == 1
        assert members.tolist() == np.flatnonzero(codes == codes[members[0]]).tolist()


def test_paired_scipy_bootstrap_is_scipys():
    rng = np.random.default_rng(2)
    num, den = rng.random(25), rng.random(25) + 1

    def ratio(n, d, axis=-1):
        return n.sum(axis=axis) / d.sum(axis=axis)

    se, low, high = scipy_bootstrap((num, den), ratio, level=0.9, n_resamples=999, seed=4, paired=True)
    ref = stats.bootstrap(
        (num, den),
        ratio,
        paired=True,
        vectorized=True,
        method="percentile",
        confidence_level=0.9,
        n_resamples=999,
        rng=np.random.default_rng(4),
    )
    assert (se, low, high) == (ref.standard_error, ref.confidence_interval.low, ref.confidence_interval.high)


def test_percentile_bounds_skip_failed_replicates():
    draws = np.array([[1.0, np.nan], [2.0, 5.0], [3.0, 7.0], [np.nan, 6.0]])
    low, high = percentile_bounds(draws, 0.5, skip_nan=True)
    assert low.tolist() == [1.5, 5.5] and high.tolist() == [2.5, 6.5]


def test_check_level_names_the_value():
    for good in (0.5, 0.95):
        check_level(good)
    for bad in (0, 1, 95, True, "0.9"):
        with pytest.raises(ConfigError, match="strictly between 0 and 1"):
            check_level(bad, name="--level")
    with pytest.raises(ConfigError, match="alpha=2; give an error rate .* e.g. 0.05"):
        check_level(2, name="alpha", what="an error rate", example=0.05)


def test_results_carry_one_interval_type():
    from assay.stats.intervals import mean_ci
    from assay.stats.passk import aggregate_pass_at_k_many

    ci = mean_ci([0.2, 0.5, 0.9, 0.4], method="t").to_interval()
    assert isinstance(ci, Interval) and ci.method == "t" and ci.n == 4 and ci.low < ci.estimate < ci.high
    assert set(ci.to_dict()) == {"estimate", "low", "high", "level", "method", "n", "n_clusters"}
    passk = aggregate_pass_at_k_many([10] * 20, list(range(10)) * 2, [1])[0].to_interval()
    assert passk.estimate == pytest.approx(0.45) and passk.n == 20 and passk.level == 0.95
