import itertools
import subprocess
import sys

import numpy as np
import pytest
from scipy import special, stats

from assay.errors import ConfigError, DataError
from assay.stats.binary import beta_cdf, beta_ppf, proportion_ci, proportion_interval
from assay.stats.intervals import mean_ci

SHAPES = [0.5, 1.0, 1.5, 7.5, 50.5, 999.5, 1e5 + 0.5]
QUANTILES = [1e-6, 0.005, 0.025, 0.5, 0.975, 0.995, 1 - 1e-6]


@pytest.mark.parametrize("a,b", list(itertools.product(SHAPES, SHAPES)))
def test_beta_ppf_and_cdf_match_scipy(a, b):
    for q in QUANTILES:
        ours, theirs = beta_ppf(q, a, b), float(special.betaincinv(a, b, q))
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-15), q
        x = theirs
        assert beta_cdf(x, a, b) == pytest.approx(float(special.betainc(a, b, x)), rel=1e-9, abs=1e-15), q


def test_beta_ppf_edges_and_bad_arguments():
    assert beta_ppf(0.0, 2, 3) == 0.0 and beta_ppf(1.0, 2, 3) == 1.0
    assert beta_cdf(0.0, 2, 3) == 0.0 and beta_cdf(1.0, 2, 3) == 1.0
    with pytest.raises(ConfigError, match="q=1.5"):
        beta_ppf(1.5, 2, 3)
    with pytest.raises(ConfigError, match="a=0"):
        beta_ppf(0.5, 0, 3)


@pytest.mark.parametrize("n", [1, 2, 9, 40, 1000, 54321])
def test_intervals_match_scipy_for_every_count_shape(n):
    for x in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        for method in ("wilson", "exact"):
            ci = stats.binomtest(x, n).proportion_ci(confidence_level=0.9, method=method)
            _, low, high = proportion_interval(method, x, n, 0.9)
            assert low == pytest.approx(ci.low, abs=1e-12) and high == pytest.approx(ci.high, abs=1e-12)
        _, low, high = proportion_interval("beta", x, n, 0.9)
        posterior = stats.beta(x + 0.5, n - x + 0.5)
        assert low == (0.0 if x == 0 else pytest.approx(posterior.ppf(0.05), abs=1e-12))
        assert high == (1.0 if x == n else pytest.approx(posterior.ppf(0.95), abs=1e-12))


def test_proportion_ci_is_mean_ci_of_the_scores():
    for x, n in [(0, 12), (5, 12), (12, 12), (613, 1000)]:
        scores = np.r_[np.ones(x), np.zeros(n - x)]
        assert proportion_ci(x, n).to_dict() == mean_ci(scores).to_dict()
        assert (
            proportion_ci(x, n, method="exact", confidence=0.8).to_dict()
            == mean_ci(scores, method="exact", confidence=0.8).to_dict()
        )


def test_bad_counts_and_options():
    with pytest.raises(DataError, match="13 successes out of 12"):
        proportion_ci(13, 12)
    with pytest.raises(DataError, match="out of 0"):
        proportion_ci(0, 0)
    with pytest.raises(ConfigError, match="'agresti'"):
        proportion_ci(3, 12, method="agresti")
    with pytest.raises(ConfigError, match="confidence=95"):
        proportion_ci(3, 12, confidence=95)


def test_importing_it_loads_neither_numpy_nor_scipy():
    code = (
        "import sys; from assay.stats.binary import proportion_ci; proportion_ci(7, 9); "
        "print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
