import numpy as np
import pandas as pd
import pytest

from assay.errors import ConfigError, DataError
from assay.scaling import fit_law, load_table


@pytest.fixture
def table():
    n = np.geomspace(1e7, 1e10, 6)
    return pd.DataFrame({"model": [f"m{i}" for i in range(6)], "N": n, "loss": 2 + 50 * n**-0.3})


def test_nonpositive_size(table, tmp_path):
    table.loc[2, "N"] = 0
    path = tmp_path / "models.csv"
    table.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"models\.csv line 4: column 'N' must be positive"):
        fit_law(path, "power", "N", "loss")


def test_nan_value(table):
    table.loc[1, "loss"] = np.nan
    with pytest.raises(DataError, match=r"row 1 of the table: column 'loss' is missing or infinite; .*notna"):
        fit_law(table, "power", "N", "loss")


def test_too_few_points(table):
    with pytest.raises(DataError, match="2 point.*3 free parameters"):
        fit_law(table.head(2), "power", "N", "loss")


def test_missing_column(table):
    with pytest.raises(DataError, match="no column 'tokens'; columns are model, N, loss"):
        fit_law(table, "chinchilla", "N,tokens", "loss")


def test_constant_y(table):
    table["loss"] = 3.0
    with pytest.raises(DataError, match="'loss' is constant"):
        fit_law(table, "power", "N", "loss")


def test_bad_where_and_options(table):
    with pytest.raises(ConfigError, match="--where 'N >>> 3'"):
        fit_law(table, "power", "N", "loss", where="N >>> 3")
    with pytest.raises(DataError, match="no rows match"):
        fit_law(table, "power", "N", "loss", where="N < 0")
    with pytest.raises(ConfigError, match="unknown law 'cubic'"):
        fit_law(table, "cubic", "N", "loss")
    with pytest.raises(ConfigError, match="takes 2 x column"):
        fit_law(table, "chinchilla", "N", "loss")
    with pytest.raises(ConfigError, match="LOSS,ACCURACY"):
        fit_law(table, "two-step", "N", "loss")


def test_where_filters_rows(table):
    fit = fit_law(table, "power", "N", "loss", where="model != 'm0'")
    assert fit.n_points == 5 and fit.where == "model != 'm0'"


def test_load_table_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_table(tmp_path / "nope.csv")
    odd = tmp_path / "models.xlsx"
    odd.write_text("x")
    with pytest.raises(DataError, match="unknown table format"):
        load_table(odd)


def test_parquet_round_trip(table, tmp_path):
    path = tmp_path / "models.parquet"
    table.to_parquet(path)
    assert fit_law(path, "power", "N", "loss").source == str(path)


def test_constant_x(table, tmp_path):
    # Every x equal: the fit "converged" to arbitrary parameters (a sigmoid's slope of 5e11), now refused.
    table["N"] = 1e9
    path = tmp_path / "same.csv"
    table.assign(D=np.geomspace(1e9, 1e11, 6), acc=np.linspace(0.3, 0.8, 6)).to_csv(path, index=False)
    for law, x, y in (
        ("power", "N", "loss"),
        ("sigmoid", "N", "acc"),
        ("chinchilla", "N,D", "loss"),
        ("task", "N", "acc"),
    ):
        with pytest.raises(
            DataError, match=rf"same\.csv: column 'N' has one value \(1e\+09\) in all 6 selected rows; the {law} law"
        ):
            fit_law(path, law, x, y)
    # Kaplan's batch size may be one value for all rows: it only corrects the steps.
    frame = pd.DataFrame({"N": np.geomspace(1e7, 1e10, 8), "S": np.geomspace(1e3, 1e5, 8), "B": 512.0})
    frame["loss"] = (8.8e13 / frame["N"]) ** 0.076 + (5.1e3 / frame["S"]) ** 0.76
    fit_law(frame, "kaplan", "N,S,B", "loss")
    frame["N"] = 1e9
    with pytest.raises(DataError, match="column 'N' has one value"):
        fit_law(frame, "kaplan", "N,S,B", "loss")
