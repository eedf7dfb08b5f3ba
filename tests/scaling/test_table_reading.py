"""The fast CSV path reads a table exactly as the careful one does (types,
missing values, row locations), and steps aside for what it cannot place."""

import pandas as pd
import pytest

import assay.scaling.table as table_module
from assay.errors import DataError
from assay.scaling.table import LOCATIONS, load_table, widen


def careful(path, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(table_module, "_read_plain_csv", lambda *args: None)
        return load_table(path)


def same(fast, slow):
    assert fast.attrs == slow.attrs
    pd.testing.assert_frame_equal(fast, slow)


def test_fast_and_careful_reads_agree(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_text(
        "family,model, params ,flag,note,score,mixed\n"
        'pythia,p-70m,7e7,true,"a, quoted",0.5,1\n'
        "pythia, p-160m ,1.6e8,False,NA,,x\n"
        "opt,o-125m, 125000000 ,TRUE,,0.25,2\n"
        "opt,o-350m,NaN,false,n/a,1,3\n"
    )
    fast = load_table(path)
    assert fast.attrs[LOCATIONS] == {0: "line 2", 1: "line 3", 2: "line 4", 3: "line 5"}
    same(fast, careful(path, monkeypatch))
    assert fast["params"].dtype == float and fast["flag"].dtype == bool and fast["mixed"].dtype == object
    assert fast.loc[1, "model"] == " p-160m " and pd.isna(fast.loc[1, "note"])


def test_the_shared_table_reads_the_same_both_ways(shared_data, monkeypatch):
    path = shared_data / "pythia_opt_bloom_evals.csv"
    fast = load_table(path)
    same(fast, careful(path, monkeypatch))
    wide = widen(fast, ["task", "metric"])
    identity = ["family", "model", "params", "step", "tokens", "shots"]
    assert len(wide) == len(fast[identity].drop_duplicates())
    labels = set(fast[["task", "metric"]].astype(str).agg("/".join, axis=1))
    assert labels == set(wide.columns) - set(identity)
    row = fast[(fast["model"] == "pythia-70m") & (fast["task"] == "piqa") & (fast["metric"] == "acc")].iloc[0]
    match = wide[(wide["model"] == "pythia-70m") & (wide["step"] == row["step"]) & (wide["shots"] == row["shots"])]
    assert match["piqa/acc"].iloc[0] == row["value"]


@pytest.mark.parametrize(
    "text, where",
    [
        ('model,note,value\na,"two\nlines",1\nb,x,oops\n', None),  # a quoted line break: lines shift
        ("model,value\na,1\n\nb,2\n", None),  # a blank line
        ("model,value\na,1\nb,2,3\n", "line 3"),  # a ragged row: the careful reader names it
    ],
)
def test_what_the_fast_path_cannot_place_goes_the_careful_way(tmp_path, monkeypatch, text, where):
    path = tmp_path / "t.csv"
    path.write_text(text)
    if where is not None:
        with pytest.raises(DataError, match=where):
            load_table(path)
        return
    same(load_table(path), careful(path, monkeypatch))
    if "two" in text:
        assert load_table(path).attrs[LOCATIONS] == {0: "line 2", 1: "line 4"}
