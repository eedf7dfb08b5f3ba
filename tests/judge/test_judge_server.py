"""Bias probes behind the real llama_cpp.server when every request fails: a
request that fails is an error, never an invalid verdict, and the CLI says so.
(A judge and probes that succeed through the same server, where the first
constrained request finds out that it refuses ``response_format`` of type
json_schema: tests/test_newcomer_path.py.)"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ..test_cli import assay

pytestmark = pytest.mark.slow


def test_probe_requests_that_fail_are_errors_not_invalid_verdicts(smollm2_server, shared_data, tmp_path):
    # An audit needs verdicts and labels on ten items; these are made up, the probes are what is tested.
    items = [f"q{i}" for i in range(10)]
    pd.DataFrame({"item": items, "judge": "openai:my-judge", "verdict": [1, 0] * 5}).to_csv(
        tmp_path / "verdicts.csv", index=False
    )
    pd.DataFrame({"item": items, "label": [1, 1, 0, 0, 1] * 2}).to_csv(tmp_path / "labels.csv", index=False)
    pairs = json.loads((shared_data / "judge_human_labels" / "llmeval2.json").read_text())
    shortest = min(pairs, key=lambda p: len(p["input"]) + len(p["output_1"]) + len(p["output_2"]))
    # A prompt longer than the server's context fails on every request: errors, not invalid verdicts,
    # and the command exits non-zero naming the cause.
    (tmp_path / "long.json").write_text(json.dumps([{**shortest, "input": "word " * 3000}]))
    failed = assay(
        "audit",
        "--verdicts",
        tmp_path / "verdicts.csv",
        "--labels",
        tmp_path / "labels.csv",
        "--n-boot",
        50,
        "--probe-judge",
        "openai:my-judge",
        "--probe-n",
        1,
        "--base-url",
        smollm2_server(),
        "--probe-items",
        tmp_path / "long.json",
        "--max-retries",
        0,
        "--json",
        check=False,
    )
    assert failed.returncode == 2 and "probe request(s) failed" in failed.stderr
    audited = json.loads(failed.stdout)
    assert audited["coverage"]["n_labelled_items"] == 10  # the audit itself is still reported
    probes = {p["probe"]: p for p in audited["probes"]}
    assert probes["position"]["n_errors"] == 3 and probes["verbosity"]["n_errors"] == 2
    assert probes["position"]["n_invalid"] == 0 and probes["verbosity"]["n_invalid"] == 0
    assert "HTTP 4" in probes["position"]["first_error"] or "HTTP 5" in probes["position"]["first_error"]
