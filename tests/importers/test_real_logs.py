"""Real logs of Inspect AI and lm-evaluation-harness (fixtures/real, made by
benchmarks/peers/make_logs.py), imported and checked against the tools' own
aggregates in the same files.

Expected values are read from the files here with json and zipfile alone
(the per-item values the tool wrote, its letter grades counted by hand), so a
wrong mapping in the importer cannot agree with itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from assay.errors import DataError
from assay.importers import detect, import_paths
from assay.run.store import read_config, samples_frame, scores_frame

REAL = Path(__file__).parent / "fixtures" / "real"
EPOCHS_EVAL = REAL / "inspect" / "arith_epochs2.eval"
EPOCHS_JSON = REAL / "inspect" / "arith_epochs2.json"
MAX1_EVAL = REAL / "inspect" / "arith_max1.eval"
FLAKY_EVAL = REAL / "inspect" / "arith_flaky.eval"
LM_SAMPLES = next((REAL / "lm-eval").rglob("samples_arith_*.jsonl"))
LM_RESULTS = next((REAL / "lm-eval").rglob("results_*.json"))
GRADE = {"C": 1.0, "I": 0.0}


def inspect_json_samples() -> list[dict]:
    return json.loads(EPOCHS_JSON.read_text())["samples"]


def source_key(item: str) -> str:
    return item.rsplit(":", 1)[1]


def test_formats_detected():
    assert {detect(p) for p in (EPOCHS_EVAL, EPOCHS_JSON, MAX1_EVAL, FLAKY_EVAL)} == {"inspect"}
    assert detect(LM_SAMPLES) == detect(LM_RESULTS) == "lm-eval"


@pytest.mark.parametrize("log", [EPOCHS_EVAL, EPOCHS_JSON], ids=["eval", "json"])
def test_inspect_every_epoch_and_scorer_matches_the_log(tmp_path, log):
    result = import_paths([log], tmp_path / "run")
    samples = inspect_json_samples()
    header = json.loads(EPOCHS_JSON.read_text())
    assert result.models == [header["eval"]["model"]] and result.metric == "match"
    for scorer in ("match", "includes"):
        frame = scores_frame(tmp_path / "run", metric=scorer)
        got = {(source_key(i), s): v for i, s, v in zip(frame["item"], frame["sample"], frame["score"])}
        expected = {(str(s["id"]), s["epoch"] - 1): GRADE[s["scores"][scorer]["value"]] for s in samples}
        assert got == expected
        reported = next(s for s in header["results"]["scores"] if s["name"] == scorer)["metrics"]["accuracy"]["value"]
        assert frame["score"].mean() == pytest.approx(reported, abs=1e-12)
    assert all(check.matches for check in result.files[0].checks)
    outputs = samples_frame(tmp_path / "run")
    by_key = {(source_key(i), s): o for i, s, o in zip(outputs["item"], outputs["sample"], outputs["output"])}
    for s in samples:
        assert by_key[(str(s["id"]), s["epoch"] - 1)] == s["output"]["choices"][0]["message"]["content"]


def test_inspect_eval_and_json_of_one_log_are_the_same_records(tmp_path):
    import_paths([EPOCHS_EVAL], tmp_path / "run")
    again = import_paths([EPOCHS_JSON], tmp_path / "run")
    assert again.n_added == 0 and again.files[0].n_present == 10


def test_inspect_provenance_in_config(tmp_path):
    import_paths([EPOCHS_EVAL], tmp_path / "run")
    header = json.loads(EPOCHS_JSON.read_text())
    entry = read_config(tmp_path / "run")["imports"][0]["provenance"]
    assert entry["tool_version"] == header["eval"]["packages"]["inspect_ai"]
    assert entry["task_version"] == header["eval"]["task_version"] == 2
    assert entry["scorers"] == ["match", "includes"] and entry["epochs"] == 2
    assert entry["generate_config"]["max_tokens"] == 16 and entry["generate_config"]["temperature"] == 0


def test_inspect_failed_sample_is_an_error_not_a_wrong_answer(tmp_path):
    result = import_paths([FLAKY_EVAL], tmp_path / "run")
    with zipfile.ZipFile(FLAKY_EVAL) as archive:
        names = [n for n in archive.namelist() if n.startswith("samples/")]
    assert len(names) == 5 and result.files[0].n_errors == 1 and result.files[0].n_samples == 5
    frame = samples_frame(tmp_path / "run")
    failed = frame[frame["error"].notna()]
    assert list(failed["item"].map(source_key)) == ["q3"] and "deliberate failure" in failed["error"].iloc[0]
    scores = scores_frame(tmp_path / "run")
    assert "q3" not in set(scores["item"].map(source_key)) and len(scores) == 4
    assert result.files[0].checks[0].matches  # Inspect leaves the failed sample out of its accuracy too


def test_two_logs_of_one_model_with_other_scores_are_refused(tmp_path):
    with pytest.raises(
        DataError,
        match=r"model openai-api/local/smollm2, item inspect:arith:q\d, sample 0: "
        r".*arith_epochs2.eval member samples/q\d_epoch_1.json gives includes=1, "
        r"match=1, .*arith_max1.eval member .* gives includes=0, match=0",
    ):
        import_paths([EPOCHS_EVAL, MAX1_EVAL], tmp_path / "run")


def test_lm_eval_every_metric_and_filter_matches_the_harness(tmp_path):
    result = import_paths([LM_SAMPLES], tmp_path / "run")
    results = json.loads(LM_RESULTS.read_text())
    lines = [json.loads(line) for line in LM_SAMPLES.read_text().splitlines()]
    assert result.models == [results["model_name"]] and result.metric == "exact_match,strict"
    for filter_name in ("strict", "number"):
        frame = scores_frame(tmp_path / "run", metric=f"exact_match,{filter_name}")
        got = dict(zip(frame["item"].map(source_key), frame["score"]))
        assert got == {str(row["doc_id"]): row["exact_match"] for row in lines if row["filter"] == filter_name}
        assert frame["score"].mean() == pytest.approx(results["results"]["arith"][f"exact_match,{filter_name}"])
    assert all(check.matches for check in result.files[0].checks)
    entry = read_config(tmp_path / "run")["imports"][0]
    assert entry["provenance"]["tool_version"] == results["lm_eval_version"]
    assert entry["sources"][0]["path"] == str(LM_RESULTS)


def test_lm_eval_metric_named_with_its_default_filter_or_not(tmp_path):
    result = import_paths([LM_SAMPLES], tmp_path / "run", metric="exact_match,number")
    assert result.metric == "exact_match,number"
    with pytest.raises(
        DataError, match=r"no metric 'acc'; metrics in the file: exact_match,strict, exact_match,number"
    ):
        import_paths([LM_SAMPLES], tmp_path / "other", metric="acc,none")


def test_lm_eval_results_file_stands_for_its_samples(tmp_path):
    result = import_paths([LM_RESULTS], tmp_path / "run")
    assert [f.path for f in result.files] == [str(LM_SAMPLES)]


def test_lm_eval_samples_without_results_file_says_so(tmp_path):
    shutil.copy(LM_SAMPLES, tmp_path / LM_SAMPLES.name)
    with pytest.raises(DataError, match=r"no results_.*\.json beside it"):
        import_paths([tmp_path / LM_SAMPLES.name], tmp_path / "run")


def test_truncated_eval_archive_names_the_file(tmp_path):
    cut = tmp_path / "cut.eval"
    cut.write_bytes(EPOCHS_EVAL.read_bytes()[:20000])
    with pytest.raises(DataError, match=r"cut.eval: not a complete zip archive"):
        import_paths([cut], tmp_path / "run")


def test_truncated_lm_eval_samples_names_the_line(tmp_path):
    folder = tmp_path / "lm"
    folder.mkdir()
    shutil.copy(LM_RESULTS, folder / LM_RESULTS.name)
    text = LM_SAMPLES.read_text()
    (folder / LM_SAMPLES.name).write_text(text[: len(text) - 100])
    n_lines = len(text.splitlines())
    with pytest.raises(DataError, match=rf"{LM_SAMPLES.name} line {n_lines}: not valid JSON.*truncated"):
        import_paths([folder / LM_SAMPLES.name], tmp_path / "run")


def test_two_tools_pair_on_a_key_field_and_compare_counts_pairs(tmp_path):
    from assay.api import compare

    import_paths([EPOCHS_EVAL], tmp_path / "inspect", key_field="id")
    import_paths([LM_SAMPLES], tmp_path / "lm", key_field="id", metric="exact_match,number")
    result = compare([tmp_path / "inspect", tmp_path / "lm"]).to_dict()
    pair = result["pairs"][0]
    assert pair["n_dropped_a"] == 0 and pair["n_dropped_b"] == 0
    assert result["models"]["smollm2"]["n"] == result["models"]["openai-api/local/smollm2"]["n"] == 5
    # Without the key field the two tools' items never meet.
    import_paths([EPOCHS_EVAL], tmp_path / "inspect2")
    import_paths([LM_SAMPLES], tmp_path / "lm2")
    unpaired = compare([tmp_path / "inspect2", tmp_path / "lm2"]).to_dict()["pairs"][0]
    assert unpaired["n"] == 0 and "0 item(s) common" in unpaired["error"]


def test_analysis_commands_read_an_imported_run(tmp_path):
    from assay.api import passk
    from assay.run.export import export_run

    import_paths([EPOCHS_EVAL], tmp_path / "run")
    k = passk(tmp_path / "run", [1, 2]).to_dict()
    assert k is not None
    export = export_run(tmp_path / "run", tmp_path / "items.csv")
    frame = pd.read_csv(tmp_path / "items.csv")
    assert export.rows == 10 and {"score_match", "score_includes"} <= set(frame.columns)
    assert frame["score"].tolist() == frame["score_match"].tolist()


def test_cli_import_json_contract(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "assay.cli",
            "import",
            str(EPOCHS_EVAL),
            str(LM_SAMPLES),
            "-o",
            str(tmp_path / "run"),
            "--key-field",
            "id",
            "--metric",
            "match",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "exact_match,strict" in proc.stderr and proc.stdout == ""
    proc = subprocess.run(
        [sys.executable, "-m", "assay.cli", "import", str(EPOCHS_EVAL), "-o", str(tmp_path / "run"), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["n_added"] == 10 and data["metric"] == "match"
    assert data["files"][0]["checks"][0] == {
        "metric": "match",
        "imported": 0.6,
        "reported": 0.6,
        "n": 10,
        "matches": True,
    }
    text = subprocess.run(
        [sys.executable, "-m", "assay.cli", "import", str(EPOCHS_EVAL), "-o", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    assert "0 added, 10 already there" in text and "matches the tool's aggregate" in text


def test_inspect_grades_and_values_convert_as_inspect_converts_them():
    from assay.importers.inspect import score_value

    assert [score_value(v) for v in ("C", "I", "P", "N", "yes", "False", "0.25", 3, True)] == [
        1.0,
        0.0,
        0.5,
        0.0,
        1.0,
        0.0,
        0.25,
        3.0,
        1.0,
    ]
    assert score_value("maybe") is None and score_value([1]) is None


def test_inspect_dict_scores_and_partial_credit(tmp_path):
    log = json.loads(EPOCHS_JSON.read_text())
    log["samples"] = log["samples"][:2]
    log["samples"][0]["scores"]["match"]["value"] = "P"
    log["samples"][1]["scores"]["includes"]["value"] = {"accuracy": "C", "partial": 0.25}
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(log))
    result = import_paths([path], tmp_path / "run")
    assert result.files[0].metrics == ["match", "includes", "includes.accuracy", "includes.partial"]
    frame = scores_frame(tmp_path / "run", metric="match")
    assert sorted(frame["score"]) == [0.5, 1.0]
    assert scores_frame(tmp_path / "run", metric="includes.partial")["score"].tolist() == [0.25]
    # The edited values no longer give the log's own accuracy: the summary says so with both numbers.
    check = next(c for c in result.files[0].checks if c.metric == "match")
    assert check.matches is False and check.imported == 0.75 and check.reported == 0.6
    assert any("match imported mean 0.75 differs from the tool's aggregate 0.6" in w for w in result.warnings)


def test_lm_eval_model_from_model_args_when_model_name_is_empty(tmp_path):
    results = json.loads(LM_RESULTS.read_text())
    results["model_name"] = ""
    results["config"]["model_args"] = "pretrained=EleutherAI/pythia-70m,dtype=float32"
    (tmp_path / LM_RESULTS.name).write_text(json.dumps(results))
    shutil.copy(LM_SAMPLES, tmp_path / LM_SAMPLES.name)
    result = import_paths([tmp_path / LM_SAMPLES.name], tmp_path / "run")
    assert result.models == ["EleutherAI/pythia-70m"]


def test_inspect_log_without_samples_says_so(tmp_path):
    log = json.loads(EPOCHS_JSON.read_text())
    log.pop("samples")
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(log))
    with pytest.raises(DataError, match=r"bare.json: an Inspect log without samples \(status success\)"):
        import_paths([path], tmp_path / "run")
