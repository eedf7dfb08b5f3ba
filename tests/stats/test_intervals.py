import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from assay.errors import ConfigError, DataError
from assay.stats import mean_ci


def rel(a, b, tol=1e-6):
    return a == pytest.approx(b, rel=tol, abs=1e-12)


@pytest.mark.parametrize("n_clusters,size", [(5, 4), (12, 7), (40, 3)])
def test_clustered_matches_statsmodels_cluster_ols(n_clusters, size):
    rng = np.random.default_rng(n_clusters)
    groups = np.repeat(np.arange(n_clusters), size)
    y = rng.normal(size=n_clusters)[groups] + rng.normal(size=len(groups))
    fit = sm.OLS(y, np.ones(len(y))).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ci = mean_ci(y, clusters=groups, method="clustered", confidence=0.9)
    assert rel(ci.se, fit.bse[0])
    low, high = fit.conf_int(alpha=0.1)[0]
    assert rel(ci.low, low) and rel(ci.high, high)
    assert ci.n_clusters == n_clusters and ci.method == "clustered"


def test_clustered_unequal_cluster_sizes_and_string_labels():
    rng = np.random.default_rng(3)
    labels = np.array([f"doc{k}" for k in rng.integers(0, 15, 90)])
    y = rng.integers(0, 2, 90).astype(float)
    fit = sm.OLS(y, np.ones(90)).fit(cov_type="cluster", cov_kwds={"groups": np.unique(labels, return_inverse=True)[1]})
    assert rel(mean_ci(y, clusters=labels).se, fit.bse[0])


@pytest.mark.parametrize("x,n", [(0, 20), (1, 20), (7, 20), (20, 20), (3, 50), (612, 1000)])
def test_binary_methods_match_statsmodels(x, n):
    scores = np.r_[np.ones(x), np.zeros(n - x)]
    for ours, theirs in (("wilson", "wilson"), ("exact", "beta")):
        ci = mean_ci(scores, method=ours)
        low, high = proportion_confint(x, n, alpha=0.05, method=theirs)
        assert rel(ci.low, low) and rel(ci.high, high), ours
    exact = stats.binomtest(x, n).proportion_ci(method="exact")
    ci = mean_ci(scores, method="exact")
    assert rel(ci.low, exact.low) and rel(ci.high, exact.high)
    # Jeffreys: equal-tailed Beta(x+1/2, n-x+1/2), except the boundary fix at x=0 and x=n
    jl, jh = proportion_confint(x, n, alpha=0.05, method="jeffreys")
    ci = mean_ci(scores, method="beta")
    assert rel(ci.low, 0.0 if x == 0 else stats.beta.ppf(0.025, x + 0.5, n - x + 0.5))
    assert rel(ci.high, 1.0 if x == n else stats.beta.ppf(0.975, x + 0.5, n - x + 0.5))
    if 0 < x < n:
        assert rel(ci.low, jl) and rel(ci.high, jh)
    assert rel(ci.se, stats.beta(x + 0.5, n - x + 0.5).std())


def test_clt_is_normal_interval():
    y = np.random.default_rng(1).random(100)
    ci = mean_ci(y, method="clt", confidence=0.9)
    se = stats.sem(y)
    assert rel(ci.se, se)
    assert rel(ci.low, y.mean() - stats.norm.ppf(0.95) * se) and rel(ci.high, y.mean() + stats.norm.ppf(0.95) * se)


def test_bootstrap_matches_scipy_and_is_seeded():
    y = np.random.default_rng(2).exponential(size=25)
    ci = mean_ci(y, method="bootstrap", seed=7, n_resamples=2000)
    ref = stats.bootstrap((y,), np.mean, n_resamples=2000, method="BCa", rng=np.random.default_rng(7))
    assert rel(ci.low, ref.confidence_interval.low) and rel(ci.high, ref.confidence_interval.high)
    assert ci.method == "bootstrap-bca"
    again = mean_ci(y, method="bootstrap", seed=7, n_resamples=2000)
    assert (again.low, again.high) == (ci.low, ci.high)
    pct = mean_ci(y, method="percentile", seed=7, n_resamples=2000)
    assert pct.method == "bootstrap-percentile" and pct.low != ci.low


def test_cluster_bootstrap_resamples_whole_clusters():
    # Two clusters of identical items: resampling whole clusters can only give the two cluster means or their average.
    y = np.r_[np.zeros(10), np.ones(10)] + 0.0
    y[0] = 0.5  # not binary, so percentile bootstrap runs on continuous data
    labels = np.repeat(["a", "b"], 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ci = mean_ci(y, clusters=labels, method="percentile", n_resamples=500)
    attainable = {0.05, 1.0, (0.05 + 1.0) / 2}
    assert ci.method == "cluster-bootstrap-percentile"
    assert any(abs(ci.low - v) < 1e-9 for v in attainable) and any(abs(ci.high - v) < 1e-9 for v in attainable)


def test_auto_choices_and_reasons():
    rng = np.random.default_rng(0)
    assert mean_ci(rng.integers(0, 2, 500)).method == "beta"
    assert mean_ci(rng.integers(0, 2, 10)).method == "beta"
    assert mean_ci(rng.random(3)).method == "t" and mean_ci(rng.random(300)).method == "t"
    ci = mean_ci(rng.integers(0, 2, 60), clusters=np.repeat(np.arange(12), 5))
    assert ci.method == "beta-clustered" and "12 clusters" in ci.reason
    ci = mean_ci(rng.random(60), clusters=np.repeat(np.arange(12), 5))
    assert ci.method == "clustered" and "12 clusters" in ci.reason
    assert all(mean_ci(rng.random(40)).reason for _ in range(1))


def test_to_dict_is_plain_json():
    import json

    d = mean_ci([1, 1, 1, 1]).to_dict()
    json.dumps(d)
    assert d["ci_high"] == 1.0 and d["ci_method"] == "beta" and d["n"] == 4


@pytest.mark.parametrize(
    "scores,match",
    [
        ([0.1, "abc", 0.3], "non-numeric value 'abc' at position 1"),
        ([0.1, float("nan"), 0.3], "position 1"),
        ([1.0], "at least 2"),
        ([], "at least 2"),
    ],
)
def test_bad_scores_raise_data_error(scores, match):
    with pytest.raises(DataError, match=match):
        mean_ci(scores)


def test_bad_options_raise_config_error():
    with pytest.raises(ConfigError, match="choose one of"):
        mean_ci([0, 1], method="normal")
    with pytest.raises(ConfigError, match="binary"):
        mean_ci([0.5, 0.2], method="wilson")
    with pytest.raises(ConfigError, match="between 0 and 1"):
        mean_ci([0, 1], confidence=95)
    with pytest.raises(ConfigError, match="needs clusters"):
        mean_ci([0.5, 0.2], method="clustered")


def test_one_cluster_warns_or_errors():
    with pytest.warns(UserWarning, match="single cluster"):
        ci = mean_ci([0, 1, 1, 0], clusters=["x"] * 4)
    assert ci.method == "beta" and any("single cluster" in w for w in ci.warnings)
    with pytest.raises(DataError, match="at least 2 clusters"):
        mean_ci([0, 1, 1, 0], clusters=["x"] * 4, method="clustered")
    with pytest.raises(DataError, match="labels for"):
        mean_ci([0, 1, 1, 0], clusters=["x", "y"])


def test_few_clusters_warn():
    with pytest.warns(UserWarning, match="only 3 clusters"):
        ci = mean_ci([0.1, 0.5, 0.7, 0.2, 0.9, 0.4], clusters=[1, 1, 2, 2, 3, 3])
    assert ci.warnings


# ---- coverage ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [20, 50, 200, 1000])
def test_auto_binary_coverage_is_exactly_near_nominal(n):
    """Exact coverage: sum of Binomial(n, p) probabilities of the outcomes whose interval holds p."""
    intervals = []
    for x in range(n + 1):
        ci = mean_ci(np.r_[np.ones(x), np.zeros(n - x)])
        assert ci.method == "beta"
        intervals.append((ci.low, ci.high))
    low, high = np.array(intervals).T
    x = np.arange(n + 1)
    for p in (0.02, 0.1, 0.5):
        coverage = stats.binom.pmf(x, n, p)[(low <= p) & (p <= high)].sum()
        assert 0.925 <= coverage <= 0.99, (n, p, coverage)


def test_clt_undercovers_where_auto_does_not():
    # The documented failure: n=20, p=0.02 -> CLT covers only about a third of the time.
    n, p = 20, 0.02
    x = np.arange(n + 1)
    covered = [mean_ci(np.r_[np.ones(k), np.zeros(n - k)], method="clt") for k in x]
    clt = stats.binom.pmf(x, n, p)[[c.low <= p <= c.high for c in covered]].sum()
    assert 0.30 < clt < 0.36


@pytest.mark.parametrize("n_clusters,size", [(20, 10), (50, 4)])
def test_auto_clustered_coverage_by_simulation(n_clusters, size):
    rng = np.random.default_rng(12345)
    true_p, reps, hits = 0.6, 1000, 0
    groups = np.repeat(np.arange(n_clusters), size)
    for _ in range(reps):
        # Cluster-level accuracy varies (intra-cluster correlation ~0.2), so items within a cluster are correlated.
        cluster_p = rng.beta(true_p * 4, (1 - true_p) * 4, n_clusters)
        y = (rng.random(len(groups)) < cluster_p[groups]).astype(float)
        ci = mean_ci(y, clusters=groups)
        hits += ci.low <= true_p <= ci.high
    assert ci.method == "beta-clustered"
    assert 0.92 <= hits / reps <= 0.98, hits / reps


@pytest.mark.parametrize("n", [2, 3, 10, 200])
def test_t_interval_is_students(n):
    y = np.random.default_rng(n).normal(0.5, 0.1, n)
    ci = mean_ci(y)
    low, high = stats.t.interval(0.95, n - 1, loc=y.mean(), scale=stats.sem(y))
    assert ci.method == "t" and rel(ci.low, low) and rel(ci.high, high)


def test_constant_scores_warn_of_a_zero_width_interval():
    with pytest.warns(UserWarning, match="zero width"):
        assert mean_ci([0.5] * 40, method="clt").warnings


def test_beta_clustered_is_jeffreys_at_the_korn_graubard_effective_size():
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(15), 8)
    y = (rng.random(120) < rng.beta(1, 3, 15)[groups]).astype(float)
    fit = sm.OLS(y, np.ones(120)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    p, se = y.mean(), fit.bse[0]
    n_eff = min(120, p * (1 - p) / se**2) * (stats.t.ppf(0.975, 119) / stats.t.ppf(0.975, 14)) ** 2
    posterior = stats.beta(p * n_eff + 0.5, (1 - p) * n_eff + 0.5)
    ci = mean_ci(y, clusters=groups)
    assert ci.method == "beta-clustered" and n_eff < 120
    assert rel(ci.low, posterior.ppf(0.025)) and rel(ci.high, posterior.ppf(0.975))


def test_beta_clustered_never_collapses_or_leaves_the_unit_interval():
    groups = np.repeat(np.arange(10), 10)
    none_right = mean_ci(np.zeros(100), clusters=groups)
    # no design effect can be estimated at 0 of 100: n* is 100, narrowed only for 10 clusters
    n_eff = 100 * (stats.t.ppf(0.975, 99) / stats.t.ppf(0.975, 9)) ** 2
    assert none_right.low == 0.0 and rel(none_right.high, stats.beta.ppf(0.975, 0.5, n_eff + 0.5))
    one_right = mean_ci(np.r_[np.zeros(99), 1.0], clusters=groups)
    assert 0.0 < one_right.low < 0.01 < one_right.high < 0.1


def test_beta_clustered_covers_rare_successes_where_clustered_does_not():
    # p = 0.02, 20 clusters of 10, intra-cluster correlation 0.05: the cluster-robust
    # t interval covers about 88%; the effective-size Jeffreys interval about 95%.
    rng = np.random.default_rng(7)
    groups = np.repeat(np.arange(20), 10)
    p, spread = 0.02, (1 - 0.05) / 0.05
    hits = {"clustered": 0, "beta-clustered": 0}
    reps = 600
    for _ in range(reps):
        y = (rng.random(200) < rng.beta(p * spread, (1 - p) * spread, 20)[groups]).astype(float)
        for method in hits:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ci = mean_ci(y, clusters=groups, method=method)
            hits[method] += ci.low <= p <= ci.high
    assert hits["beta-clustered"] / reps >= 0.93 and hits["clustered"] / reps <= 0.91


def test_bounded_interval_stays_on_the_scale_and_covers_by_simulation():
    import numpy as np

    from assay.stats.intervals import bounded_mean_ci

    # Ratings on 1..10 with known means, bunched at the top where a t interval leaves the scale.
    rng = np.random.default_rng(7)
    designs = [({10: 0.6, 9: 0.3, 8: 0.1}, 8), ({10: 0.9, 1: 0.1}, 10), ({5: 0.2, 6: 0.3, 7: 0.3, 8: 0.2}, 5)]
    for probs, n in designs:
        values, weights = np.array(list(probs), float), np.array(list(probs.values()))
        truth = float(values @ weights)
        covered = 0
        trials = 600
        for _ in range(trials):
            ci = bounded_mean_ci(rng.choice(values, n, p=weights), 1, 10)
            assert 1 <= ci.low <= ci.mean <= ci.high <= 10 and ci.high > ci.low
            covered += ci.low <= truth <= ci.high
        assert covered / trials >= 0.95 - 3 * (0.05 * 0.95 / trials) ** 0.5, (probs, covered / trials)


def test_bounded_interval_is_the_t_interval_away_from_the_ends():
    import numpy as np
    from scipy import stats

    from assay.stats.intervals import bounded_mean_ci

    values = np.random.default_rng(3).normal(5.5, 1.0, 400).clip(1, 10)
    ci = bounded_mean_ci(values, 1, 10)
    t = stats.ttest_1samp(values, 0).confidence_interval(0.95)
    assert abs(ci.low - t.low) < 0.01 and abs(ci.high - t.high) < 0.01
    same = bounded_mean_ci([8, 8, 8], 1, 10)
    assert same.low < 8 < same.high  # no spread seen is not certainty


def test_scaled_mean_ci_keeps_an_interval_on_the_scale():
    from assay.stats.intervals import bounded_mean_ci, scaled_mean_ci

    binary = [1, 0, 1, 1, 0, 1, 1, 1]
    assert scaled_mean_ci(binary).method == mean_ci(binary, seed=0).method == "beta"
    ratings = [9, 10, 10, 8, 10, 9, 10, 10]
    on_scale = scaled_mean_ci(ratings, 1, 10)
    assert (on_scale.low, on_scale.high) == pytest.approx(
        (bounded_mean_ci(ratings, 1, 10).low, bounded_mean_ci(ratings, 1, 10).high)
    )
    assert on_scale.high <= 10 < mean_ci(ratings, method="t").high
    # Scores off the scale say the scale is not theirs: the plain mean's interval.
    assert scaled_mean_ci([0.5, 1.5, 0.9], 0, 1).method == mean_ci([0.5, 1.5, 0.9], seed=0).method
