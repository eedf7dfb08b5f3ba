import functools
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.power import TTestIndPower, TTestPower

from assay.errors import ConfigError
from assay.stats import minimum_detectable_effect, plan, required_items
from assay.stats import power as power_module
from assay.stats.power import mcnemar_exact_power


def cells(baseline, mde, rho):
    """Discordant probabilities (only the baseline model right, only the other right) from the phi correlation."""
    p1, p2 = baseline, baseline + mde
    p11 = p1 * p2 + rho * math.sqrt(p1 * (1 - p1) * p2 * (1 - p2))
    return p1 - p11, p2 - p11


@functools.lru_cache(maxsize=None)
def statsmodels_mcnemar_p(b, c):
    # the concordant cells do not enter the exact test; statsmodels is the reference for its p-value
    return mcnemar([[0, b], [c, 0]], exact=True).pvalue


def brute_force_power(n, p10, p01, alpha):
    """Power of the exact McNemar test by enumerating every 2x2 table of n items (multinomial weights)."""
    tables = np.array([(b, c, n - b - c) for b in range(n + 1) for c in range(n + 1 - b)])
    weights = stats.multinomial.pmf(tables, n, [p10, p01, 1 - p10 - p01])
    rejects = np.array([statsmodels_mcnemar_p(int(b), int(c)) <= alpha for b, c, _ in tables])
    return float(weights[rejects].sum())


def test_unpaired_binary_matches_arcsine_formula():
    r = required_items(baseline=0.7, mde=0.03, power=0.8)
    h = 2 * math.asin(math.sqrt(0.73)) - 2 * math.asin(math.sqrt(0.7))
    closed_form = 2 * ((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / h) ** 2
    # statsmodels adds the (negligible) far tail; the closed form ignores it
    assert abs(r.n_items - math.ceil(closed_form)) <= 1
    assert r.method == "analytic" and not r.paired
    d = r.to_dict()
    assert d["n_items"] == r.n_items and d["assumptions"]["baseline"] == 0.7 and d["assumptions"]["power"] == 0.8


def test_paired_binary_connor_formula_on_request_reports_its_exact_power():
    p10, p01 = cells(0.7, 0.03, 0.5)
    psi = p10 + p01
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    connor = (za * math.sqrt(psi) + zb * math.sqrt(psi - 0.03**2)) ** 2 / 0.03**2
    with pytest.warns(UserWarning, match="power 0.787 at 1782 items"):
        r = required_items(baseline=0.7, mde=0.03, paired=True, correlation=0.5, method="analytic")
    assert r.n_items == math.ceil(connor) == 1782 and r.method == "analytic"
    # Connor's normal approximation promises 0.80; the exact test assay compare runs gets less
    assert r.exact_power == pytest.approx(mcnemar_exact_power(1782, p10, p01, 0.05)) and r.exact_power < 0.79
    assert r.to_dict()["exact_power"] == r.exact_power


def test_paired_binary_plan_reaches_the_power_of_the_exact_test():
    # The reported bug: Connor gives 45 items (about 24 discordant), where the exact McNemar test
    # has power 0.753. The plan must be the smallest n whose exact power is >= 0.80, checked here by
    # enumerating every table for every n up to the answer, with statsmodels' exact McNemar p-values.
    r = required_items(baseline=0.3, mde=0.3, paired=True, correlation=0.0)
    p10, p01 = cells(0.3, 0.3, 0.0)
    assert r.method == "exact" and "Connor" in r.formula and "45" in r.formula
    assert brute_force_power(45, p10, p01, 0.05) == pytest.approx(0.7532, abs=5e-4)
    assert brute_force_power(r.n_items, p10, p01, 0.05) >= 0.8
    assert r.exact_power == pytest.approx(brute_force_power(r.n_items, p10, p01, 0.05), rel=1e-9)
    assert all(brute_force_power(n, p10, p01, 0.05) < 0.8 for n in range(2, r.n_items))
    assert r.n_items == 50


@pytest.mark.parametrize(
    "n, baseline, mde, rho, alpha",
    [
        (12, 0.5, 0.3, 0.2, 0.05),
        (25, 0.3, 0.3, 0.0, 0.05),
        (40, 0.6, 0.15, 0.4, 0.05),
        (30, 0.2, 0.1, -0.2, 0.01),
        (35, 0.7, 0.2, 0.5, 0.1),
        (20, 0.4, 0.2, 0.1, 0.25),  # alpha/2 = 2^-3: p == alpha occurs and must count as a rejection
    ],
)
def test_exact_power_matches_brute_force_enumeration(n, baseline, mde, rho, alpha):
    p10, p01 = cells(baseline, mde, rho)
    assert mcnemar_exact_power(n, p10, p01, alpha) == pytest.approx(brute_force_power(n, p10, p01, alpha), rel=1e-9)


def test_scan_agrees_with_direct_power_at_larger_n():
    # the search carries Bin(n, psi) from n to n+1; check its answer against the direct sum
    r = required_items(baseline=0.7, mde=0.03, paired=True, correlation=0.5)
    p10, p01 = cells(0.7, 0.03, 0.5)
    assert r.method == "exact" and r.n_items > 1782  # more than Connor's formula
    assert r.exact_power == pytest.approx(mcnemar_exact_power(r.n_items, p10, p01, 0.05), rel=1e-9)
    assert r.exact_power >= 0.8 > mcnemar_exact_power(r.n_items - 1, p10, p01, 0.05)
    assert r.n_items < required_items(baseline=0.7, mde=0.03).n_items / 1.8  # pairing still helps


def test_simulated_exact_mcnemar_agrees_with_exact_enumeration():
    exact = required_items(baseline=0.7, mde=0.05, paired=True, correlation=0.4)
    simulated = required_items(baseline=0.7, mde=0.05, paired=True, correlation=0.4, method="simulation", seed=3)
    assert simulated.method == "simulation" and simulated.n_simulations and exact.method == "exact"
    # 4000 simulations put about ±0.013 of noise on the power near 0.8, i.e. a few percent on n
    assert abs(simulated.n_items / exact.n_items - 1) < 0.05


def test_too_large_designs_fall_back_to_connor_and_say_so(monkeypatch):
    monkeypatch.setattr(power_module, "EXACT_MAX_ITEMS", 1000)
    with pytest.warns(UserWarning, match="not enumerated"):
        r = required_items(baseline=0.7, mde=0.03, paired=True, correlation=0.5)
    assert r.method == "analytic" and r.n_items == 1782 and "not enumerated" in r.formula and r.warnings
    with pytest.warns(UserWarning, match="not enumerated"):
        m = minimum_detectable_effect(2000, baseline=0.7, paired=True, correlation=0.5)
    assert m.method == "analytic" and m.exact_power is None


def test_exact_mde_is_where_the_exact_power_reaches_the_target():
    m = minimum_detectable_effect(30, baseline=0.5, paired=True, correlation=0.3)
    assert m.method == "exact"
    assert brute_force_power(30, *cells(0.5, m.mde, 0.3), 0.05) >= 0.8
    assert brute_force_power(30, *cells(0.5, m.mde - 1e-6, 0.3), 0.05) < 0.8
    # on this design the exact power rises with the difference, so nothing smaller reaches 0.8
    assert all(mcnemar_exact_power(30, *cells(0.5, d, 0.3), 0.05) < 0.8 for d in np.linspace(0.001, m.mde - 1e-6, 300))
    with pytest.warns(UserWarning, match="exact McNemar test .* has power"):
        connor = minimum_detectable_effect(30, baseline=0.5, paired=True, correlation=0.3, method="analytic")
    assert connor.mde < m.mde and connor.exact_power < 0.8


def test_continuous_designs_match_statsmodels():
    r = required_items(metric_type="continuous", sd=0.3, mde=0.05)
    assert r.n_items == math.ceil(TTestIndPower().solve_power(effect_size=0.05 / 0.3, alpha=0.05, power=0.8))
    r = required_items(metric_type="continuous", sd=0.3, mde=0.05, paired=True, correlation=0.6)
    d = 0.05 / (0.3 * math.sqrt(2 * 0.4))
    assert r.n_items == math.ceil(TTestPower().solve_power(effect_size=d, alpha=0.05, power=0.8))


@pytest.mark.parametrize(
    "kwargs, method",
    [
        (dict(baseline=0.6), "analytic"),
        (dict(baseline=0.6, paired=True, correlation=0.5), "exact"),
        (dict(metric_type="continuous", sd=0.25), "analytic"),
        (dict(metric_type="continuous", sd=0.25, paired=True, correlation=0.3), "analytic"),
    ],
)
def test_mde_inverts_required_items(kwargs, method):
    m = minimum_detectable_effect(500, **kwargs)
    assert m.method == method
    n = required_items(mde=m.mde, **kwargs)
    assert n.method == method and n.n_items in (500, 501)


def test_plan_dispatch_and_errors():
    assert plan(baseline=0.7, mde=0.03).solved_for == "n_items"
    assert plan(baseline=0.7, n_items=1000).solved_for == "mde"
    with pytest.raises(ConfigError, match="exactly one"):
        plan(baseline=0.7)
    with pytest.raises(ConfigError, match="baseline"):
        required_items(mde=0.03)
    with pytest.raises(ConfigError, match="exceeds 1"):
        required_items(baseline=0.99, mde=0.03)
    with pytest.raises(ConfigError, match="sd"):
        required_items(metric_type="continuous", mde=0.03)
    with pytest.raises(ConfigError, match="impossible"):
        required_items(baseline=0.1, mde=0.8, paired=True, correlation=0.9)
    with pytest.raises(ConfigError, match="binary or continuous"):
        required_items(metric_type="ordinal", baseline=0.5, mde=0.1)


def test_a_correlation_without_a_paired_design_is_refused():
    from assay.stats.power import required_items

    with pytest.raises(ConfigError, match="paired designs only"):
        required_items(baseline=0.5, mde=0.1, correlation=0.3)


_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(600)


def _t_power_by_integration(d, n, paired, alpha=0.05):
    """Power of the two-sided t-test from its definition, independently of any noncentral t code:
    T = (Z + nc) / sqrt(V / df) with V ~ chi2(df), averaged over V's quantiles (Gauss-Legendre, ~1e-7)."""
    df, nc = (n - 1, d * math.sqrt(n)) if paired else (2 * n - 2, d * math.sqrt(n / 2))
    crit = stats.t.isf(alpha / 2, df)
    s = np.sqrt(stats.chi2.ppf((_NODES + 1) / 2, df) / df)
    return float(_WEIGHTS / 2 @ (stats.norm.sf(crit * s - nc) + stats.norm.cdf(-crit * s - nc)))


@pytest.mark.parametrize("paired", [True, False])
def test_continuous_mde_for_every_n_from_2_to_300(paired):
    # statsmodels' solve_power for the effect size returned a 1-element array or the negative root
    # for some n (paired 73, 87, 92; unpaired 139, 151): a crash. Every n now has the root of the power.
    sd, r = 1.0, 0.3 if paired else 0.0
    sd_diff = sd * math.sqrt(2 * (1 - r)) if paired else sd
    sm_power = TTestPower().power if paired else functools.partial(TTestIndPower().power, ratio=1.0)
    finite = 0
    previous = math.inf
    for n in range(2, 301):
        mde = minimum_detectable_effect(n, metric_type="continuous", sd=sd, paired=paired, correlation=r).mde
        d = mde / sd_diff
        assert 0 < mde < previous  # more items detect smaller differences
        previous = mde
        # Where the target power is reached, by the definition of the test (not our own code) ...
        assert _t_power_by_integration(d, n, paired) == pytest.approx(0.8, abs=1e-6)
        assert (
            _t_power_by_integration(d * (1 - 1e-4), n, paired)
            < 0.8
            < _t_power_by_integration(d * (1 + 1e-4), n, paired)
        )
        # ... and by statsmodels' power function, wherever scipy's noncentral t gives it a number.
        with np.errstate(all="ignore"):
            reference = sm_power(effect_size=d, **({"nobs": n} if paired else {"nobs1": n}), alpha=0.05)
        if np.isfinite(reference):
            finite += 1
            assert reference == pytest.approx(0.8, abs=1e-9)
    assert finite >= 290


@pytest.mark.parametrize("paired", [True, False])
def test_required_items_for_any_effect_matches_statsmodels(paired):
    sm = TTestPower() if paired else TTestIndPower()
    r = 0.3 if paired else 0.0
    sd_diff = math.sqrt(2 * (1 - r)) if paired else 1.0
    for mde in np.geomspace(0.05, 4, 40):
        plan_ = required_items(mde=float(mde), metric_type="continuous", sd=1.0, paired=paired, correlation=r)
        expected = sm.solve_power(effect_size=mde / sd_diff, alpha=0.05, power=0.8)
        assert plan_.n_items == max(2, math.ceil(expected - 1e-9)), mde
    # Effects so large that statsmodels' solve_power returns NaN (and ceil(nan) crashed): the fewest
    # items (2 at least, as a t-test needs) whose power, by the test's definition, reaches the target.
    for mde in (5.0, 10.0, 50.0, 1e6):
        n = required_items(mde=mde, metric_type="continuous", sd=1.0, paired=paired, correlation=r).n_items
        assert _t_power_by_integration(mde / sd_diff, n, paired) >= 0.8
        assert n == 2 or _t_power_by_integration(mde / sd_diff, n - 1, paired) < 0.8
        assert n <= 3


def test_power_must_exceed_alpha():
    with pytest.raises(ConfigError, match="power=0.04 must be above alpha=0.05"):
        required_items(mde=0.1, baseline=0.5, power=0.04)
