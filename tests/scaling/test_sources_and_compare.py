"""Scaling tables remember their file: errors name the file line, fits record the path;
--chance is checked against the accuracy's scale; --compare laws of fewer inputs."""

import json

import numpy as np
import pandas as pd
import pytest

from assay.errors import ConfigError, DataError
from assay.scaling import backtest, fit_law, load_fit, load_table
from assay.scaling.table import widen

from .conftest import chinchilla_table

POWER_CSV = "N,loss,model\n1e6,3.0,a\n1e7,2.6,b\n\n1e8,{missing},c\n1e9,2.2,d\n1e10,2.1,e\n"


def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("missing", ["", "NA"])
def test_missing_value_names_the_file_line_after_a_blank_line(tmp_path, missing):
    path = write(tmp_path / "p_nan.csv", POWER_CSV.format(missing=missing))
    # Line 4 is blank, so the empty loss is on line 5 although it is the table's third row.
    with pytest.raises(DataError, match=r"p_nan\.csv line 5: column 'loss' is missing or infinite; .*notna"):
        fit_law(path, "power", "N", "loss")
    # The same once read, and after --where keeps a subset of the rows.
    with pytest.raises(DataError, match=r"p_nan\.csv line 5: column 'loss'"):
        fit_law(load_table(path), "power", "N", "loss", where="N > 1e6")


def test_non_numeric_and_nonpositive_values_name_the_line(tmp_path):
    path = write(tmp_path / "t.csv", "N,loss\n1e6,3.0\n1e7,abc\n1e8,2.3\n1e9,2.2\n")
    with pytest.raises(DataError, match=r"t\.csv line 3: column 'loss' has a non-numeric value 'abc'"):
        fit_law(path, "power", "N", "loss")
    path = write(tmp_path / "z.csv", "N,loss\n1e6,3.0\n1e7,2.6\n-5,2.3\n1e9,2.2\n")
    with pytest.raises(DataError, match=r"z\.csv line 4: column 'N' must be positive.*-5"):
        fit_law(path, "power", "N", "loss")


def test_csv_columns_are_typed_as_pandas_would(tmp_path):
    path = write(tmp_path / "p.csv", POWER_CSV.format(missing="2.35"))
    frame = load_table(path)
    assert frame["N"].dtype.kind == "f" and frame["loss"].dtype.kind == "f"
    assert list(frame["model"]) == ["a", "b", "c", "d", "e"]
    assert frame.attrs["source"] == str(path)
    # Numeric comparisons in --where need numeric columns.
    fit = fit_law(path, "power", "N", "loss", where="N >= 1e6 and model != 'b'")
    assert fit.n_points == 4 and fit.source == str(path)


def test_saved_fit_records_the_path_and_creates_directories(tmp_path):
    path = write(tmp_path / "p.csv", POWER_CSV.format(missing="2.35"))
    fit = fit_law(load_table(path), "power", "N", "loss")
    assert fit.source == str(path)
    saved = fit.save(tmp_path / "new" / "deeper" / "fit.json")
    assert json.loads(saved.read_text())["source"] == str(path)
    assert load_fit(saved).source == str(path)
    with pytest.raises(ConfigError, match="is a directory"):
        fit.save(tmp_path / "new")
    # An in-memory table still says so.
    assert fit_law(pd.read_csv(path), "power", "N", "loss").source == "the table"


def test_pivoted_table_names_source_and_rows(tmp_path):
    rows = ["model,params,task,metric,value"]
    for i, n in enumerate([1e7, 1e8, 1e9, 1e10, 1e11]):
        rows.append(f"m{i},{n},piqa,acc,{0.5 + 0.08 * i}")
        if i != 2:  # m2 has no arc score
            rows.append(f"m{i},{n},arc,acc,{0.3 + 0.1 * i}")
    path = write(tmp_path / "long.csv", "\n".join(rows) + "\n")
    wide = widen(load_table(path), ["task", "metric"])
    assert wide.attrs["source"] == f"{path} (pivoted by task,metric)"
    with pytest.raises(
        DataError, match=r"long\.csv \(pivoted by task,metric\) row with model=m2.*'arc/acc' is missing"
    ):
        fit_law(wide, "sigmoid", "params", "arc/acc")
    fit = fit_law(wide, "sigmoid", "params", "piqa/acc", chance=0.5)
    assert fit.source == f"{path} (pivoted by task,metric)" and fit.params["floor"] == 0.5


def sigmoid_table(scale=1.0):
    n = np.geomspace(1e7, 1e11, 9)
    acc = 0.25 + 0.6 / (1 + np.exp(-2.5 * (np.log10(n) - 9)))
    return pd.DataFrame({"params": n, "acc": acc * scale})


def test_chance_outside_unit_interval_is_refused_for_fractional_accuracy():
    with pytest.raises(ConfigError, match=r"--chance 50 is outside \[0, 1\].*'acc'.*e\.g\. 0\.5 for 50%"):
        fit_law(sigmoid_table(), "sigmoid", "params", "acc", chance=50)
    with pytest.raises(ConfigError, match=r"--chance -0\.1 is outside \[0, 1\]"):
        fit_law(sigmoid_table(), "sigmoid", "params", "acc", chance=-0.1)
    with pytest.raises(ConfigError, match="--chance nan"):
        fit_law(sigmoid_table(), "sigmoid", "params", "acc", chance=float("nan"))
    with pytest.raises(ConfigError, match="--chance 25 is outside"):
        backtest(sigmoid_table(), "sigmoid", "params", "acc", chance=25, bootstrap=0)
    # On the right scale it is the floor; accuracies in percent take chance in percent.
    assert fit_law(sigmoid_table(), "sigmoid", "params", "acc", chance=0.25).params["floor"] == 0.25
    assert fit_law(sigmoid_table(100), "sigmoid", "params", "acc", chance=25).params["floor"] == 25


def test_compare_law_of_fewer_x_columns_uses_the_first(tmp_path):
    path = tmp_path / "chin.csv"
    chinchilla_table(60).to_csv(path, index=False)
    result = backtest(path, "chinchilla", "N,D", "loss", holdout_largest=2, compare="power", bootstrap=10)
    assert result.laws == ["chinchilla", "power"]
    assert result.columns["power"] == {"x": ["N"], "y": ["loss"]}
    assert result.summary["power"]["x"] == ["N"] and result.summary["chinchilla"]["x"] == ["N", "D"]
    assert result.fits["power"].x == ["N"]
    power_rows = [r for r in result.rows if r["law"] == "power"]
    assert len(power_rows) == 2 and all(np.isfinite(r["predicted"]) and "D" in r for r in power_rows)
    # Its forecast is the power fit at N alone.
    fit = result.fits["power"]
    expected = fit.predict_arrays(np.array([[r["N"] for r in power_rows]]))[0]
    assert [r["predicted"] for r in power_rows] == pytest.approx(list(expected))
    assert "power takes 1 x column(s): fitted on N only" in result.render()
    saved = result.to_dict()
    assert saved["source"] == str(path) and saved["columns"]["power"]["x"] == ["N"]
    json.dumps(saved, allow_nan=False)


def test_compare_law_needing_more_columns_is_refused():
    table = chinchilla_table(40)
    with pytest.raises(
        ConfigError, match=r"--compare chinchilla: the chinchilla law takes 2 x column\(s\).*gives 1: N"
    ):
        backtest(table, "power", "N", "loss", compare="chinchilla", bootstrap=0)
    with pytest.raises(ConfigError, match="--compare two-step: .*LOSS,ACCURACY"):
        backtest(table, "power", "N", "loss", compare="two-step", bootstrap=0)


def test_chance_goes_only_to_compare_laws_that_take_it():
    result = backtest(sigmoid_table(), "sigmoid", "params", "acc", compare="power", chance=0.25, bootstrap=0)
    assert result.fits["sigmoid"].params["floor"] == 0.25
    assert "chance" not in result.fits["power"].options


def test_predict_arrays_ignores_extra_rows():
    fit = fit_law(chinchilla_table(40), "power", "N", "loss")
    n = np.array([1e9, 1e10])
    one = fit.predict_arrays(n[None, :])[0]
    two = fit.predict_arrays(np.vstack([n, [1e11, 1e12]]))[0]
    assert two.shape == (2,) and list(two) == pytest.approx(list(one))
