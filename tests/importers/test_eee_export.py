"""``assay export RUN --format every-eval-ever``: the aggregate JSON and the
instance-level JSONL, for assay's own runs and imported ones.

The files are checked against the constraints of the published schemas
(every_eval_ever/schemas/eval.schema.json and instance_level_eval.schema.json:
required fields, enums, types, string-only detail maps, the single-turn
rules), written out below as checks, and read back by the importer, which
must find the same per-item scores and the aggregate equal to their mean.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from assay.importers import import_paths
from assay.importers.every_eval_ever import export_run
from assay.run.store import scores_frame

from ..servers import stub_server

REAL = Path(__file__).parent / "fixtures" / "real"
EPOCHS_EVAL = REAL / "inspect" / "arith_epochs2.eval"
FLAKY_EVAL = REAL / "inspect" / "arith_flaky.eval"


def strings_only(mapping) -> bool:
    return isinstance(mapping, dict) and all(isinstance(v, str) for v in mapping.values())


def check_aggregate(agg: dict) -> None:
    allowed = {
        "schema_version",
        "evaluation_id",
        "evaluation_timestamp",
        "retrieved_timestamp",
        "source_metadata",
        "model_info",
        "eval_library",
        "evaluation_results",
        "detailed_evaluation_results",
    }
    assert set(agg) <= allowed  # additionalProperties: false
    for name in (
        "schema_version",
        "evaluation_id",
        "retrieved_timestamp",
        "source_metadata",
        "model_info",
        "eval_library",
        "evaluation_results",
    ):
        assert name in agg, name
    source = agg["source_metadata"]
    assert source["source_type"] in ("documentation", "evaluation_run")
    assert isinstance(source["source_organization_name"], str)
    assert source["evaluator_relationship"] in ("first_party", "third_party", "collaborative", "other")
    assert isinstance(agg["model_info"]["name"], str) and isinstance(agg["model_info"]["id"], str)
    assert isinstance(agg["eval_library"]["name"], str) and isinstance(agg["eval_library"]["version"], str)
    assert strings_only(agg["eval_library"].get("additional_details", {}))
    for result in agg["evaluation_results"]:
        for name in ("evaluation_name", "source_data", "metric_config", "score_details"):
            assert name in result, name
        data = result["source_data"]
        assert data["source_type"] == "other" and isinstance(data["dataset_name"], str)
        assert strings_only(data.get("additional_details", {}))
        config = result["metric_config"]
        assert isinstance(config["lower_is_better"], bool)
        assert config.get("score_type") in ("binary", "continuous", "levels")
        if config["score_type"] == "continuous":
            assert isinstance(config["min_score"], float) and isinstance(config["max_score"], float)
        details = result["score_details"]
        assert isinstance(details["score"], float) and strings_only(details.get("details", {}))
        uncertainty = details["uncertainty"]
        ci = uncertainty["confidence_interval"]
        assert ci["lower"] <= details["score"] <= ci["upper"] and 0 <= ci["confidence_level"] <= 1
        assert isinstance(uncertainty["standard_error"]["value"], float)
        assert isinstance(uncertainty["num_samples"], int)
        for key in result.get("generation_config", {}).get("generation_args", {}):
            assert key in {
                "temperature",
                "top_p",
                "top_k",
                "max_tokens",
                "execution_command",
                "reasoning",
                "prompt_template",
                "agentic_eval_config",
                "eval_plan",
                "eval_limits",
                "sandbox",
                "max_attempts",
                "incorrect_attempt_feedback",
            }
    detailed = agg["detailed_evaluation_results"]
    assert detailed["format"] == "jsonl" and detailed["hash_algorithm"] in ("sha256", "md5")


def check_instance(line: dict) -> None:
    allowed = {
        "schema_version",
        "evaluation_id",
        "model_id",
        "evaluation_name",
        "evaluation_result_id",
        "sample_id",
        "sample_hash",
        "interaction_type",
        "input",
        "output",
        "messages",
        "answer_attribution",
        "evaluation",
        "token_usage",
        "performance",
        "error",
        "metadata",
    }
    assert set(line) <= allowed
    for name in (
        "schema_version",
        "evaluation_id",
        "model_id",
        "evaluation_name",
        "sample_id",
        "interaction_type",
        "input",
        "answer_attribution",
        "evaluation",
    ):
        assert name in line, name
    assert line["interaction_type"] == "single_turn"
    assert isinstance(line["output"], dict) and line.get("messages") is None  # the single-turn rule
    assert all(isinstance(r, str) for r in line["output"]["raw"])
    assert isinstance(line["input"]["raw"], str) and all(isinstance(r, str) for r in line["input"]["reference"])
    for attribution in line["answer_attribution"]:
        assert set(attribution) >= {"turn_idx", "source", "extracted_value", "extraction_method", "is_terminal"}
        assert attribution["turn_idx"] >= 0 and isinstance(attribution["extracted_value"], str)
    assert isinstance(line["evaluation"]["score"], float) and isinstance(line["evaluation"]["is_correct"], bool)
    usage = line["token_usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] >= 0
    assert line["performance"]["latency_ms"] >= 0 and strings_only(line["metadata"])


def exported(run: Path, out: Path) -> list[tuple[dict, list[dict]]]:
    result = export_run(run, out)
    pairs = []
    for aggregate_path, jsonl_path in result.files.values():
        aggregate = json.loads(Path(aggregate_path).read_text())
        text = Path(jsonl_path).read_text()
        assert aggregate["detailed_evaluation_results"]["checksum"] == hashlib.sha256(text.encode()).hexdigest()
        lines = [json.loads(line) for line in text.splitlines()]
        assert aggregate["detailed_evaluation_results"]["total_rows"] == len(lines)
        check_aggregate(aggregate)
        for line in lines:
            check_instance(line)
            assert line["evaluation_id"] == aggregate["evaluation_id"]
        pairs.append((aggregate, lines))
    return pairs


def test_imported_run_exports_and_reimports_to_the_same_scores(tmp_path):
    import_paths([EPOCHS_EVAL], tmp_path / "run")
    ((aggregate, lines),) = exported(tmp_path / "run", tmp_path / "eee")
    assert aggregate["eval_library"]["name"] == "inspect_ai"
    by_metric = {r["metric_config"]["metric_id"]: r for r in aggregate["evaluation_results"]}
    assert set(by_metric) == {"match", "includes"}
    original = scores_frame(tmp_path / "run", metric="match")
    item_means = original.groupby("item")["score"].mean()
    assert by_metric["match"]["score_details"]["score"] == pytest.approx(item_means.mean())
    assert by_metric["match"]["score_details"]["uncertainty"]["num_samples"] == 5
    assert len(lines) == 2 * 10  # two metrics, five items, two epochs
    aggregate_path = next((tmp_path / "eee").glob("*.json"))
    back = import_paths([aggregate_path], tmp_path / "back", metric="arith/match")
    assert back.files[0].checks[0].matches is not None
    again = scores_frame(tmp_path / "back")
    got = sorted(zip(again["item"].str.split(":", n=2).str[2], again["sample"], again["score"]))
    assert got == sorted(zip(original["item"], original["sample"], original["score"]))


def test_failed_samples_are_left_out_and_counted(tmp_path):
    import_paths([FLAKY_EVAL], tmp_path / "run")
    ((aggregate, lines),) = exported(tmp_path / "run", tmp_path / "eee")
    assert len(lines) == 4 and aggregate["evaluation_results"][0]["score_details"]["details"]["failed_samples"] == "1"


def test_assay_run_exports_with_its_generation_settings(tmp_path):
    from assay.api import run

    with stub_server() as url:
        run(
            "arithmetic",
            ["openai:stub"],
            limit=6,
            base_urls=[url + "/v1"],
            out=tmp_path / "run",
            max_tokens=8,
            progress=False,
            use_cache=False,
        )
    ((aggregate, lines),) = exported(tmp_path / "run", tmp_path / "eee")
    assert aggregate["eval_library"]["name"] == "assay" and len(lines) == 6
    result = aggregate["evaluation_results"][0]
    assert result["generation_config"]["generation_args"] == {"temperature": 0.0, "max_tokens": 8}
    scores = [line["evaluation"]["score"] for line in lines]
    assert result["score_details"]["score"] == pytest.approx(sum(scores) / len(scores))


def test_cli_export_every_eval_ever(tmp_path):
    import subprocess
    import sys

    import_paths([EPOCHS_EVAL], tmp_path / "run")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "assay.cli",
            "export",
            str(tmp_path / "run"),
            "--format",
            "every-eval-ever",
            "-o",
            str(tmp_path / "eee"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["rows"] == 20 and data["format"] == "every-eval-ever" and len(data["files"]) == 1
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "assay.cli",
            "export",
            str(tmp_path / "run"),
            "--format",
            "helm",
            "-o",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "every-eval-ever" in proc.stderr and "Traceback" not in proc.stderr
