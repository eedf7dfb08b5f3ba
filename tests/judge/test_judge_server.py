"""A judge behind the real llama_cpp.server: it refuses ``response_format`` of
type json_schema (HTTP 500), so the first constrained request finds that out
once and every verdict comes from a plain reply read by the parser; a request
that fails is an error, never an invalid verdict, and the CLI says so."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from assay.models.registry import smollm2_path

from ..servers import llama_server
from ..test_cli import assay

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llama_url():
    with llama_server(smollm2_path()) as url:
        yield url + "/v1"


def test_reference_judge_and_probes_through_the_server(llama_url, shared_data, tmp_path):
    base = ["--base-url", llama_url]
    run = tmp_path / "run"
    assay("run", "arithmetic", "-m", "openai:smollm2", *base, "--limit", 3, "--max-tokens", 12, "--out", run)
    proc = assay(
        "judge", run, "--judge", "openai:my-judge", *base, "--protocol", "reference", "--max-tokens", 48, "--json"
    )
    data = json.loads(proc.stdout)
    stats = data["judges"]["openai:my-judge"]
    assert stats["errors"] == 0 and stats["not_run"] == 0 and stats["n"] == 3 and stats["calls"] == 3
    assert any("refuses constrained output" in note and "HTTP 500" in note for note in data["notes"])

    # Bias probes on the same server: every request answered, none counted as invalid for failing.
    assay("export", run, "--what", "verdicts", "-o", tmp_path / "verdicts.csv")
    # An audit needs ten labelled items: the three verdicts stand in for ten.
    verdicts = pd.read_csv(tmp_path / "verdicts.csv")
    verdicts = pd.concat([verdicts.assign(item=verdicts["item"] + f"-{k}") for k in range(4)], ignore_index=True)
    verdicts.to_csv(tmp_path / "verdicts.csv", index=False)
    verdicts[["item", "model"]].assign(label=1).to_csv(tmp_path / "labels.csv", index=False)
    pairs = json.loads((shared_data / "judge_human_labels" / "llmeval2.json").read_text())
    shortest = sorted(pairs, key=lambda p: len(p["input"]) + len(p["output_1"]) + len(p["output_2"]))[:1]
    (tmp_path / "pairs.json").write_text(json.dumps(shortest))
    audit = [
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
        *base,
        "--json",
    ]
    report = json.loads(assay(*audit, "--probe-items", tmp_path / "pairs.json").stdout)
    probes = {p["probe"]: p for p in report["probes"]}
    for name in ("position", "verbosity"):
        assert probes[name]["n_errors"] == 0 and probes[name]["n"] + probes[name]["n_invalid"] >= 1

    # A prompt longer than the server's context fails on every request: errors, not invalid verdicts,
    # and the command exits non-zero naming the cause.
    long = [{**shortest[0], "input": "word " * 3000}]
    (tmp_path / "long.json").write_text(json.dumps(long))
    failed = assay(*audit, "--probe-items", tmp_path / "long.json", "--max-retries", 0, check=False)
    assert failed.returncode == 2 and "probe request(s) failed" in failed.stderr
    probes = {p["probe"]: p for p in json.loads(failed.stdout)["probes"]}
    assert probes["position"]["n_errors"] == 3 and probes["verbosity"]["n_errors"] == 2
    assert probes["position"]["n_invalid"] == 0 and probes["verbosity"]["n_invalid"] == 0
    assert "HTTP 4" in probes["position"]["first_error"] or "HTTP 5" in probes["position"]["first_error"]
