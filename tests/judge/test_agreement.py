import numpy as np
import pytest
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from assay.judge.agreement import (
    bootstrap_over_items,
    cohens_kappa,
    cohens_kappa_from_table,
    confusion_matrix,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
    resample_rows,
)

NA = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers,
# 12 units, values 1-5 with missing entries. Published: nominal 0.743,
# ordinal 0.815, interval 0.849.
KRIPPENDORFF_EXAMPLE = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NA, NA, NA],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NA, 3],
        [NA, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NA],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NA],
    ]
)


@pytest.mark.parametrize("level,published", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_krippendorff_alpha_matches_published_example(level, published):
    assert krippendorff_alpha(KRIPPENDORFF_EXAMPLE, level=level) == pytest.approx(published, abs=5e-4)


def test_krippendorff_alpha_by_hand():
    # Units (a,a), (a,b), (b,b): coincidences o_aa = o_bb = 2, o_ab = o_ba = 1,
    # n_a = n_b = 3, n = 6, so alpha = 1 - (6 - 1) * 2 / (2 * 3 * 3) = 4/9.
    data = np.array([[0, 0, 1], [0, 1, 1]], dtype=float)
    assert krippendorff_alpha(data, "nominal") == pytest.approx(4 / 9)
    # A unit with a single value has no pair and must not change alpha.
    with_lonely = np.array([[0, 0, 1, 1], [0, 1, 1, NA]], dtype=float)
    assert krippendorff_alpha(with_lonely, "nominal") == pytest.approx(4 / 9)
    # Two categories: interval and nominal distances are proportional.
    assert krippendorff_alpha(data, "interval") == pytest.approx(4 / 9)


def test_krippendorff_alpha_perfect_and_rejects_unknown_level():
    data = np.array([[1, 2, 3, 1], [1, 2, 3, 1]], dtype=float)
    assert krippendorff_alpha(data, "ordinal") == pytest.approx(1.0)
    with pytest.raises(ValueError, match="nominal, ordinal, interval"):
        krippendorff_alpha(data, "ratio")


def test_krippendorff_nominal_close_to_fleiss_on_complete_data():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 400)
    ratings = np.where(rng.random((400, 3)) < 0.7, truth[:, None], rng.integers(0, 3, (400, 3)))
    alpha = krippendorff_alpha(ratings.T.astype(float), "nominal")
    # On complete data alpha differs from Fleiss' kappa only by a small-sample factor.
    assert alpha == pytest.approx(fleiss_kappa(ratings), abs=2e-3)


def test_cohens_kappa_matches_statsmodels():
    rng = np.random.default_rng(0)
    a = rng.choice(["1", "2", "tie"], size=300, p=[0.45, 0.45, 0.1])
    b = np.where(rng.random(300) < 0.6, a, rng.choice(["1", "2", "tie"], size=300))
    table, categories = confusion_matrix(a, b)
    assert categories == ["1", "2", "tie"]
    assert cohens_kappa(a, b) == pytest.approx(sm_cohens_kappa(table).kappa)
    assert 0.3 < cohens_kappa(a, b) < 0.9


def test_cohens_kappa_edges():
    assert cohens_kappa([1, 2, 1, 2], [1, 2, 1, 2]) == pytest.approx(1.0)
    # Always answering "1" on balanced labels: half agreement, zero kappa.
    labels = [1, 2] * 10
    assert percent_agreement([1] * 20, labels) == pytest.approx(50.0)
    assert cohens_kappa([1] * 20, labels) == pytest.approx(0.0)
    assert np.isnan(cohens_kappa([1, 1], [1, 1]))
    with pytest.raises(ValueError):
        cohens_kappa([1, 2], [1])


def test_fleiss_kappa_matches_statsmodels_and_accepts_text():
    rng = np.random.default_rng(1)
    ratings = rng.integers(0, 3, (60, 4))
    expected = sm_fleiss_kappa(aggregate_raters(ratings)[0], method="fleiss")
    assert fleiss_kappa(ratings) == pytest.approx(expected)
    text = np.array([["a", "b"], ["a", "a"], ["b", "b"]], dtype=object)
    coded = np.array([[0, 1], [0, 0], [1, 1]])
    assert fleiss_kappa(text) == pytest.approx(fleiss_kappa(coded))


def test_resample_rows_keeps_items_together():
    groups = np.array([0, 0, 1, 2, 2, 2])
    rows, draw = resample_rows(groups, np.random.default_rng(0))
    for d in np.unique(draw):
        drawn_groups = set(groups[rows[draw == d]])
        assert len(drawn_groups) == 1
        assert (draw == d).sum() == np.bincount(groups)[drawn_groups.pop()]


def test_bootstrap_over_items_resamples_whole_items_and_is_seeded():
    # Each item has rows x and -x: a mean over whole items is always 0, a mean
    # over loose rows would not be.
    values = np.repeat(np.arange(1.0, 41.0), 2) * np.tile([1.0, -1.0], 40)
    items = np.repeat(np.arange(40), 2)
    est = bootstrap_over_items(items, lambda r: {"mean": values[r].mean()}, n_boot=200, seed=1)["mean"]
    assert est.value == 0.0 and est.low == pytest.approx(0.0) and est.high == pytest.approx(0.0)
    assert est.n_items == 40 and est.method.startswith("bootstrap")

    noisy = np.random.default_rng(0).normal(size=80)
    first = bootstrap_over_items(items, lambda r: {"m": noisy[r].mean()}, n_boot=200, seed=5)["m"]
    again = bootstrap_over_items(items, lambda r: {"m": noisy[r].mean()}, n_boot=200, seed=5)["m"]
    other = bootstrap_over_items(items, lambda r: {"m": noisy[r].mean()}, n_boot=200, seed=6)["m"]
    assert (first.low, first.high) == (again.low, again.high)
    assert (first.low, first.high) != (other.low, other.high)
    assert first.low < first.value < first.high
    assert first.to_dict()["value"] == pytest.approx(noisy.mean())


def test_cohens_kappa_near_certain_chance_agreement_matches_statsmodels():
    # Chance agreement within 1e-5 of 1 (one rare label among many items) is not "undefined":
    # only exactly 1 is. np.isclose(expected, 1) used to return NaN for all of these.
    for n in (1_000, 200_000, 10_000_000):
        tables = {
            "the rare item agreed": np.array([[1, 0], [0, n - 1]]),
            "the rare item disputed": np.array([[0, 1], [1, n - 2]]),
            "one rater's rare label": np.array([[0, 1], [0, n - 1]]),
            "three labels": np.array([[2, 0, 1], [0, 0, 1], [1, 0, n - 5]]),
        }
        for name, table in tables.items():
            ours = cohens_kappa_from_table(table)
            assert np.isfinite(ours), (n, name)
            assert ours == pytest.approx(sm_cohens_kappa(table).kappa, rel=1e-6, abs=1e-9), (n, name)
    assert cohens_kappa_from_table(np.array([[1, 0], [0, 199_999]])) == 1.0
    assert cohens_kappa_from_table(np.array([[0, 1], [0, 199_999]])) == 0.0
    # Exactly one category used by both: undefined.
    assert np.isnan(cohens_kappa_from_table(np.array([[0, 0], [0, 5_000_000]])))
    # The same through labels: 1 disagreement among 300,000 items.
    a = ["yes"] * 300_000
    b = ["no"] + ["yes"] * 299_999
    assert cohens_kappa(a, b) == 0.0
