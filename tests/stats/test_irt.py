import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import special

from assay.errors import ConfigError, DataError
from assay.stats.irt import (
    IrtFit,
    estimate_scores,
    fit_irt,
    load_irt,
    score_matrix,
    select_items,
)


def simulate_2pl(n_models, n_items, seed, items=None):
    """Binary responses from a known 2PL model; returns the matrix, abilities and item parameters."""
    rng = np.random.default_rng(seed)
    if items is None:
        slopes = rng.lognormal(0.0, 0.4, n_items)
        difficulty = rng.normal(0.0, 1.0, n_items)
    else:
        slopes, difficulty = items
    theta = rng.normal(0.0, 1.0, n_models)
    p = special.expit(slopes[None, :] * (theta[:, None] - difficulty[None, :]))
    y = (rng.random(p.shape) < p).astype(float)
    frame = pd.DataFrame(y, index=[f"m{i}" for i in range(n_models)], columns=[f"q{j}" for j in range(n_items)])
    return frame, theta, (slopes, difficulty)


def test_fit_recovers_known_abilities_and_difficulties():
    matrix, theta, (slopes, difficulty) = simulate_2pl(60, 300, seed=1)
    fit = fit_irt(matrix)
    assert fit.converged
    assert np.corrcoef(fit.abilities[:, 0], theta)[0, 1] > 0.97
    assert np.corrcoef(fit.difficulty, difficulty)[0, 1] > 0.85
    assert np.corrcoef(fit.slopes[:, 0], slopes)[0, 1] > 0.3  # discriminations rest on 60 responses each
    assert fit.item_cov.shape == (300, 2, 2) and np.all(np.linalg.eigvalsh(fit.item_cov) > 0)


def test_round_trip_through_json(tmp_path):
    matrix, _, _ = simulate_2pl(10, 30, seed=2)
    fit = fit_irt(matrix, dims=2, bootstrap=3)
    path = fit.save(tmp_path / "irt.json")
    again = load_irt(path)
    assert again.items == fit.items and again.models == fit.models
    assert again.slopes == pytest.approx(fit.slopes) and again.item_cov == pytest.approx(fit.item_cov)
    assert again.boot_ease == pytest.approx(fit.boot_ease, abs=1e-5) and all(
        np.array_equal(x, y) for x, y in zip(again.boot_picks, fit.boot_picks)
    )
    assert np.array_equal(again.train_scores, matrix.to_numpy())
    one = estimate_scores(again, matrix.iloc[:2, :10]).models["m0"]
    assert one.ci_low < one.estimate < one.ci_high
    (tmp_path / "bad.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(DataError, match="bad.json"):
        load_irt(tmp_path / "bad.json")
    with pytest.raises(DataError, match="no such"):
        load_irt(tmp_path / "missing.json")


@pytest.fixture(scope="module")
def trained():
    train, _, items = simulate_2pl(40, 400, seed=7)
    return fit_irt(train, bootstrap=10, seed=7), items


def held_out_check(fit, items, select_method, k, seed, n_test=120):
    """Estimate held-out models' full means from k chosen items of a fit on other models; truth is known."""
    test, _, _ = simulate_2pl(n_test, 400, seed=seed + 1000, items=items)
    chosen = select_items(fit, k, method=select_method, seed=seed).items
    result = estimate_scores(fit, test[chosen])
    truth = test.mean(axis=1)
    est = pd.Series({m: e.estimate for m, e in result.models.items()})
    low = pd.Series({m: e.ci_low for m, e in result.models.items()})
    high = pd.Series({m: e.ci_high for m, e in result.models.items()})
    covered = ((low <= truth) & (truth <= high)).mean()
    rmse_irt = np.sqrt(((est - truth) ** 2).mean())
    mean_se = np.mean([e.se for e in result.models.values()])
    return covered, rmse_irt, mean_se


@pytest.mark.parametrize("method", ["cluster", "random"])
def test_estimates_cover_the_full_benchmark_mean_at_their_stated_rate(method, trained):
    covered, rmse_irt, mean_se = held_out_check(*trained, method, 40, seed=7)
    # 120 held-out models: the Monte Carlo SE of a 95% coverage is 0.02; allow three of them
    assert covered >= 0.95 - 3 * 0.02
    assert mean_se < 1.6 * rmse_irt  # honest, not absurdly wide


def test_refits_resample_whole_groups():
    from assay.stats.irt import model_groups

    names = [f"m{i // 3}@step{i % 3}" for i in range(12)]
    labels = model_groups(names, r"^([^@]+)@")
    assert labels[:4] == ["m0", "m0", "m0", "m1"] and model_groups(["x", "m1@2"], "^[^@]+@") == ["x", "m1@"]
    matrix, _, _ = simulate_2pl(12, 40, seed=12)
    matrix.index = names
    fit = fit_irt(matrix, bootstrap=4, groups=labels, seed=1)
    for picks in fit.boot_picks:
        drawn = pd.Series([labels[i] for i in picks])
        assert len(picks) == 12 and (drawn.value_counts() % 3 == 0).all()  # whole groups of three
    with pytest.raises(ConfigError, match="regular expression"):
        model_groups(names, "([")
    with pytest.raises(ConfigError, match="one group"):
        fit_irt(matrix, bootstrap=2, groups=["g"] * 12)


def test_selection_methods():
    matrix, _, _ = simulate_2pl(30, 200, seed=3)
    fit = fit_irt(matrix)
    for method in ("cluster", "random"):
        chosen = select_items(fit, 25, method=method, seed=4)
        assert len(chosen.items) == 25 == len(set(chosen.items)) and set(chosen.items) <= set(fit.items)
        assert select_items(fit, 25, method=method, seed=4).items == chosen.items  # seeded
    # clusters spread over difficulty: the chosen items span most of the range of difficulties
    chosen = [fit.items.index(i) for i in select_items(fit, 25).items]
    d = fit.difficulty
    assert np.ptp(d[chosen]) > 0.6 * np.ptp(np.clip(d, *np.quantile(d, [0.02, 0.98])))
    assert select_items(fit, 200).items == sorted(fit.items, key=fit.items.index)
    with pytest.raises(ConfigError, match="from 1 to 200"):
        select_items(fit, 201)
    with pytest.raises(ConfigError):
        select_items(fit, 5, method="best")


def test_every_item_seen_gives_the_observed_mean():
    matrix, _, _ = simulate_2pl(20, 50, seed=5)
    fit = fit_irt(matrix)
    result = estimate_scores(fit, matrix.iloc[:3])
    for name, e in result.models.items():
        assert e.estimate == pytest.approx(matrix.loc[name].mean()) and e.ci_high - e.ci_low == pytest.approx(0)


def test_fractional_scores_and_missing_cells():
    rng = np.random.default_rng(6)
    matrix, _, _ = simulate_2pl(25, 80, seed=6)
    frac = matrix * 0.8 + rng.random(matrix.shape) * 0.2
    frac = frac.mask(rng.random(frac.shape) < 0.1)
    fit = fit_irt(frac)
    assert fit.n_observed == int(frac.notna().sum().sum())
    assert np.corrcoef(fit.abilities[:, 0], frac.mean(axis=1))[0, 1] > 0.9


def test_bad_input(tmp_path):
    matrix, _, _ = simulate_2pl(10, 20, seed=8)
    with pytest.raises(DataError, match="at least two models"):
        fit_irt(matrix.iloc[:1])
    with pytest.raises(DataError, match="at least two models"):
        fit_irt(matrix.iloc[:, :1])
    with pytest.raises(ConfigError):
        fit_irt(matrix, dims=0)
    fit = fit_irt(matrix)
    extra = matrix.iloc[:2, :5].assign(new_item=1.0, other=0.0)
    with pytest.warns(UserWarning, match="2 item.*never saw.*new_item, other"):
        result = estimate_scores(fit, extra)
    assert result.ignored_items == ["new_item", "other"] and result.models["m0"].n_items_seen == 5
    with pytest.raises(DataError, match="m0.*no scores"):
        estimate_scores(fit, pd.DataFrame({"new_item": [1.0]}, index=["m0"]))
    long = matrix.stack().rename("score").reset_index().rename(columns={"level_0": "model", "level_1": "item"})
    path = tmp_path / "scores.csv"
    long.assign(score=long.score * 5).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"scores.csv.*outside \[0, 1\]"):
        score_matrix(path)


def test_cli_fit_select_estimate(tmp_path):
    matrix, _, _ = simulate_2pl(15, 60, seed=9)
    long = matrix.stack().rename("score").reset_index()
    long.columns = ["model", "item", "score"]
    scores = tmp_path / "scores.csv"
    long.to_csv(scores, index=False)
    cli = [sys.executable, "-m", "assay.cli", "irt"]
    fit_out = subprocess.run(
        [*cli, "fit", str(scores), "-o", str(tmp_path / "irt.json"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(fit_out.stdout)["n_items"] == 60
    assert isinstance(IrtFit.from_dict(json.loads((tmp_path / "irt.json").read_text())), IrtFit)
    sel = subprocess.run(
        [*cli, "select", str(tmp_path / "irt.json"), "--items", "12", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    chosen = json.loads(sel.stdout)["items"]
    assert len(chosen) == 12
    subset = tmp_path / "subset.csv"
    long[long.item.isin(chosen)].to_csv(subset, index=False)
    est = subprocess.run(
        [*cli, "estimate", str(tmp_path / "irt.json"), str(subset), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    models = json.loads(est.stdout)["models"]
    assert set(models) == set(matrix.index)
    for m in models.values():
        assert {"estimate", "ci_low", "ci_high", "n_items_seen"} <= set(m) and m["n_items_seen"] == 12
        assert m["ci_low"] <= m["estimate"] <= m["ci_high"]
    bad = subprocess.run([*cli, "select", str(tmp_path / "irt.json"), "--items", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_score_matrix_names_the_source_and_row_of_a_score_outside_the_unit_interval():
    import pandas as pd

    from assay.errors import DataError
    from assay.stats.irt import score_matrix
    from assay.stats.scores import ScoreSource

    good = ScoreSource("a.csv", pd.DataFrame({"model": ["m1", "m1"], "item": ["i1", "i2"], "score": [1.0, 0.0]}))
    bad = ScoreSource("b.csv", pd.DataFrame({"model": ["m2", "m2"], "item": ["i1", "i2"], "score": [0.5, 2.0]}))
    with pytest.raises(
        DataError, match=r"b\.csv .*score 2 \(model 'm2', item 'i2'\) is outside \[0, 1\].*\(1 row\(s\) outside\)"
    ):
        score_matrix([good, bad])
    matrix = score_matrix([good, ScoreSource("c.csv", bad.frame.assign(score=[0.5, 1.0]))])
    assert matrix.loc["m2", "i1"] == 0.5 and matrix.loc["m1", "i2"] == 0.0
