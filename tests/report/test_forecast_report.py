"""The report's scaling section for a `scale forecast` result: forecasts, truths and the calibration figure."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.special

from assay.errors import DataError
from assay.report import write_report
from assay.scaling import forecast
from tests.report.test_report import arr, figure_specs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def small_table() -> pd.DataFrame:
    """A loss and an accuracy over five decades of compute; the largest model has no accuracy and a loss
    far above the law (a truth its interval misses)."""
    rng = np.random.default_rng(5)
    t = np.arange(18, 23.01, 0.25)
    table = pd.DataFrame(
        {
            "model": [f"m{v:.2f}" for v in t],
            "params": np.sqrt(10**t / 20),
            "tokens": 20 * np.sqrt(10**t / 20),  # compute params × tokens = 10**t
            "loss": np.exp(1 - 0.05 * (t - 18) + 0.01 * rng.standard_normal(len(t))),
            "acc": 0.25 + 0.7 * scipy.special.expit(1.2 * (t - 21)) + 0.01 * rng.standard_normal(len(t)),
        }
    )
    table.loc[table.index[-1], "acc"] = np.nan
    table.loc[table.index[-1], "loss"] *= 1.5
    return table


@pytest.fixture(scope="module")
def result():
    return forecast(small_table(), "params,tokens", ["loss", "acc"], train="params * tokens <= 1e21", id="model")


def test_forecasts_intervals_and_truths_are_drawn_from_the_result(result, tmp_path):
    saved = tmp_path / "forecast.json"
    saved.write_text(json.dumps(result.to_dict()))
    report = write_report(scaling=[saved], out=tmp_path / "r.html")
    section = report.sections[0]
    assert section.id == "scaling" and section.title == "Scaling forecasts"
    specs = figure_specs(report, "scaling")
    assert len(specs) == 3  # one per target, then the calibration figure
    for target, spec in zip(["loss", "acc"], specs):
        rows = [p for p in result.predictions if p["target"] == target]
        traces = {t["name"]: t for t in spec["data"]}
        drawn = traces["forecast with 90% prediction interval"]
        # Against compute, the product of the inputs, as the result gives it for each row.
        np.testing.assert_allclose(arr(drawn["x"]), [p["compute"] for p in rows])
        np.testing.assert_allclose(arr(drawn["x"]), [p["inputs"]["params"] * p["inputs"]["tokens"] for p in rows])
        assert spec["layout"]["xaxis"]["title"]["text"] == "compute = params × tokens"
        np.testing.assert_allclose(arr(drawn["y"]), [p["prediction"] for p in rows])
        np.testing.assert_allclose(arr(drawn["error_y"]["array"]), [p["high"] - p["prediction"] for p in rows])
        np.testing.assert_allclose(arr(drawn["error_y"]["arrayminus"]), [p["prediction"] - p["low"] for p in rows])
        # Each truth is drawn once, as inside or outside its interval as the result judged it.
        inside = traces.get("held-out truth inside the interval")
        outside = traces.get("held-out truth outside the interval")
        for trace, flag in ((inside, True), (outside, False)):
            expected = [p["y"] for p in rows if p["covered"] is flag]
            assert (trace is None) == (not expected)
            if expected:
                np.testing.assert_allclose(arr(trace["y"]), expected)
        n_truths = sum(len(arr(t["y"])) for t in (inside, outside) if t)
        assert n_truths == sum(p["y"] is not None for p in rows)
    # The synthetic loss has a truth outside its interval, and the largest model no accuracy to judge.
    assert any(t["name"] == "held-out truth outside the interval" for t in specs[0]["data"])
    acc_rows = [p for p in result.predictions if p["target"] == "acc"]
    assert acc_rows[-1]["y"] is None and len(acc_rows) >= 5
    assert sum(len(arr(t["y"])) for t in specs[1]["data"] if t["name"].startswith("held-out")) == len(acc_rows) - 1
    assert specs[0]["layout"]["yaxis"]["type"] == "log"  # a loss forecast on log y
    assert specs[0]["layout"]["xaxis"]["type"] == "log"


def test_calibration_figure_shows_backtest_and_held_out_coverage_against_nominal(result, tmp_path):
    report = write_report(scaling=result, out=tmp_path / "r.html")  # the result object itself
    spec = figure_specs(report, "scaling")[-1]
    traces = {t["name"]: t for t in spec["data"]}
    backtest = traces["backtest coverage (cross-validated, folds weighed equally)"]
    assert list(backtest["x"]) == ["loss", "acc"]
    np.testing.assert_allclose(
        arr(backtest["y"]), [result.calibration[t]["backtest_coverage"] for t in ("loss", "acc")]
    )
    folds = traces["backtest fold (judged by the other folds)"]
    expected = [f["coverage"] for t in ("loss", "acc") for f in result.calibration[t]["per_fold"]]
    np.testing.assert_allclose(arr(folds["y"]), expected)
    held_out = traces["held-out coverage with its 95% interval"]
    held = [result.calibration[t]["held_out"] for t in ("loss", "acc")]
    np.testing.assert_allclose(arr(held_out["y"]), [h["coverage"] for h in held])
    np.testing.assert_allclose(arr(held_out["error_y"]["array"]), [h["coverage_high"] - h["coverage"] for h in held])
    np.testing.assert_allclose(
        arr(held_out["error_y"]["arrayminus"]), [h["coverage"] - h["coverage_low"] for h in held]
    )
    nominal = [s for s in spec["layout"]["shapes"] if s["type"] == "line"]
    assert len(nominal) == 1 and nominal[0]["y0"] == nominal[0]["y1"] == pytest.approx(0.9)
    html = (tmp_path / "r.html").read_text()
    assert "held-out coverage [95%]" in html and "split conformal on nested backtests" in html


def test_a_forecast_without_its_predictions_fields_names_the_file(result, tmp_path):
    data = result.to_dict()
    del data["predictions"][0]["low"]
    bad = tmp_path / "forecast.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"forecast\.json: prediction 0 lacks low"):
        write_report(scaling=[bad], out=tmp_path / "r.html")


def test_too_few_backtests_draw_no_calibration_figure_and_say_why(tmp_path):
    t = np.arange(18, 21.01, 0.25)
    table = pd.DataFrame(
        {"model": [f"m{i}" for i in range(len(t))], "compute": 10**t, "loss": np.exp(1 - 0.05 * (t - 18))}
    )
    table["loss"] *= np.exp(0.01 * np.sin(7 * t))
    result = forecast(table, "compute", "loss", train="compute <= 10**19.3", id="model")
    assert all(p["low"] is None for p in result.predictions)  # one fold cannot bound an interval
    report = write_report(scaling=result, out=tmp_path / "r.html")
    specs = figure_specs(report, "scaling")
    assert len(specs) == 1  # the forecasts, without bars; no empty calibration figure
    drawn = next(t for t in specs[0]["data"] if t["name"].startswith("forecast"))
    assert all(v is None for v in drawn["error_y"]["array"])
    assert any("too few to bound a 90% interval" in w for w in report.sections[0].warnings)
