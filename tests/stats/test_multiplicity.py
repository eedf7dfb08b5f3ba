import numpy as np
import pytest
from scipy import stats

from assay.errors import ConfigError, DataError
from assay.stats import adjust_pvalues


def holm_by_hand(p):
    """Holm step-down: sorted p_(i) * (m - i), made monotone, capped at 1, back in input order."""
    p = np.asarray(p)
    order = np.argsort(p)
    m = len(p)
    stepped = np.maximum.accumulate([(m - i) * p[k] for i, k in enumerate(order)])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1)
    return out


def test_holm_matches_definition():
    p = [0.01, 0.04, 0.03, 0.005, 0.2]
    assert adjust_pvalues(p) == pytest.approx(holm_by_hand(p), rel=1e-12)


def test_bh_matches_scipy():
    p = np.random.default_rng(0).random(12) ** 3
    assert adjust_pvalues(p, "bh") == pytest.approx(stats.false_discovery_control(p), rel=1e-10)


def test_nan_is_kept_and_not_counted():
    out = adjust_pvalues([0.01, np.nan, 0.04], "bonferroni")
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.08)


def test_errors():
    with pytest.raises(ConfigError, match="holm"):
        adjust_pvalues([0.1], "tukey")
    with pytest.raises(DataError, match="outside"):
        adjust_pvalues([1.5])


def test_holm_matches_statsmodels_with_ties_and_nan():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(1)
    for _ in range(50):
        p = rng.random(rng.integers(1, 15)) ** 3
        p[: len(p) // 2] = p[0]  # ties
        assert adjust_pvalues(p, "holm") == pytest.approx(multipletests(p, method="holm")[1], rel=1e-14)
    out = adjust_pvalues([0.04, np.nan, 0.01, 0.9], "holm")
    assert np.isnan(out[1]) and out[[0, 2, 3]] == pytest.approx(multipletests([0.04, 0.01, 0.9], method="holm")[1])
