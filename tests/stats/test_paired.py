import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from assay.errors import ConfigError, DataError
from assay.stats import paired_diff


def rel(a, b, tol=1e-6):
    return a == pytest.approx(b, rel=tol, abs=1e-12)


def test_continuous_matches_scipy_ttest_rel():
    rng = np.random.default_rng(0)
    a = rng.random(40)
    b = a * 0.8 + rng.random(40) * 0.3
    r = paired_diff(a, b, confidence=0.9)
    ref = stats.ttest_rel(a, b)
    ci = ref.confidence_interval(0.9)
    assert r.test == "paired-t"
    assert rel(r.p_value, ref.pvalue) and rel(r.low, ci.low) and rel(r.high, ci.high)
    assert rel(r.diff, np.mean(a - b)) and rel(r.se, stats.sem(a - b))
    assert rel(r.correlation, stats.pearsonr(a, b).statistic)
    d = np.mean(a - b) / np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    assert r.effect_size_name == "cohen_d" and rel(r.effect_size, d)


def test_binary_uses_exact_mcnemar_like_statsmodels():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2, 80)
    b = np.where(rng.random(80) < 0.8, a, 1 - a)
    r = paired_diff(a, b)
    table = pd.crosstab(pd.Categorical(a, [1, 0]), pd.Categorical(b, [1, 0]), dropna=False).to_numpy()
    ref = mcnemar(table, exact=True)
    assert r.test == "mcnemar-exact" and rel(r.p_value, ref.pvalue) and rel(r.mcnemar_p, ref.pvalue)
    assert r.a_only_correct == table[0, 1] and r.b_only_correct == table[1, 0]
    h = 2 * np.arcsin(np.sqrt(a.mean())) - 2 * np.arcsin(np.sqrt(b.mean()))
    assert r.effect_size_name == "cohen_h" and rel(r.effect_size, h)
    forced = paired_diff(a, b, test="paired-t")
    assert forced.test == "paired-t" and rel(forced.p_value, stats.ttest_rel(a, b).pvalue)


def test_clustered_difference_matches_statsmodels():
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(15), 6)
    a = rng.random(90) + rng.normal(size=15)[groups]
    b = a - 0.1 + rng.normal(scale=0.3, size=90)
    r = paired_diff(a, b, clusters=groups)
    fit = sm.OLS(a - b, np.ones(90)).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    assert r.test == "clustered-t" and r.n_clusters == 15
    assert rel(r.se, fit.bse[0]) and rel(r.p_value, fit.pvalues[0])
    low, high = fit.conf_int()[0]
    assert rel(r.low, low) and rel(r.high, high)


def test_missing_items_are_dropped_with_a_warning():
    a = pd.Series({"q1": 1, "q2": 0, "q3": 1, "q4": 1, "q5": 0})
    b = pd.Series({"q2": 1, "q3": 1, "q4": 0, "q5": 0, "q9": 1, "q8": 0})
    with pytest.warns(UserWarning, match="4 items both models answered; dropped 1 .* and 2"):
        r = paired_diff(a, b)
    assert (r.n, r.n_dropped_a, r.n_dropped_b) == (4, 1, 2)
    assert rel(r.diff, np.mean([0 - 1, 1 - 1, 1 - 0, 0 - 0]))
    assert r.warnings


def test_paired_errors():
    with pytest.raises(DataError, match="only 1 item"):
        paired_diff({"x": 1, "y": 0}, {"x": 1, "z": 0})
    with pytest.raises(DataError, match="Series"):
        paired_diff([1, 0, 1], [1, 0])
    with pytest.raises(DataError, match="non-numeric"):
        paired_diff([1, "no", 1], [1, 0, 1])
    with pytest.raises(DataError, match="appears more than once"):
        paired_diff(pd.Series([1, 0], index=["x", "x"]), pd.Series([1, 0], index=["x", "y"]))
    with pytest.raises(ConfigError, match="binary"):
        paired_diff([0.5, 0.2], [0.1, 0.3], test="mcnemar-exact")


def test_identical_models_give_p_one_and_an_honest_interval():
    # Binary, no discordant items: a [0, 0] interval would claim certainty from 4 items. The
    # interval is ± the exact upper bound of the discordant share at 0 of 4: 1 - (alpha/2)^(1/4).
    r = paired_diff([1, 0, 1, 1], [1, 0, 1, 1])
    assert r.p_value == 1.0 and r.diff == 0
    u = stats.beta.ppf(0.975, 1, 4)
    assert rel(r.high, u) and rel(r.low, -u) and rel(u, 1 - 0.025**0.25)
    assert "no discordant" in r.ci_method
    # on an unbounded scale the t-test has no spread to work with and says so
    with pytest.warns(UserWarning, match="differences are all 0"):
        t = paired_diff([5.0, 2.0, 7.0], [5.0, 2.0, 7.0])
    assert t.p_value == 1.0 and t.low == t.high == 0


def test_identical_means_of_several_samples_keep_an_exact_interval():
    # Four samples per item: item means 0.25, 0.5, ... are not binary, and two models that agree on every
    # item's mean have no spread in their differences. Scores in [0, 1] bound the difference, so the
    # interval is the binary path's: ± the Clopper-Pearson upper bound at 0 of n (scipy's exact interval).
    means = [0.0, 0.25, 0.5, 1.0, 0.75, 0.0, 0.0, 0.25]
    r = paired_diff(means, list(means))
    upper = stats.binomtest(0, len(means)).proportion_ci(0.95, method="exact").high
    assert r.high > 0 and rel(r.high, upper) and rel(r.low, -upper)
    assert r.test == "mcnemar-means" and r.p_value == 1.0 and "per-item means" in r.ci_method
    # A constant non-zero difference on binary-valued means is the binary path's interval and p exactly.
    a, b = [1.0] * 6, [0.0] * 6
    forced = paired_diff(np.array(a) * 0.5 + 0.5, np.array(b) * 0.5 + 0.5)  # every difference 0.5
    # three items' worth of wins by a (half an item each on six items): p = 2 * 0.5^3, as McNemar on 3-0
    assert forced.test == "mcnemar-means" and forced.low < 0.5 < forced.high <= 1 and rel(forced.p_value, 0.25)
    binary = paired_diff(a, b)
    from assay.stats.paired import means_interval

    low, high, p, _, _ = means_interval(np.ones(6))
    assert rel(low, binary.low) and rel(high, binary.high) and rel(p, binary.p_value)


@pytest.mark.parametrize("m", [1, 2, 5, 9, 20])
def test_fractional_mcnemar_p_is_the_exact_test_on_whole_counts(m):
    from assay.stats.paired import _fractional_mcnemar_p

    for k in range(m + 1):
        expected = stats.binomtest(k, m, 0.5).pvalue
        assert rel(_fractional_mcnemar_p(k, m - k), expected)


def test_zero_difference_bound_covers_by_simulation():
    # Per-item differences in [-1, 1] of 4-sample means with a small true difference: whenever every
    # difference comes out 0, the interval must still cover the truth at the nominal rate overall.
    rng = np.random.default_rng(0)
    n, k, p_a, p_b = 6, 4, 0.03, 0.0
    truth, misses, trials = p_a - p_b, 0, 4000
    for _ in range(trials):
        a = rng.binomial(k, p_a, n) / k
        b = rng.binomial(k, p_b, n) / k
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = paired_diff(a, b)
        misses += not (r.low <= truth <= r.high)
    assert misses / trials <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / trials)


def test_aligned_clusters_follow_keyed_rows():
    import numpy as np
    import pandas as pd

    from assay.stats.intervals import cluster_robust_se

    rng = np.random.default_rng(3)
    ids = rng.permutation(40)
    a = pd.Series(rng.integers(0, 2, 40).astype(float), index=ids)
    b = pd.Series(rng.integers(0, 2, 40).astype(float), index=ids)
    labels = np.repeat(np.arange(8), 5)
    expected = cluster_robust_se((a - b).to_numpy(), labels.astype(object))[0]
    assert paired_diff(a, b, clusters=labels).se == pytest.approx(expected, rel=1e-12)
    keyed = pd.Series(labels, index=ids)
    assert paired_diff(a, b, clusters=keyed).se == pytest.approx(expected, rel=1e-12)
    with pytest.raises(DataError, match="both be keyed"):
        paired_diff(a, b.to_numpy())


def mcnemar_table(a_only, b_only, n):
    """Paired 0/1 scores with the given discordant counts (concordant items split between 1-1 and 0-0)."""
    both = (n - a_only - b_only) // 2
    neither = n - a_only - b_only - both
    a = [1] * a_only + [0] * b_only + [1] * both + [0] * neither
    b = [0] * a_only + [1] * b_only + [1] * both + [0] * neither
    return np.array(a), np.array(b)


def test_mcnemar_p_matches_statsmodels_on_many_tables():
    for n, a_only, b_only in [(20, 5, 0), (30, 9, 2), (40, 7, 7), (25, 0, 6), (60, 13, 4), (12, 1, 0), (200, 31, 17)]:
        a, b = mcnemar_table(a_only, b_only, n)
        both = int(np.sum((a == 1) & (b == 1)))
        ref = mcnemar([[both, a_only], [b_only, n - a_only - b_only - both]], exact=True).pvalue
        r = paired_diff(a, b)
        assert r.test == "mcnemar-exact" and (r.a_only_correct, r.b_only_correct) == (a_only, b_only)
        assert rel(r.p_value, ref)


@pytest.mark.parametrize("confidence, max_n", [(0.95, 40), (0.75, 40), (0.9, 25), (0.99, 25)])
def test_mcnemar_interval_excludes_zero_exactly_when_the_test_rejects(confidence, max_n):
    # Every table with n <= max_n pairs. 0.75 makes alpha/2 = 2^-3, so p == alpha happens (e.g. 0 of 3
    # discordant for a): there the test rejects and a bound sits at 0, so the rule checked is
    # "0 strictly inside the interval <=> p > alpha", the inversion of a p <= alpha test.
    from assay.stats.paired import mcnemar_exact_p, mcnemar_interval

    alpha = 1 - confidence
    checked = rejected = 0
    for n in range(2, max_n + 1):
        for a_only in range(n + 1):
            for b_only in range(n + 1 - a_only):
                p = mcnemar_exact_p(a_only, b_only)
                low, high = mcnemar_interval(a_only, b_only, n, confidence)
                assert low <= (a_only - b_only) / n <= high
                assert (low < 0 < high) == (p > alpha), (n, a_only, b_only, p, low, high)
                checked += 1
                rejected += p <= alpha
    assert checked > 2500 and rejected > 500  # both sides of the rule were exercised


def test_mcnemar_interval_agrees_with_the_test_at_larger_n():
    from assay.stats.paired import mcnemar_exact_p, mcnemar_interval

    rng = np.random.default_rng(7)
    for _ in range(2000):
        n = int(rng.integers(41, 3000))
        m = int(rng.binomial(n, rng.uniform(0.01, 0.6)))
        # split near 1/2 so that many tables sit close to the rejection boundary
        a_only = int(rng.binomial(m, rng.uniform(0.35, 0.65)))
        low, high = mcnemar_interval(a_only, m - a_only, n)
        assert (low < 0 < high) == (mcnemar_exact_p(a_only, m - a_only) > 0.05), (n, a_only, m)


@pytest.mark.parametrize(
    "n, p10, p01", [(50, 0.05, 0.0), (50, 0.3, 0.02), (200, 0.12, 0.09), (200, 0.2, 0.0), (80, 0.25, 0.25)]
)
def test_mcnemar_interval_covers_by_exact_enumeration(n, p10, p01):
    # Exact coverage of the true p10 - p01 over every (a_only, b_only) table, weighted by the multinomial.
    # Designs with p01 = 0 are where a t interval or the interval conditional on the discordant count
    # collapses onto the estimate (coverage far below 95%).
    from assay.stats.paired import mcnemar_interval

    delta, covered = p10 - p01, 0.0
    for a_only in range(n + 1):
        for b_only in range(n + 1 - a_only):
            w = stats.multinomial.pmf([a_only, b_only, n - a_only - b_only], n, [p10, p01, 1 - p10 - p01])
            if w < 1e-13:
                continue
            low, high = mcnemar_interval(a_only, b_only, n)
            covered += w * (low <= delta <= high)
    assert covered >= 0.95


def test_mcnemar_interval_width_stays_close_to_the_t_interval():
    # The price of coverage plus agreement with the exact test is width; on a typical pair of models
    # (n = 500, 12% of items only a gets right, 9% only b) it is about 22% wider than the t interval
    # in expectation. Guard against it growing (e.g. a 2x wider, useless interval).
    from assay.stats.paired import mcnemar_interval

    n, p10, p01 = 500, 0.12, 0.09
    t_crit = stats.t.ppf(0.975, n - 1)
    width = t_width = total = 0.0
    for a_only in range(20, 110):
        for b_only in range(10, 95):
            w = stats.multinomial.pmf([a_only, b_only, n - a_only - b_only], n, [p10, p01, 1 - p10 - p01])
            low, high = mcnemar_interval(a_only, b_only, n)
            d = np.r_[np.ones(a_only), -np.ones(b_only), np.zeros(n - a_only - b_only)]
            width += w * (high - low)
            t_width += w * 2 * t_crit * d.std(ddof=1) / np.sqrt(n)
            total += w
    assert total > 0.9999  # the window holds essentially all the probability
    assert 1.0 < width / t_width < 1.35


def test_tied_models_are_not_called_different_by_their_interval():
    # 5 items only A gets right, none only B: exact McNemar p = 2 * 0.5^5 = 0.0625 > 0.05, so the
    # models are tied, and the 95% interval must contain 0 (the t interval was [+0.042, +0.458]).
    from assay.stats import compare

    a = [1] * 5 + [1] * 7 + [0] * 8
    b = [0] * 5 + [1] * 7 + [0] * 8
    r = paired_diff(a, b)
    assert rel(r.p_value, mcnemar([[7, 5], [0, 8]], exact=True).pvalue) and rel(r.p_value, 0.0625)
    assert r.low < 0 < r.high and r.diff == 0.25
    rows = [{"model": m, "item": i, "score": s} for m, scores in (("A", a), ("B", b)) for i, s in enumerate(scores)]
    result = compare(pd.DataFrame(rows))
    pair = result.to_dict()["pairs"][0]
    assert result.tied_groups == [["A", "B"]]
    assert pair["ci_low"] < 0 < pair["ci_high"] and pair["p_adjusted"] >= 0.05
    # One more A-only item (6 of 6): p = 0.03125 rejects, the models split and the interval leaves 0.
    a2, b2 = a + [1], b + [0]
    r2 = paired_diff(a2, b2)
    assert r2.p_value == pytest.approx(0.03125) and r2.low > 0
    rows2 = [{"model": m, "item": i, "score": s} for m, scores in (("A", a2), ("B", b2)) for i, s in enumerate(scores)]
    assert compare(pd.DataFrame(rows2)).tied_groups == [["A"], ["B"]]


def test_interval_method_is_reported():
    a, b = mcnemar_table(9, 2, 30)
    assert "McNemar" in paired_diff(a, b).ci_method and paired_diff(a, b).to_dict()["ci_method"]
    assert "t(29 df)" in paired_diff(a, b, test="paired-t").ci_method
