"""Smoke test of the peer benchmark (benchmarks/peers/compare.py): its stub
server, its parsing and its checks, on 100 items with the bare loop and assay
only (no peer is installed)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import urllib.request

import pytest

from tests.servers import REPO, stub_server

SCRIPT = REPO / "benchmarks" / "peers" / "compare.py"


def load_compare():
    spec = importlib.util.spec_from_file_location("peers_compare", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TIME_V = """\tCommand being timed: "assay run items.jsonl"
\tUser time (seconds): 2.31
\tSystem time (seconds): 0.20
\tPercent of CPU this job got: 80%
\tElapsed (wall clock) time (h:mm:ss or m:ss): 0:03.12
\tMaximum resident set size (kbytes): 102400
\tExit status: 0
"""


def test_parse_time_v():
    figures = load_compare().parse_time_v(TIME_V)
    assert figures == {"wall": 3.12, "user": 2.31, "sys": 0.20, "max_rss_mb": 100.0}
    longer = TIME_V.replace("0:03.12", "1:02:03.5")
    assert load_compare().parse_time_v(longer)["wall"] == pytest.approx(3723.5)


def test_checks_reject_wrong_counts_and_scores():
    check = load_compare().check
    good = {"arm": "assay", "n": 100, "exit_code": 0, "requests": 100, "correct": 100, "total": 100}
    assert check(good) == []
    assert "server counted 99 requests" in check({**good, "requests": 99})[0]
    assert "scored 98 of 100" in check({**good, "correct": 98})[0]
    assert check({**good, "exit_code": 1}) == ["exit code 1"]
    rerun = {**good, "arm": "assay-rerun", "requests": 0, "model_calls": 0}
    assert check(rerun) == []
    assert check({**rerun, "requests": 3, "model_calls": 3}) != []


def test_stub_server_counts_and_times_requests():
    with stub_server() as url:
        body = json.dumps({"model": "stub", "messages": [{"role": "user", "content": "hi"}]}).encode()
        request = urllib.request.Request(
            f"{url}/v1/chat/completions", data=body, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request) as response:
            answer = json.loads(response.read())
        assert answer["choices"][0]["message"]["content"] == "42"
        with urllib.request.urlopen(f"{url}/stats") as response:
            stats = json.loads(response.read())
        assert stats["requests"] == 1 and stats["first"] <= stats["last"]
        urllib.request.urlopen(urllib.request.Request(f"{url}/reset", data=b"", method="POST")).close()
        with urllib.request.urlopen(f"{url}/stats") as response:
            assert json.loads(response.read()) == {"requests": 0, "by_path": {}, "first": None, "last": None}


@pytest.mark.slow
def test_bare_and_assay_arms_on_100_items(tmp_path):
    result_file = tmp_path / "result.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--arms",
            "bare,assay",
            "--sizes",
            "100",
            "--repeats",
            "1",
            "--no-install",
            "--workdir",
            str(tmp_path / "work"),
            "--json-out",
            str(result_file),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(result_file.read_text())
    runs = result["runs"]
    assert sorted(r["arm"] for r in runs) == ["assay", "bare"]
    for run in runs:
        assert run["ok"], run["problems"]
        assert run["requests"] == 100 and run["correct"] == 100 and run["total"] == 100
        assert run["wall"] > 0 and run["max_rss_mb"] > 0 and run["startup"] > 0
    assay = next(r for r in runs if r["arm"] == "assay")
    assert assay["model_calls"] == 100
    assert "| assay |" in done.stdout and "| bare |" in done.stdout
