"""HELM run directories, AlpacaEval annotations and Every Eval Ever files, imported.

The fixtures are small files in the published shapes of each tool (see
fixtures/README.md); every expectation here is computed from the fixture's
own fields, not from the importer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from assay.errors import DataError
from assay.importers import detect, import_paths
from assay.run.store import open_run, read_config, scores_frame

FIXTURES = Path(__file__).parent / "fixtures"
HELM_RUNS = sorted((FIXTURES / "helm").iterdir())
ALPACA = FIXTURES / "alpacaeval" / "annotations.json"
EEE = FIXTURES / "every_eval_ever" / "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f.json"


def test_formats_are_detected():
    assert [detect(p) for p in HELM_RUNS] == ["helm", "helm"]
    assert detect(HELM_RUNS[0] / "per_instance_stats.json") == "helm"
    assert detect(ALPACA) == "alpacaeval"
    assert detect(EEE) == "every-eval-ever"


def test_helm_test_split_unperturbed_scores_match_helm_aggregate(tmp_path):
    result = import_paths([FIXTURES / "helm"], tmp_path / "run")
    assert result.metric == "exact_match" and sorted(result.models) == ["openai/gpt2", "openai/gpt2-medium"]
    frame = scores_frame(tmp_path / "run")
    for run in HELM_RUNS:
        spec = json.loads((run / "run_spec.json").read_text())
        per = json.loads((run / "per_instance_stats.json").read_text())
        expected = {
            r["instance_id"]: s["mean"]
            for r in per
            if not r.get("perturbation")
            for s in r["stats"]
            if s["name"]["name"] == "exact_match" and s["name"]["split"] == "test"
        }
        mine = frame[frame["model"] == spec["adapter_spec"]["model"]]
        got = {item.rsplit(":", 1)[1]: score for item, score in zip(mine["item"], mine["score"])}
        assert got == expected  # the valid split and the perturbed variants are not in the default score
        helm_mean = next(
            s["mean"]
            for s in json.loads((run / "stats.json").read_text())
            if s["name"] == {"name": "exact_match", "split": "test"}
        )
        assert mine["score"].mean() == pytest.approx(helm_mean, abs=1e-12)
    assert all(c.matches for f in result.files for c in f.checks if c.reported is not None)


def test_helm_perturbed_variants_are_their_own_items_and_metric(tmp_path):
    import_paths(HELM_RUNS, tmp_path / "run")
    typos = scores_frame(tmp_path / "run", metric="exact_match~typos(prob=0.1)")
    assert set(typos["item"].str.rsplit(":", n=1).str[1]) == {"id12~typos(prob=0.1)", "id41~typos(prob=0.1)"}
    with open_run(tmp_path / "run") as store:
        items = store.items()
    variant = next(i for i in items.values() if i.id.endswith("id12~typos(prob=0.1)"))
    assert variant.meta["perturbation"] == "typos(prob=0.1)" and variant.meta["split"] == "test"
    assert variant.target == "temporal bone" and "teh" in variant.input["input"]


def test_helm_two_models_pair_on_instance_id(tmp_path):
    from assay.api import compare

    import_paths(HELM_RUNS, tmp_path / "run")
    result = compare([tmp_path / "run"]).to_dict()
    pair = result["pairs"][0]
    assert pair["n_dropped_a"] == 0 and pair["n_dropped_b"] == 0
    assert result["models"]["openai/gpt2-medium"]["n"] == 4


def test_alpacaeval_preferences_become_scores_verdicts_and_winrate_input(tmp_path):
    from assay.judge.winrate import winrate
    from assay.run.export import export_run

    result = import_paths([ALPACA], tmp_path / "run")
    assert result.metric == "preference"
    # leaderboard.csv beside the annotations holds AlpacaEval's own win rates: the import is checked on them.
    board = pd.read_csv(ALPACA.with_name("leaderboard.csv"), index_col=0)
    for f in result.files:
        assert f.checks[0].reported == pytest.approx(board.loc[f.model, "win_rate"] / 100)
        assert f.checks[0].matches
    records = json.loads(ALPACA.read_text())
    frame = scores_frame(tmp_path / "run")
    for model in ("model-a", "model-b"):
        prefs = [r["preference"] for r in records if r["generator_2"] == model and r["preference"] is not None]
        prefs = [1.5 if p == 0 else p for p in prefs]
        mine = frame[frame["model"] == model]["score"]
        assert sorted(mine) == pytest.approx(sorted(p - 1 for p in prefs))
    export = export_run(tmp_path / "run", tmp_path / "verdicts.csv", what="verdicts")
    verdicts = pd.read_csv(tmp_path / "verdicts.csv", dtype={"verdict": str})
    assert export.rows == len(records)
    assert set(verdicts["model"]) == {"gpt4_1106_preview"} and set(verdicts["protocol"]) == {"pairwise"}
    valid = verdicts[~verdicts["invalid"]]
    expected = sorted(
        "tie" if p in (1.5, 0) else ("2" if p > 1.5 else "1")
        for p in (r["preference"] for r in records)
        if p is not None
    )
    assert sorted(valid["verdict"]) == expected and verdicts["invalid"].sum() == 1
    rates = winrate(tmp_path / "run" / "annotations.csv")
    for model in ("model-a", "model-b"):
        prefs = [r["preference"] - 1 for r in records if r["generator_2"] == model and r["preference"] is not None]
        assert rates.models[model].win_rate == pytest.approx(100 * sum(prefs) / len(prefs))


def test_every_eval_ever_import_matches_its_aggregate(tmp_path):
    result = import_paths([EEE], tmp_path / "run")
    check = result.files[0].checks[0]
    assert check.metric == "gsm8k/accuracy" and check.matches and check.reported == 0.75
    lines = [json.loads(line) for line in EEE.with_suffix(".jsonl").read_text().splitlines()]
    frame = scores_frame(tmp_path / "run")
    got = dict(zip(frame["item"].str.rsplit(":", n=1).str[1], frame["score"]))
    assert got == {line["sample_id"]: line["evaluation"]["score"] for line in lines}
    assert set(frame["answer"]) == {line["answer_attribution"][0]["extracted_value"] for line in lines}


def test_every_eval_ever_without_its_instance_file_says_so(tmp_path):
    shutil.copy(EEE, tmp_path / EEE.name)
    with pytest.raises(DataError, match="instance-level JSONL.*not there"):
        import_paths([tmp_path / EEE.name], tmp_path / "run")


def test_alpacaeval_bad_preference_names_the_record(tmp_path):
    records = json.loads(ALPACA.read_text())
    records[3]["preference"] = 3.0
    bad = tmp_path / "annotations.json"
    bad.write_text(json.dumps(records))
    with pytest.raises(DataError, match=r"annotations.json record 4: preference 3 is outside 1 to 2"):
        import_paths([bad], tmp_path / "run")


def test_helm_config_records_sources_with_hashes(tmp_path):
    import hashlib

    import_paths([HELM_RUNS[0]], tmp_path / "run")
    entry = read_config(tmp_path / "run")["imports"][0]
    stats = HELM_RUNS[0] / "per_instance_stats.json"
    assert {"path": str(stats), "sha256": hashlib.sha256(stats.read_bytes()).hexdigest()} in entry["sources"]
    assert entry["provenance"]["split"] == "test" and entry["model"] == "openai/gpt2"
