"""What every import does whatever the format: deterministic keys, conflicts, bad input."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from assay.errors import ConfigError, DataError
from assay.importers import detect, import_paths
from assay.run.store import read_config, scores_frame

FIXTURES = Path(__file__).parent / "fixtures"
HELM_RUN, HELM_RUN_B = sorted((FIXTURES / "helm").iterdir())
EEE = FIXTURES / "every_eval_ever" / "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f.json"


def rows(run: Path) -> dict[str, int]:
    with sqlite3.connect(run / "assay.db") as conn:
        return {
            t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("items", "samples", "scores", "verdicts")
        }


def test_importing_the_same_file_twice_adds_nothing(tmp_path):
    first = import_paths([HELM_RUN, HELM_RUN_B], tmp_path / "run")
    before = rows(tmp_path / "run")
    config = read_config(tmp_path / "run")
    second = import_paths([HELM_RUN, HELM_RUN_B], tmp_path / "run")
    assert first.n_added == before["samples"] and second.n_added == 0
    assert [f.n_present for f in second.files] == [f.n_samples for f in first.files]
    assert rows(tmp_path / "run") == before
    again = read_config(tmp_path / "run")
    assert again["imports"] == config["imports"] and again["scorers"] == config["scorers"]


def test_a_copy_of_a_file_under_another_name_adds_nothing(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(HELM_RUN, copy)
    import_paths([HELM_RUN], tmp_path / "run")
    result = import_paths([copy], tmp_path / "run")
    assert result.n_added == 0


def test_disagreeing_logs_of_one_model_are_refused_and_nothing_is_lost(tmp_path):
    import_paths([HELM_RUN], tmp_path / "run")
    before = rows(tmp_path / "run")
    changed = tmp_path / "changed"
    shutil.copytree(HELM_RUN, changed)
    per = json.loads((changed / "per_instance_stats.json").read_text())
    per[0]["stats"][0]["mean"] = 1 - per[0]["stats"][0]["mean"]
    (changed / "per_instance_stats.json").write_text(json.dumps(per))
    with pytest.raises(
        DataError,
        match=r"model openai/gpt2, item helm:mmlu.*:id12, sample 0: .* already holds "
        r"exact_match=.* from .*; .* gives exact_match=",
    ):
        import_paths([changed], tmp_path / "run")
    assert rows(tmp_path / "run") == before
    # Both given at once: refused before anything is written.
    with pytest.raises(DataError, match="two logs of the same model disagree"):
        import_paths([HELM_RUN, changed], tmp_path / "fresh")
    assert not (tmp_path / "fresh" / "assay.db").exists()


def test_a_metric_not_in_the_file_lists_those_that_are(tmp_path):
    with pytest.raises(DataError, match=r"no metric 'accuracy'; metrics in the file: exact_match, quasi_exact_match"):
        import_paths([HELM_RUN], tmp_path / "run", metric="accuracy")


def test_metric_option_chooses_the_score_and_keeps_the_others(tmp_path):
    result = import_paths([HELM_RUN], tmp_path / "run", metric="quasi_exact_match")
    assert result.metric == "quasi_exact_match"
    assert read_config(tmp_path / "run")["scorers"][0] == "quasi_exact_match"
    assert len(scores_frame(tmp_path / "run", metric="num_output_tokens")) == 4


def test_unknown_format_says_what_was_tried_and_why(tmp_path):
    junk = tmp_path / "notes.json"
    junk.write_text('{"hello": 1}')
    with pytest.raises(DataError) as info:
        detect(junk)
    message = str(info.value)
    for name in ("inspect:", "lm-eval:", "helm:", "alpacaeval:", "every-eval-ever:"):
        assert name in message
    assert "notes.json: not a format assay imports" in message


def test_truncated_jsonl_names_file_and_line(tmp_path):
    folder = tmp_path / "eee"
    folder.mkdir()
    shutil.copy(EEE, folder / EEE.name)
    text = EEE.with_suffix(".jsonl").read_text()
    (folder / EEE.with_suffix(".jsonl").name).write_text(text[: len(text) - 40])
    with pytest.raises(DataError, match=r"\.jsonl line 4: not valid JSON: .*truncated"):
        import_paths([folder / EEE.name], tmp_path / "run")


def test_truncated_json_names_file_and_line(tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(HELM_RUN, broken)
    text = (broken / "per_instance_stats.json").read_text()
    (broken / "per_instance_stats.json").write_text(text[:300])
    with pytest.raises(DataError, match=r"per_instance_stats.json line \d+ column \d+: not valid JSON.*truncated"):
        import_paths([broken], tmp_path / "run")


def test_missing_field_is_named(tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(HELM_RUN, broken)
    per = json.loads((broken / "per_instance_stats.json").read_text())
    del per[2]["instance_id"]
    (broken / "per_instance_stats.json").write_text(json.dumps(per))
    with pytest.raises(DataError, match=r"per_instance_stats.json \[2\]: no 'instance_id' field"):
        import_paths([broken], tmp_path / "run")


def test_a_run_made_by_assay_run_is_not_mixed_with_imports(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(
        json.dumps(
            {"task": {"name": "arithmetic"}, "task_name": "arithmetic", "scorers": ["exact"], "models": ["smollm2"]}
        )
    )
    with pytest.raises(ConfigError, match="made by assay run"):
        import_paths([HELM_RUN], run)


def test_two_tasks_are_not_mixed_in_one_run(tmp_path):
    import_paths([HELM_RUN], tmp_path / "run")
    with pytest.raises(
        DataError,
        match=r"one run directory holds one task, and these are 2: mmlu:.* \(the run\); "
        r"gsm8k \(.*json\)",
    ):
        import_paths([EEE], tmp_path / "run")


def test_key_field_must_stay_the_same_in_one_run(tmp_path):
    import_paths([HELM_RUN], tmp_path / "run")
    with pytest.raises(ConfigError, match="would never pair"):
        import_paths([EEE], tmp_path / "run", key_field="input")


def test_key_field_that_is_missing_lists_the_fields(tmp_path):
    with pytest.raises(DataError, match=r"no field 'question' for --key-field; fields there: .*instance_id"):
        import_paths([HELM_RUN], tmp_path / "run", key_field="question")


def test_config_records_provenance(tmp_path):
    import_paths([EEE], tmp_path / "run")
    config = read_config(tmp_path / "run")
    provenance = config["provenance"]
    assert provenance["imported"] is True and provenance["cpu_count"] >= 1
    assert set(provenance["packages"]) >= {"llama-cpp-python", "openai", "numpy"}
    assert provenance["python"].count(".") == 2
    entry = config["imports"][0]
    assert entry["format"] == "every-eval-ever" and len(entry["sha256"]) == 64
    assert entry["provenance"]["tool"] == "inspect_ai" and entry["provenance"]["tool_version"] == "0.3.160"


def test_report_shows_an_imported_runs_provenance(tmp_path):
    from assay.report import write_report

    import_paths([HELM_RUN, HELM_RUN_B], tmp_path / "run")
    report = write_report([tmp_path / "run"], out=tmp_path / "report.html")
    section = next(s for s in report.sections if s.id == "provenance")
    body = section.html()
    entry = read_config(tmp_path / "run")["imports"][0]
    assert entry["sha256"][:12] in body and "assay 0.1.0" in body and "helm" in body
    assert "provenance" in (tmp_path / "report.html").read_text()
