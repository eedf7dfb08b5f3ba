import json
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.multitest import multipletests

from assay.errors import ConfigError, DataError
from assay.stats.across import (
    across,
    chi2_interval,
    crossed_components,
    expected_range_factor,
    mls_interval,
    pooled_difference,
    two_way_mean_squares,
    variant_spread,
    verdict,
)

# ---- simulated designs with known components -------------------------------------------------------


def normal_cells(rng, n_items, n_variants, k, s_item, s_variant, s_cell, s_resid):
    """y[i, v, k] = a_i + b_v + c_iv + e_ivk, all normal with the given sds."""
    return (
        s_item * rng.normal(size=n_items)[:, None, None]
        + s_variant * rng.normal(size=n_variants)[None, :, None]
        + s_cell * rng.normal(size=(n_items, n_variants))[:, :, None]
        + s_resid * rng.normal(size=(n_items, n_variants, k))
    )


def long_frame(y, model="m", offset=0.0):
    """A scores frame (model, item, variant, sample, score) from an items × variants × samples array."""
    n_items, n_variants, k = y.shape
    i, v, s = np.meshgrid(np.arange(n_items), np.arange(n_variants), np.arange(k), indexing="ij")
    return pd.DataFrame(
        {
            "model": model,
            "item": [f"q{x}" for x in i.ravel()],
            "variant": [f"v{x}" for x in v.ravel()],
            "sample": s.ravel(),
            "score": y.ravel() + offset,
        }
    )


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ---- the decomposition -----------------------------------------------------------------------------


def test_mean_squares_match_statsmodels_two_way_anova():
    rng = np.random.default_rng(0)
    cells = normal_cells(rng, 30, 5, 1, 0.5, 0.3, 0.0, 0.4)[:, :, 0]
    ms, df = two_way_mean_squares(cells)
    frame = long_frame(cells[:, :, None])
    table = sm.stats.anova_lm(smf.ols("score ~ C(item) + C(variant)", data=frame).fit())
    assert ms["item"] == pytest.approx(table.loc["C(item)", "mean_sq"], rel=1e-9)
    assert ms["variant"] == pytest.approx(table.loc["C(variant)", "mean_sq"], rel=1e-9)
    assert ms["interaction"] == pytest.approx(table.loc["Residual", "mean_sq"], rel=1e-9)
    assert (df["item"], df["variant"], df["interaction"]) == (29, 4, 116)


def test_chi2_and_mls_intervals_reduce_to_the_exact_interval():
    low, high = chi2_interval(2.0, 10, 0.95)
    assert low == pytest.approx(20 / stats.chi2.ppf(0.975, 10)) and high == pytest.approx(
        20 / stats.chi2.ppf(0.025, 10)
    )
    # With nothing subtracted the modified large-sample interval is the exact chi-square one.
    assert mls_interval(0.5, 2.0, 10, 0.0, 1.0, 50, 0.95) == pytest.approx((low / 2, high / 2))


def test_components_cover_known_variances_normal_scores():
    """200 items × 8 variants × 3 samples, 50 simulations: each component's 95% interval covers its truth."""
    truth = {"item": 0.25, "variant": 0.09, "item_x_variant": 0.09, "residual": 0.25}
    hits = dict.fromkeys(truth, 0)
    estimates = {name: [] for name in truth}
    for seed in range(50):
        y = normal_cells(np.random.default_rng(seed), 200, 8, 3, 0.5, 0.3, 0.3, 0.5)
        result = quiet(crossed_components, long_frame(y), mixedlm=False)
        assert result.separable and result.primary == "moments"
        for name, c in result.components().items():
            hits[name] += c.low <= truth[name] <= c.high
            estimates[name].append(c.raw)
    for name in truth:
        assert hits[name] >= 44, (name, hits[name])  # nominal 47.5 of 50; P(<= 43) < 2% at 95% coverage
        # unbiased: the mean of the raw estimates is within 3 standard errors of the truth
        values = np.array(estimates[name])
        assert abs(values.mean() - truth[name]) < 3 * values.std(ddof=1) / np.sqrt(len(values))


def test_one_sample_per_cell_confounds_interaction_and_residual():
    truth = {"item": 0.25, "variant": 0.09, "item_x_variant": 0.09 + 0.25}
    hits = dict.fromkeys(truth, 0)
    for seed in range(50):
        y = normal_cells(np.random.default_rng(100 + seed), 200, 8, 1, 0.5, 0.3, 0.3, 0.5)
        result = quiet(crossed_components, long_frame(y), mixedlm=False)
        assert not result.separable and result.residual is None
        for name in truth:
            c = result.components()[name]
            hits[name] += c.low <= truth[name] <= c.high
    assert min(hits.values()) >= 44, hits
    d = result.to_dict()
    assert d["interaction_includes_residual"] is True and d["components"]["residual"] is None


def binary_cells(rng, n_items, n_variants, k, base, half_widths):
    """0/1 scores drawn with probability base + a_i + b_v + c_iv, each effect uniform on ±half_width."""
    ha, hb, hc = half_widths
    p = (
        base
        + rng.uniform(-ha, ha, n_items)[:, None]
        + rng.uniform(-hb, hb, n_variants)[None, :]
        + rng.uniform(-hc, hc, (n_items, n_variants))
    )
    return (rng.random((n_items, n_variants, k)) < p[:, :, None]).astype(float)


def test_components_of_binary_scores_at_low_accuracy_cover():
    """0/1 scores at ~15% accuracy: the residual (Bernoulli) variance is skewed, and the normal-theory
    chi-square interval of the pooled within-cell variance under-covers badly; the interval used does not."""
    base, widths = 0.15, (0.1, 0.04, 0.04)
    var = {name: w**2 / 3 for name, w in zip(("item", "variant", "item_x_variant"), widths)}
    var["residual"] = base * (1 - base) - sum(var.values())  # E[p(1-p)] = E[p](1 - E[p]) - Var(p)
    hits = dict.fromkeys(var, 0)
    chi2_hits = 0
    for seed in range(50):
        y = binary_cells(np.random.default_rng(seed), 200, 8, 3, base, widths)
        result = quiet(crossed_components, long_frame(y), mixedlm=False)
        for name, c in result.components().items():
            hits[name] += c.low <= var[name] <= c.high
        residual = result.mean_squares["residual"]
        low, high = chi2_interval(residual, result.degrees_of_freedom["residual"], 0.95)
        chi2_hits += low <= var["residual"] <= high
    assert min(hits.values()) >= 43, hits
    assert chi2_hits <= 40, chi2_hits  # ~57% measured over 1,000 runs


def test_moments_equal_statsmodels_reml_on_balanced_data():
    rng = np.random.default_rng(7)
    y = normal_cells(rng, 40, 5, 2, 0.5, 0.3, 0.3, 0.5)
    frame = long_frame(y)
    result = quiet(crossed_components, frame, mixedlm=True)
    # An independent fit from statsmodels' default start, not the moment estimates the library starts from.
    frame["cell"] = frame["item"] + ":" + frame["variant"]
    vc = {"item": "0 + C(item)", "variant": "0 + C(variant)", "cell": "0 + C(cell)"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = sm.MixedLM.from_formula(
            "score ~ 1", groups=np.ones(len(frame)), vc_formula=vc, re_formula="0", data=frame
        )
        fit = model.fit(reml=True, method="lbfgs")
    reml = dict(zip(model.exog_vc.names, fit.vcomp))
    assert fit.converged
    assert result.item.estimate == pytest.approx(reml["item"], rel=1e-3)
    assert result.variant.estimate == pytest.approx(reml["variant"], rel=1e-3)
    assert result.interaction.estimate == pytest.approx(reml["cell"], rel=1e-3)
    assert result.residual.estimate == pytest.approx(fit.scale, rel=1e-3)
    # and the library's own MixedLM check agrees
    assert result.mixedlm is not None and "REML" in result.mixedlm_note
    for name, c in result.components().items():
        assert result.mixedlm[name] == pytest.approx(c.estimate, rel=1e-3)
    assert not result.warnings


def test_moments_equal_reml_with_one_sample_per_cell():
    y = normal_cells(np.random.default_rng(8), 120, 6, 1, 0.5, 0.3, 0.3, 0.5)
    result = quiet(crossed_components, long_frame(y), mixedlm=True)
    assert result.mixedlm["residual"] is None
    assert result.mixedlm["item"] == pytest.approx(result.item.estimate, rel=1e-3)
    assert result.mixedlm["variant"] == pytest.approx(result.variant.estimate, rel=1e-3)
    assert result.mixedlm["item_x_variant"] == pytest.approx(result.interaction.estimate, rel=1e-3)


def test_mixedlm_skipped_above_the_size_limit_and_incomplete_items_dropped():
    y = normal_cells(np.random.default_rng(9), 30, 4, 2, 0.5, 0.3, 0.3, 0.5)
    frame = long_frame(y)
    frame = frame[~((frame["item"] == "q0") & (frame["variant"] == "v1"))]
    with pytest.warns(UserWarning, match="1 of 30 item"):
        result = crossed_components(frame, mixedlm=False)
    assert result.n_items == 29 and result.n_items_dropped == 1 and result.mixedlm is None
    assert "mixedlm=False" in result.mixedlm_note


def test_negative_component_is_floored_with_a_warning():
    # no variant effect at all: its moment estimate is negative about half the time
    for seed in range(20):
        y = normal_cells(np.random.default_rng(seed), 50, 4, 1, 0.5, 0.0, 0.0, 0.5)
        result = quiet(crossed_components, long_frame(y), mixedlm=False)
        if result.variant.raw < 0:
            break
    assert result.variant.raw < 0 and result.variant.estimate == 0 and result.variant.low == 0
    assert any("negative" in w for w in result.warnings)


# ---- spread ----------------------------------------------------------------------------------------


def test_expected_range_factor_matches_the_published_constants():
    # d2 of the control-chart tables (ASTM STP 15D)
    for n, d2 in [(2, 1.128), (3, 1.693), (4, 2.059), (5, 2.326), (8, 2.847), (10, 3.078)]:
        assert expected_range_factor(n) == pytest.approx(d2, abs=5e-4)


def test_spread_interval_covers_the_sd_of_variant_means():
    """The sd interval targets sqrt(s2_variant + s2_resid/n_items): the spread fresh variants would show."""
    hits = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        y = normal_cells(rng, 100, 5, 1, 0.2, 0.05, 0.0, 0.3)[:, :, 0]
        s = variant_spread(pd.DataFrame(y))
        hits += s.sd_low <= np.sqrt(0.05**2 + 0.09 / 100) <= s.sd_high
    assert 180 <= hits <= 198, hits  # nominal 190


# ---- pairs -----------------------------------------------------------------------------------------


def test_pooled_interval_covers_with_a_variant_effect_where_the_item_interval_does_not():
    """d_iv = 0.2 + a_i + b_v + r_iv with a real variant effect: the pooled interval (items and variants
    random) covers at about 95%; the paired t over the items' mean differences (variants fixed) does not."""
    ours = naive = 0
    n_sim, n_items, n_variants = 400, 100, 6
    for seed in range(n_sim):
        rng = np.random.default_rng(seed)
        d = (
            0.2
            + rng.normal(0, 0.3, n_items)[:, None]
            + rng.normal(0, 0.1, n_variants)[None, :]
            + rng.normal(0, 0.5, (n_items, n_variants))
        )
        p = pooled_difference(d)
        ours += p.low <= 0.2 <= p.high
        ttest = stats.ttest_1samp(d.mean(axis=1), 0.2)
        naive += ttest.pvalue >= 0.05
    assert 0.92 <= ours / n_sim <= 0.975, ours / n_sim  # 0.943 over 2,000 runs
    assert naive / n_sim <= 0.86, naive / n_sim  # 0.81 over 2,000 runs


def test_pooled_interval_is_the_item_t_when_variants_do_not_matter():
    rng = np.random.default_rng(3)
    d = rng.normal(0, 0.3, 60)[:, None] + rng.normal(0, 0.5, (60, 5))
    p = pooled_difference(d)
    ms, _ = two_way_mean_squares(d)
    if ms["variant"] <= ms["interaction"]:  # variant component estimated at 0: the t over item means
        ref = stats.ttest_1samp(d.mean(axis=1), 0).confidence_interval()
        assert (p.low, p.high) == pytest.approx((ref.low, ref.high)) and p.df == pytest.approx(59)
    else:
        assert p.df < 59


def pair_frame(seed, n_items, n_variants, shifts, noise=0.5):
    """Two models on shared items; model b = a - shift[v] + noise, continuous scores."""
    rng = np.random.default_rng(seed)
    base = normal_cells(rng, n_items, n_variants, 1, 0.5, 0.2, 0.2, 0.0)
    b = base + noise * rng.normal(size=base.shape)
    a = base + np.asarray(shifts, dtype=float)[None, :, None] + noise * rng.normal(size=base.shape)
    return pd.concat([long_frame(a, "a"), long_frame(b, "b")], ignore_index=True)


def test_verdict_robust_fragile_reversed_none():
    robust = quiet(across, pair_frame(0, 80, 6, [0.4] * 6), mixedlm=False)
    pair = robust.pairs[0]
    assert (pair.a, pair.b) == ("a", "b") and pair.verdict == "robust"
    assert pair.to_dict()["across"]["a_better"] == 6

    flipped = quiet(across, pair_frame(1, 80, 6, [0.4, 0.4, 0.4, 0.4, 0.4, -0.4]), mixedlm=False)
    pair = flipped.pairs[0]
    assert pair.verdict == "reversed" and pair.counts() == {"a_better": 5, "b_better": 1, "neither": 0}

    partly = quiet(across, pair_frame(2, 80, 6, [0.4, 0.4, 0.4, 0.0, 0.0, 0.0]), mixedlm=False)
    assert partly.pairs[0].verdict == "fragile"

    nones = sum(
        quiet(across, pair_frame(10 + seed, 60, 6, [0.0] * 6), mixedlm=False).pairs[0].verdict == "none"
        for seed in range(40)
    )
    assert nones >= 36, nones  # Holm over the variants keeps the chance of any false call at or below 5%


def test_verdict_rules():
    assert verdict(["a", "a"]) == "robust" and verdict(["b", "b", "b"]) == "robust"
    assert verdict(["a", None]) == "fragile" and verdict([None, "b"]) == "fragile"
    assert verdict(["a", "b", None]) == "reversed"
    assert verdict([None, None]) == "none" and verdict([]) == "none"


# ---- the whole result ------------------------------------------------------------------------------


def binary_pair_frame(seed=0, n_items=60, n_variants=4):
    rng = np.random.default_rng(seed)
    frames = []
    for model, base in (("strong", 0.6), ("weak", 0.45)):
        y = binary_cells(rng, n_items, n_variants, 1, base, (0.3, 0.08, 0.05))
        frames.append(long_frame(y, model).drop(columns="sample"))
    return pd.concat(frames, ignore_index=True)


def test_by_variant_means_holm_and_json_shape():
    frame = binary_pair_frame()
    result = quiet(across, frame, mixedlm=False)
    d = result.to_dict()
    json.dumps(d)
    assert d["column"] == "variant" and d["variants"] == ["v0", "v1", "v2", "v3"]
    assert list(d["models"]) == ["strong", "weak"]
    expected = frame.groupby(["model", "variant"])["score"].mean()
    for model, m in d["models"].items():
        assert set(m) >= {"by_variant", "spread", "variance_components"}
        for variant, row in m["by_variant"].items():
            assert row["mean"] == pytest.approx(expected[(model, variant)])
            assert row["method"] == "beta" and row["n"] == 60 and row["ci_low"] < row["mean"] < row["ci_high"]
        means = [m["by_variant"][v]["mean"] for v in d["variants"]]
        assert m["spread"]["sd"] == pytest.approx(np.std(means, ddof=1))
        assert m["spread"]["range"] == pytest.approx(max(means) - min(means))
        assert m["spread"]["max_variant"] == d["variants"][int(np.argmax(means))]
        assert m["variance_components"]["components"]["residual"] is None
    (pair,) = d["pairs"]
    assert (pair["a"], pair["b"]) == ("strong", "weak")
    raw = [pair["by_variant"][v]["p_value"] for v in d["variants"]]
    holm = multipletests(raw, method="holm")[1]
    assert [pair["by_variant"][v]["p_adjusted"] for v in d["variants"]] == pytest.approx(holm)
    for v in d["variants"]:
        assert pair["by_variant"][v]["test"] == "mcnemar-exact"
    across_ = pair["across"]
    assert across_["variants"] == 4 and across_["a_better"] + across_["b_better"] + across_["neither"] == 4
    assert across_["verdict"] in ("robust", "fragile", "reversed", "none")
    cells = frame.pivot_table(index=["item", "variant"], columns="model", values="score")
    assert across_["diff"] == pytest.approx((cells["strong"] - cells["weak"]).mean())
    assert across_["ci_low"] < across_["diff"] < across_["ci_high"]
    bh = quiet(across, frame, correction="bh", mixedlm=False).to_dict()["pairs"][0]
    assert [bh["by_variant"][v]["p_adjusted"] for v in d["variants"]] == pytest.approx(
        multipletests(raw, method="fdr_bh")[1]
    )


def test_samples_are_averaged_and_the_paired_t_used():
    y = normal_cells(np.random.default_rng(4), 30, 3, 3, 0.3, 0.1, 0.1, 0.3)
    frame = pd.concat([long_frame(y, "a", 0.1), long_frame(y[:, :, ::-1] * 0.9, "b")], ignore_index=True)
    result = quiet(across, frame, mixedlm=False)
    pair = result.pairs[0]
    assert all(r.test == "paired-t" for r in pair.by_variant.values())
    expected = frame[frame.model == "a"].groupby("variant")["score"].mean()
    for v, ci in result.models["a"].by_variant.items():
        assert ci.mean == pytest.approx(expected[v]) and ci.n == 30
    assert result.models["a"].components.separable


def test_identical_models_get_a_nonzero_pooled_interval():
    frame = binary_pair_frame()
    twin = frame[frame.model == "strong"].assign(model="twin")
    result = quiet(across, pd.concat([frame[frame.model == "strong"], twin]), mixedlm=False)
    pair = result.pairs[0]
    assert pair.verdict == "none" and pair.pooled.diff == 0
    assert pair.pooled.low < 0 < pair.pooled.high and "same difference" in pair.pooled.method


def test_a_single_common_variant_falls_back_to_the_paired_interval():
    frame = binary_pair_frame(n_variants=3)
    frame = frame[~((frame.model == "weak") & frame.variant.isin(["v1", "v2"]))]
    result = quiet(across, frame, mixedlm=False)
    pair = result.pairs[0]
    assert list(pair.by_variant) == ["v0"] and pair.pooled.n_variants == 1
    r = pair.by_variant["v0"]
    assert (pair.pooled.low, pair.pooled.high) == (r.low, r.high)
    assert result.models["weak"].spread is None
    assert any("single variant" in n for n in result.notes)


def test_other_column_name_and_render():
    from rich.console import Console

    frame = binary_pair_frame().rename(columns={"variant": "template"})
    result = quiet(across, frame, column="template", mixedlm=False)
    assert result.to_dict()["column"] == "template"
    console = Console(record=True, width=160)
    console.print(result.render())
    text = console.export_text()
    assert "Mean by template" in text and "strong - weak" in text and "verdict" in text


# ---- bad input -------------------------------------------------------------------------------------


def test_bad_input_names_the_option_and_value():
    frame = binary_pair_frame()
    with pytest.raises(ConfigError, match="--across prompt: the scores have no 'prompt' column"):
        across(frame, column="prompt")
    single = frame.assign(variant="v0").drop_duplicates(["model", "item"])
    with pytest.raises(DataError, match=r"--across variant: the scores have a single variant \(v0\)"):
        across(single)
    with pytest.raises(DataError, match="missing column.*score"):
        across(frame.drop(columns="score"))
    bad = frame.copy()
    bad.loc[5, "score"] = np.inf
    with pytest.raises(DataError, match="row 6: score inf is not finite"):
        across(bad)
    bad.loc[5, "score"] = np.nan
    with pytest.raises(DataError, match="row 6: score nan is not finite"):
        across(bad)
    bad = frame.copy()
    bad.loc[3, "variant"] = None
    with pytest.raises(DataError, match="row 4: variant is missing"):
        across(bad)
    doubled = pd.concat([frame, frame.iloc[:1]])
    with pytest.raises(DataError, match="appears more than once.*'sample' column"):
        across(doubled)
    with pytest.raises(ConfigError, match="correction"):
        across(frame, correction="fdr")
    with pytest.raises(ConfigError, match="n_boot"):
        across(frame, n_boot=10)
    with pytest.raises(ConfigError, match="--across model"):
        across(frame, column="model")
