"""assay.scaling.forecast: intervals that cover held-out larger models, families, observational scaling."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.special

from assay.errors import ConfigError, DataError
from assay.scaling import backtest, fit_law, forecast
from assay.scaling.forecast import parse_chance

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# -------------------------------------------------------------------------------------------------
# simulation with known truth


def bending_loss_table(rng) -> pd.DataFrame:
    """Loss from a law whose log-log slope keeps steepening: a power law with an irreducible term (the
    fitted form) cannot follow it, and the miss grows beyond the training range."""
    t = np.repeat(np.arange(18, 23.01, 0.25), 2)
    log_loss = 1.0 - 0.05 * (t - 18) - 0.008 * (t - 18) ** 2 + 0.01 * rng.standard_normal(len(t))
    return pd.DataFrame({"compute": 10**t, "loss": np.exp(log_loss), "model": [f"m{i}" for i in range(len(t))]})


def test_intervals_cover_a_misspecified_law_beyond_the_training_range():
    rng = np.random.default_rng(11)
    covered, far = [], []
    for _ in range(30):
        result = forecast(bending_loss_table(rng), "compute", "loss", train="compute <= 1e21", id="model")
        covered += [p["covered"] for p in result.predictions]
        far += [p["distance"] for p in result.predictions]
    covered = np.array(covered, dtype=float)
    # Nominal 90%; the forecasts reach up to 2 decades beyond the largest fitted compute.
    assert max(far) == pytest.approx(2.0)
    assert 0.85 <= covered.mean() <= 0.95, covered.mean()
    # The old bootstrap interval of the curve covers far less on the same kind of table.
    table = bending_loss_table(rng)
    old = backtest(table, "power", "compute", "loss", holdout_largest=8, bootstrap=100, level=0.9)
    assert old.summary["power"]["coverage"] < 0.6


def test_prediction_outside_training_range_is_wider_further_out():
    table = bending_loss_table(np.random.default_rng(0))
    result = forecast(table, "compute", "loss", train="compute <= 1e21", id="model")
    widths = [(p["distance"], np.log(p["high"]) - np.log(p["low"])) for p in result.predictions]
    widths.sort()
    assert all(b[1] >= a[1] - 1e-12 for a, b in zip(widths, widths[1:]))
    calibration = result.calibration["loss"]
    assert calibration["error_scale"] == "log y" and calibration["folds"] >= 5
    assert 0 <= calibration["backtest_coverage"] <= 1
    assert result.fits["loss"]["curve"] == "power"


def family_table(rng, offsets, per_family_sizes):
    rows = []
    for family, offset in offsets.items():
        for t in per_family_sizes:
            z = 1.4 * (t + offset - 10.0)
            acc = 0.25 + 0.7 * scipy.special.expit(z) + 0.008 * rng.standard_normal()
            rows.append({"family": family, "model": f"{family}-{t:.2f}", "params": 10**t, "acc": acc})
    return pd.DataFrame(rows)


def test_family_offsets_are_recovered_and_beat_the_pooled_curve():
    rng = np.random.default_rng(3)
    offsets = {"a": -0.4, "b": 0.0, "c": 0.4}
    table = family_table(rng, offsets, np.arange(8.5, 11.51, 0.25))
    train = "params <= 10**10.25"
    grouped = forecast(table, "params", "acc", train=train, id="model", group="family", chance=["acc=0.25"])
    pooled = forecast(table, "params", "acc", train=train, id="model", chance=["acc=0.25"])
    fitted = grouped.fits["acc"]["offsets"]
    # Offsets are identified relative to each other (the pooled curve absorbs their mean).
    assert fitted["c"] - fitted["a"] == pytest.approx(0.8, abs=0.1)
    assert fitted["b"] - fitted["a"] == pytest.approx(0.4, abs=0.1)
    assert grouped.fits["acc"]["offset_spread"] > 0.1
    mae = {
        name: np.mean([abs(p["error"]) for p in r.predictions])
        for name, r in (("grouped", grouped), ("pooled", pooled))
    }
    assert mae["grouped"] < 0.5 * mae["pooled"]
    assert grouped.mode == "compute+group" and all(p["group"] in offsets for p in grouped.predictions)


def test_unseen_family_gets_the_pooled_curve_and_a_wider_interval():
    rng = np.random.default_rng(4)
    table = family_table(rng, {"a": -0.3, "b": 0.0, "c": 0.3}, np.arange(8.5, 11.01, 0.25))
    newcomer = family_table(rng, {"new": 0.1}, [10.5])
    table = pd.concat([table, newcomer], ignore_index=True)
    result = forecast(
        table,
        "params",
        "acc",
        train="params <= 10**10.25 and family != 'new'",
        id="model",
        group="family",
        chance=["acc=0.25"],
    )
    new = next(p for p in result.predictions if p["group"] == "new")
    seen = next(p for p in result.predictions if p["group"] == "b" and p["inputs"]["params"] == new["inputs"]["params"])
    assert new["note"] == "unseen group: pooled curve"
    assert new["high"] - new["low"] > seen["high"] - seen["low"]
    assert any("new" in n and "pooled curve" in n for n in result.notes)


def observed_table(rng, n_per_family=12):
    """Families differ in compute efficiency; benchmarks all read one latent capability."""
    rows = []
    for family, efficiency in {"a": -0.5, "b": 0.0, "c": 0.5}.items():
        for t in np.linspace(8.5, 11.5, n_per_family):
            capability = t + efficiency + 0.05 * rng.standard_normal()
            row = {"family": family, "model": f"{family}-{t:.2f}", "params": 10**t}
            for j, (chance, slope, mid) in enumerate([(0.25, 1.2, 9.5), (0.5, 1.0, 10.0), (0.25, 0.8, 9.0)]):
                row[f"easy{j}"] = (
                    chance
                    + (1 - chance) * scipy.special.expit(slope * (capability - mid))
                    + 0.01 * rng.standard_normal()
                )
            row["hard"] = 0.25 + 0.75 * scipy.special.expit(1.6 * (capability - 11.0)) + 0.01 * rng.standard_normal()
            rows.append(row)
    return pd.DataFrame(rows)


def test_observed_scores_forecast_a_harder_task_better_than_compute():
    table = observed_table(np.random.default_rng(5))
    train = "params <= 10**10.6"
    observed = forecast(
        table, "params", "hard", train=train, id="model", observed="easy0,easy1,easy2", chance=["hard=0.25"]
    )
    compute = forecast(table, "params", "hard", train=train, id="model", chance=["hard=0.25"])
    mae = {
        name: np.mean([abs(p["error"]) for p in r.predictions])
        for name, r in (("observed", observed), ("compute", compute))
    }
    assert mae["observed"] < 0.6 * mae["compute"]
    fit = observed.fits["hard"]
    assert fit["curve"] == "link" and fit["component_choice"]["chosen"] in (1, 2, 3)
    assert fit["components"]["explained_variance"][0] > 0.8  # one capability drives all three
    assert observed.mode == "observed"
    inside = np.mean([p["covered"] for p in observed.predictions])
    assert inside >= 0.7


def test_missing_observed_score_is_named_and_the_other_rows_are_forecast():
    table = observed_table(np.random.default_rng(6))
    target = table.index[table["params"] > 10**10.6][0]
    table.loc[target, "easy1"] = np.nan
    result = forecast(table, "params", "hard", train="params <= 10**10.6", id="model", observed="easy0,easy1,easy2")
    assert any("lack --observed easy1" in n and f"row {target}" in n for n in result.notes)
    ids = {p["id"] for p in result.predictions}
    assert table.loc[target, "model"] not in ids
    assert len(ids) == int((table["params"] > 10**10.6).sum()) - 1


def test_chance_floor_and_ceiling_hold_the_curve():
    table = family_table(np.random.default_rng(7), {"a": 0.0}, np.arange(8.5, 11.01, 0.25))
    result = forecast(table, "params", "acc", train="params <= 10**10.5", chance=["acc=0.25:0.9"])
    params = result.fits["acc"]["params"]
    assert params["floor"] == 0.25 and params["ceiling"] == 0.9
    assert all(0.25 <= p["prediction"] <= 0.9 for p in result.predictions)
    assert all(0 <= p["low"] <= p["high"] <= 1 for p in result.predictions)


def test_parse_chance():
    assert parse_chance(["arc=0.25", "piqa=0.5:1,x=:0.9"]) == {
        "arc": (0.25, None),
        "piqa": (0.5, 1.0),
        "x": (None, 0.9),
    }
    with pytest.raises(ConfigError, match="COLUMN=FLOOR"):
        parse_chance(["0.25"])
    with pytest.raises(ConfigError, match="floor must be below the ceiling"):
        parse_chance(["a=0.5:0.2"])


# -------------------------------------------------------------------------------------------------
# bad input


@pytest.fixture
def small():
    return family_table(np.random.default_rng(8), {"a": 0.0}, np.arange(8.5, 11.01, 0.25))


def test_train_with_fewer_rows_than_parameters(small):
    with pytest.raises(DataError, match=r"acc: --train 'params < 5e8' selects 1 row\(s\).*3 free parameters"):
        forecast(small, "params", "acc", train="params < 5e8", chance=["acc=0.25"])


def test_train_selecting_every_row(small):
    with pytest.raises(DataError, match="selects every row that has the inputs.*nothing is left to forecast"):
        forecast(small, "params", "acc", train="params > 0")


def test_train_selecting_no_row_or_invalid(small):
    with pytest.raises(DataError, match="selects no rows"):
        forecast(small, "params", "acc", train="params < 0")
    with pytest.raises(ConfigError, match="--train 'params <' is not a valid pandas query"):
        forecast(small, "params", "acc", train="params <")


def test_nonpositive_compute_names_the_rows(small, tmp_path):
    small.loc[[3, 5], "params"] = 0
    path = tmp_path / "models.csv"
    small.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"column 'params' must be positive .*models\.csv line 5, line 7"):
        forecast(path, "params", "acc", train="params < 1e10")


def test_chance_on_a_loss_or_an_unknown_column(small):
    small["loss"] = 3 - small["acc"]
    with pytest.raises(ConfigError, match="power law"):
        forecast(small, "params", "loss", train="params < 1e10", chance=["loss=0.25"])
    with pytest.raises(ConfigError, match="not a --y target"):
        forecast(small, "params", "acc", train="params < 1e10", chance=["arc=0.25"])
    with pytest.raises(ConfigError, match="lies in \\[0, 1\\]"):
        forecast(small, "params", "acc", train="params < 1e10", chance=["acc=25"])


def test_group_with_observed_is_refused(small):
    small["easy"] = small["acc"]
    with pytest.raises(ConfigError, match="--group applies to compute forecasts"):
        forecast(small, "params", "acc", train="params < 1e10", group="family", observed="easy")


# -------------------------------------------------------------------------------------------------
# real data: Pythia up to 1.4B forecasts 2.8B-12B

TASKS = {
    "arc_easy": 0.25,
    "arc_challenge": 0.25,
    "sciq": 0.25,
    "logiqa": 0.25,
    "piqa": 0.5,
    "winogrande": 0.5,
    "lambada_openai": 0.0,
    "wsc": 0.5,
}


@pytest.fixture(scope="module")
def pythia_checkpoints(evals):
    rows = evals.query("family == 'pythia' and shots == 0 and metric == 'acc'")
    wide = rows.pivot_table(index=["model", "params", "step", "tokens"], columns="task", values="value").reset_index()
    wide["compute"] = wide["params"] * wide["tokens"]
    return wide


def test_pythia_intervals_cover_the_larger_models(pythia_checkpoints):
    tasks = [t for t in TASKS if t in pythia_checkpoints.columns]
    result = forecast(
        pythia_checkpoints,
        "params,tokens",
        tasks,
        train="params < 2e9",
        id="model",
        chance=[f"{t}={c}" for t, c in TASKS.items() if t in tasks],
    )
    judged = [p for p in result.predictions if p["covered"] is not None]
    assert {p["id"].split("-")[1] for p in judged} == {"2.8b", "6.9b", "12b"}
    assert len(judged) == 90 * len(tasks)
    coverage = np.mean([p["covered"] for p in judged])
    assert 0.8 <= coverage <= 0.97, coverage
    for task in tasks:
        held = result.calibration[task]["held_out"]
        assert held["n"] == 90 and held["n_models"] == 6
        assert held["coverage_low"] <= held["coverage"] <= held["coverage_high"]
    # The curve's bootstrap interval on the same split, same sigmoid in compute: far below nominal.
    training = pythia_checkpoints.query("params < 2e9")
    held_out = pythia_checkpoints.query("params >= 2e9")
    inside = []
    for task in tasks:
        fit = fit_law(
            training, "sigmoid", "compute", task, bootstrap=40, level=0.9, chance=TASKS[task], cluster="model"
        )
        _, low, high = fit.predict_arrays(held_out["compute"].to_numpy()[None, :])
        inside += list((low <= held_out[task].to_numpy()) & (held_out[task].to_numpy() <= high))
    assert np.mean(inside) < coverage - 0.2


def test_cli_forecast_json_and_errors(evals, tmp_path):
    import subprocess
    import sys

    # A long table as lm-eval exports it, cut to two tasks so the CLI reads it quickly.
    path = tmp_path / "evals.csv"
    evals[evals["task"].isin(["piqa", "sciq"])].to_csv(path, index=False)
    command = [
        sys.executable,
        "-m",
        "assay.cli",
        "scale",
        "forecast",
        str(path),
        "--pivot",
        "task,metric",
        "--where",
        "family == 'pythia' and shots == 0",
        "--x",
        "params,tokens",
        "--y",
        "piqa/acc,sciq/acc",
        "--id",
        "model",
        "--train",
        "params < 2e9",
        "--chance",
        "piqa/acc=0.5",
        "--chance",
        "sciq/acc=0.25",
        "--json",
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) >= {"predictions", "fits", "calibration"}
    first = out["predictions"][0]
    assert set(first) >= {"id", "y", "prediction", "low", "high", "method"}
    assert out["calibration"]["piqa/acc"]["level"] == 0.9
    table = subprocess.run(command[:-1], capture_output=True, text=True, timeout=300)
    assert "held-out rows with a truth: 90" in table.stdout
    bad = subprocess.run([*command[:-1], "--train", "params > 0"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert "nothing is left to forecast" in bad.stderr and "Traceback" not in bad.stderr


def test_two_step_chains_loss_and_accuracy(lambada):
    # Pythia lambada: params x tokens -> perplexity -> accuracy, fit up to 1.4B, forecast 2.8B-12B.
    direct = forecast(lambada, "params,tokens", "acc", train="params < 2e9", id="model")
    chained = forecast(lambada, "params,tokens", "acc", train="params < 2e9", id="model", via="ppl")
    assert chained.mode == "two-step" and chained.fits["acc"]["curve"] == "two-step"
    assert chained.fits["acc"]["loss_transform"] == "log10"  # perplexities span more than a factor 10
    held = {name: r.calibration["acc"]["held_out"] for name, r in (("direct", direct), ("chained", chained))}
    assert held["chained"]["mean_abs_error"] < 0.7 * held["direct"]["mean_abs_error"]
    assert held["chained"]["coverage"] >= 0.8 and held["chained"]["n"] == 90
    # The chained forecast's in-range scatter includes the loss step's error, not only the sigmoid's.
    assert chained.fits["acc"]["rms_residual"] >= chained.fits["acc"]["accuracy"]["rms_residual"]


def test_via_with_observed_or_a_nonpositive_loss_is_refused(lambada):
    with pytest.raises(ConfigError, match="--via .* and --observed"):
        forecast(lambada, "params,tokens", "acc", train="params < 2e9", via="ppl", observed="ppl")
    broken = lambada.copy()
    broken.loc[broken.index[0], "ppl"] = -1.0
    with pytest.raises(DataError, match="--via 'ppl' must be a positive loss"):
        forecast(broken, "params,tokens", "acc", train="params < 2e9", via="ppl")


def test_without_backtest_folds_there_is_no_interval_and_a_note():
    table = family_table(np.random.default_rng(9), {"a": 0.0}, [8.5, 9.0, 9.5, 10.0])
    table = pd.concat([table, table.assign(acc=table["acc"] + 0.01, model=table["model"] + "-b")], ignore_index=True)
    # Two training sizes (4 rows): no cut leaves two sizes below it.
    result = forecast(table, "params", "acc", train="params < 10**9.2", chance=["acc=0.25"])
    assert result.calibration["acc"]["folds"] == 0 and result.calibration["acc"]["quantile"] is None
    assert all(p["low"] is None and p["covered"] is None for p in result.predictions)
    assert "too few to bound" in result.calibration["acc"]["note"] and "too few to bound" in result.render()


# -------------------------------------------------------------------------------------------------
# backtest with the same intervals


def test_backtest_with_calibrated_intervals(lambada):
    kwargs = dict(holdout_largest=3, level=0.9)
    curve = backtest(lambada, "two-step", "params,tokens", "ppl,acc", bootstrap=20, **kwargs)
    calibrated = backtest(
        lambada, "two-step", "params,tokens", "ppl,acc", bootstrap=0, intervals="calibrated", **kwargs
    )
    old, new = curve.summary["two-step"], calibrated.summary["two-step"]
    assert new["mean_abs_error"] == pytest.approx(old["mean_abs_error"])  # same fit, other intervals
    assert new["coverage"] >= 0.8 and old["coverage"] < 0.5
    assert new["calibration"]["folds"] == 3 and new["calibration"]["error_scale"] == "y"
    # Coverage and error carry their own intervals, clustered by the 6 held-out models.
    assert new["coverage_ci"][0] <= new["coverage"] <= new["coverage_ci"][1]
    assert new["mean_abs_error_ci"][0] < new["mean_abs_error"] < new["mean_abs_error_ci"][1]
    assert new["coverage_ci_method"] == "beta-clustered"
    assert "calibrated by nested backtests" in calibrated.render()
    with pytest.raises(ConfigError, match="--intervals 'conformal'"):
        backtest(lambada, "power", "params", "ppl", intervals="conformal")


def test_saved_calibrated_fit_predicts_with_the_same_intervals(lambada, tmp_path):
    from assay.scaling import load_fit

    train = lambada.query("params < 2e9")
    fit = fit_law(train, "chinchilla", "params,tokens", "ppl", level=0.9, intervals="calibrated")
    assert fit.calibration["folds"] == 3 and fit.calibration["error_scale"] == "log y"
    fit.save(tmp_path / "fit.json")
    loaded = load_fit(tmp_path / "fit.json")
    pass_through = [loaded.predict({"N": 1.2e10, "D": 3e11}), fit.predict({"N": 1.2e10, "D": 3e11})]
    assert pass_through[0].low == pytest.approx(pass_through[1].low) and pass_through[0].low < pass_through[0].value
    assert pass_through[0].method.startswith("prediction interval calibrated by 3 nested backtest fold(s)")
    # backtest(intervals="calibrated") gives the same interval at the same point.
    bt = backtest(
        lambada, "chinchilla", "params,tokens", "ppl", holdout_largest=3, bootstrap=0, level=0.9, intervals="calibrated"
    )
    row = next(r for r in bt.rows if r["params"] == lambada["params"].max() and r["tokens"] == lambada["tokens"].max())
    point = loaded.predict({"N": row["params"], "D": row["tokens"]})
    assert (point.low, point.high) == pytest.approx((row["low"], row["high"]))
    # Further out, wider (relative to the forecast: the loss is calibrated on log y).
    near, far = loaded.predict({"N": 3e9, "D": 3e11}), loaded.predict({"N": 3e10, "D": 3e11})
    assert far.high / far.low > near.high / near.low
