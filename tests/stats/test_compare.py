import gzip
import json
import sys
import types

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from assay.api import compare, load_scores
from assay.errors import ConfigError, DataError


def binary_frame(accuracies, n=150, seed=0, clusters=None):
    rng = np.random.default_rng(seed)
    difficulty = rng.random(n)
    rows = []
    for model, acc in accuracies.items():
        # shared item difficulty makes the models' item scores correlated, as on a real benchmark
        correct = (difficulty * 0.5 + rng.random(n) * 0.5) < acc
        for i in range(n):
            row = {"model": model, "item": f"q{i}", "score": int(correct[i])}
            if clusters:
                row["cluster"] = f"c{i % clusters}"
            rows.append(row)
    return pd.DataFrame(rows)


def test_leaderboard_pairs_and_json_shape(tmp_path):
    frame = binary_frame({"big": 0.75, "mid": 0.72, "small": 0.45})
    path = tmp_path / "scores.csv"
    frame.to_csv(path, index=False)
    result = compare([path])
    assert list(result.models) == ["big", "mid", "small"]
    d = result.to_dict()
    json.dumps(d)
    for m in d["models"].values():
        assert {"n", "mean", "se", "ci_low", "ci_high", "ci_method"} <= set(m) and m["ci_method"] == "beta"
    assert len(d["pairs"]) == 3
    for p in d["pairs"]:
        assert {
            "a",
            "b",
            "n",
            "diff",
            "se",
            "ci_low",
            "ci_high",
            "p_value",
            "p_adjusted",
            "test",
            "effect_size",
        } <= set(p)
        assert p["test"] == "mcnemar-exact" and p["n"] == 150
    raw = [p["p_value"] for p in d["pairs"]]
    assert [p["p_adjusted"] for p in d["pairs"]] == pytest.approx(multipletests(raw, method="holm")[1])
    big = frame[frame.model == "big"].score.to_numpy()
    assert d["models"]["big"]["mean"] == pytest.approx(big.mean())
    # tied groups follow the adjusted p-values against each group's top model
    adjusted = {frozenset((p["a"], p["b"])): p["p_adjusted"] for p in d["pairs"]}
    first = d["tied_groups"][0]
    assert first[0] == "big"
    for other in ("mid", "small"):
        assert (other in first) == (adjusted[frozenset(("big", other))] >= 0.05)
    assert sorted(sum(d["tied_groups"], [])) == ["big", "mid", "small"]
    bh = compare([path], correction="bh").to_dict()
    assert [p["p_adjusted"] for p in bh["pairs"]] == pytest.approx(multipletests(raw, method="fdr_bh")[1])


def test_clusters_and_several_samples():
    rng = np.random.default_rng(5)
    rows = []
    item_acc = rng.random(60)
    for model, shift in (("a", 0.1), ("b", 0.0)):
        for i in range(60):
            for s in range(4):
                correct = rng.random() < min(1.0, item_acc[i] + shift)
                rows.append({"model": model, "item": i, "sample": s, "cluster": i // 6, "score": int(correct)})
    result = compare(pd.DataFrame(rows))
    d = result.to_dict()
    assert d["models"]["a"]["ci_method"] == "clustered" and d["models"]["a"]["n"] == 60
    assert d["models"]["a"]["n_clusters"] == 10 and d["models"]["a"]["samples_per_item"] == 4
    assert d["pairs"][0]["test"] == "clustered-t" and d["pairs"][0]["ci_method"]
    assert set(d["variance_components"]) == {"a", "b"}
    assert d["variance_components"]["a"]["k_to_halve_sampling"] == 8
    # several samples, no clusters: item means are not binary, so a t-test rather than McNemar
    no_clusters = compare(pd.DataFrame(rows).drop(columns="cluster")).to_dict()
    assert no_clusters["pairs"][0]["test"] == "paired-t"
    assert no_clusters["models"]["a"]["ci_method"] == "t"


def test_file_formats_agree(tmp_path):
    frame = binary_frame({"m1": 0.6, "m2": 0.5}, n=40)
    frame.to_csv(tmp_path / "s.csv", index=False)
    frame.to_parquet(tmp_path / "s.parquet")
    with gzip.open(tmp_path / "s.jsonl.gz", "wt") as handle:
        for record in frame.to_dict("records"):
            handle.write(json.dumps(record) + "\n")
    loaded = [load_scores(tmp_path / name) for name in ("s.csv", "s.parquet", "s.jsonl.gz")]
    for other in loaded[1:]:
        pd.testing.assert_frame_equal(loaded[0], other)
    assert list(loaded[0].columns) == ["model", "item", "sample", "score", "cluster"]
    assert loaded[0]["score"].tolist() == frame["score"].astype(float).tolist()


def test_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("model,item,score\na,1,1\na,2,oops\n")
    with pytest.raises(DataError, match=r"bad\.csv line 3: score 'oops' is not a number"):
        load_scores(bad)
    nan = tmp_path / "nan.jsonl"
    nan.write_text('{"model": "a", "item": 1, "score": 1}\n\n{"model": "a", "item": 2, "score": null}\n')
    with pytest.raises(DataError, match=r"nan\.jsonl line 3: score is missing"):
        load_scores(nan)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"model": "a", "item": 1, "score": 1}\n{"model": \n')
    with pytest.raises(DataError, match=r"line 2: invalid JSON"):
        load_scores(broken)
    cols = tmp_path / "cols.csv"
    cols.write_text("model,question,score\na,1,1\n")
    with pytest.raises(DataError, match="missing column.*item.*found model, question, score"):
        load_scores(cols)
    dup = tmp_path / "dup.csv"
    dup.write_text("model,item,score\na,1,1\na,1,0\n")
    with pytest.raises(DataError, match="line 2, line 3.*'sample' column"):
        load_scores(dup)
    with pytest.raises(DataError, match="no such file"):
        load_scores(tmp_path / "missing.csv")
    with pytest.raises(DataError, match=r"x\.txt: unsupported file type '\.txt'"):
        (tmp_path / "x.txt").write_text("")
        load_scores(tmp_path / "x.txt")


def test_same_model_in_two_sources_is_an_error(tmp_path):
    frame = binary_frame({"m": 0.6}, n=10)
    frame.to_csv(tmp_path / "one.csv", index=False)
    frame.to_csv(tmp_path / "two.csv", index=False)
    with pytest.raises(DataError, match=r"'m' appears in both .*one\.csv and .*two\.csv"):
        compare([tmp_path / "one.csv", tmp_path / "two.csv"])


def test_missing_items_single_cluster_and_too_few_items():
    frame = binary_frame({"a": 0.7, "b": 0.6}, n=30)
    frame = frame[~((frame.model == "b") & frame.item.isin(["q0", "q1", "q2"]))].assign(cluster="all")
    with pytest.warns(UserWarning):
        result = compare(frame)
    text = " | ".join(result.warnings)
    assert "single value 'all'" in text and "b: scores for 27 of the 30 items" in text
    assert "dropped 3 item(s)" in text
    assert result.pairs[0].result.n == 27
    tiny = pd.DataFrame({"model": ["a", "a", "b"], "item": ["x", "y", "x"], "score": [1, 0, 1]})
    with pytest.raises(DataError, match="model 'b'.*at least 2"), pytest.warns(UserWarning, match="1 of the 2"):
        compare(tiny)


def test_run_directory_goes_through_the_store(tmp_path, monkeypatch):
    calls = []

    def scores_frame(path, metric=None, fields=()):
        calls.append((path, metric))
        return pd.DataFrame(
            {
                "model": ["r"] * 4,
                "item": list("wxyz"),
                "sample": [0] * 4,
                "score": [1.0, 0.0, 1.0, 1.0],
                "cluster": [None] * 4,
            }
        )

    store = types.ModuleType("assay.run.store")
    store.scores_frame = scores_frame
    monkeypatch.setitem(sys.modules, "assay.run.store", store)
    result = compare([tmp_path], metric="exact_match")
    assert calls == [(tmp_path, "exact_match")]
    assert result.models["r"].ci.mean == 0.75 and result.models["r"].ci.n == 4 and not result.pairs


def test_bad_options():
    frame = binary_frame({"a": 0.7}, n=10)
    with pytest.raises(ConfigError, match="ci method"):
        compare(frame, ci_method="normal")
    with pytest.raises(ConfigError, match="correction"):
        compare(frame, correction="tukey")


def test_render_runs():
    from rich.console import Console

    console = Console(record=True, width=140)
    console.print(compare(binary_frame({"a": 0.7, "b": 0.5}, n=50)).render())
    text = console.export_text()
    assert "Leaderboard" in text and "mcnemar-exact" in text


def test_several_samples_that_agree_never_give_a_zero_width_pair_interval():
    # HumanEval-like: 4 samples per item, two models with the same per-item pass rates.
    rows = [
        {"model": model, "item": i, "sample": s, "score": int(s < passes)}
        for model in ("a", "b")
        for i, passes in enumerate([0, 0, 1, 4, 2, 0, 0, 3])
        for s in range(4)
    ]
    pair = compare(pd.DataFrame(rows)).to_dict()["pairs"][0]
    assert pair["ci_high"] - pair["ci_low"] > 0.5  # 8 items cannot pin a difference down
    assert pair["test"] == "mcnemar-means" and "per-item means" in pair["ci_method"]


def test_stats_takes_data_and_sends_run_directories_to_the_api(tmp_path):
    from assay.stats.compare import compare as compare_data
    from assay.stats.scores import ScoreSource
    from assay.stats.scores import load_scores as load_data

    with pytest.raises(ConfigError, match="run directory.*assay.api"):
        compare_data([tmp_path])
    frame = pd.DataFrame({"model": ["r"] * 3, "item": list("xyz"), "score": [1.0, 0.0, 1.0], "metric": ["f1"] * 3})
    # A ScoreSource's metric is already chosen: --metric does not filter it again, and its label is kept.
    result = compare_data(ScoreSource("runs/qa", frame), metric="exact_match")
    assert result.models["r"].source == "runs/qa" and result.models["r"].ci.n == 3
    assert list(load_data(ScoreSource("runs/qa", frame))["score"]) == [1.0, 0.0, 1.0]
