"""The command line end to end, as a user runs it (subprocesses)."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from .servers import free_port, stub_server

ASSAY = [sys.executable, "-m", "assay.cli"]


def assay(*args, env=None, check=True, timeout=600, cwd=None):
    proc = subprocess.run(
        [*ASSAY, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stderr}")
    return proc


def test_run_against_a_server_loads_neither_numpy_nor_scipy(tmp_path):
    # Their import is a quarter of a second: a tenth of a 1,000-item run
    # against a fast server. Binary scores take their interval without them.
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(json.dumps({"input": f"q{i}", "target": "42" if i % 3 else "7"}) + "\n" for i in range(12))
    )
    code = (
        "import sys\nfrom assay.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules), file=sys.stderr)"
    )
    with stub_server() as url:
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                code,
                "run",
                str(items),
                "-m",
                "openai:stub",
                "--base-url",
                url + "/v1",
                "--out",
                str(tmp_path / "r"),
                "--json",
                "--no-cache",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    stats = json.loads(proc.stdout)["models"]["openai:stub"]
    assert stats["score"] == pytest.approx(8 / 12) and stats["ci_method"] == "beta" and stats["ci_low"] < 8 / 12
    assert proc.stderr.strip().splitlines()[-1] == "[]"


def test_run_json_contract_against_stub_server(tmp_path):
    with stub_server() as url:
        proc = assay(
            "run",
            "arithmetic",
            "-m",
            "openai:stub",
            "--base-url",
            url + "/v1",
            "--limit",
            5,
            "--out",
            tmp_path / "r",
            "--json",
            "--param",
            "digits=2",
        )
    data = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert set(data) >= {"run_dir", "task", "models"}
    stats = data["models"]["openai:stub"]
    assert set(stats) >= {
        "n_items",
        "n_samples",
        "score",
        "ci_low",
        "ci_high",
        "model_calls",
        "cache_hits",
        "errors",
        "tokens",
        "seconds",
    }
    assert stats["n_items"] == 5 and stats["model_calls"] == 5 and stats["errors"] == 0
    assert stats["score"] == 0.0  # the stub always says 42; no 2-digit sum here is 42 ... checked below
    proc = assay("export", tmp_path / "r", "-o", tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text().count("\n") == 6


def test_unreachable_server_exits_nonzero_naming_url(tmp_path):
    port = free_port()
    proc = assay(
        "run",
        "arithmetic",
        "-m",
        "openai:x",
        "--base-url",
        f"http://127.0.0.1:{port}/v1",
        "--limit",
        3,
        "--out",
        tmp_path / "r",
        check=False,
        timeout=120,
    )
    assert proc.returncode == 2
    assert f"127.0.0.1:{port}" in proc.stderr and "--out" in proc.stderr
    assert (tmp_path / "r" / "assay.db").is_file()


def test_bad_input_gets_one_clear_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "1+1", "answer": "2"}\n{oops}\n')
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(bytes(range(256)) * 64)
    cases = [
        (("run", "arithmetic", "-m", f"gguf:{junk}"), f"cannot load GGUF file {junk}"),
        (("run", "nosuchtask", "-m", "smollm2"), "unknown task 'nosuchtask'"),
        (("run", "arithmetic", "-m", "nosuchmodel"), "unknown model 'nosuchmodel'"),
        (("run", bad, "-m", "smollm2"), "bad.jsonl line 2: invalid JSON"),
        (("run", "arithmetic", "-m", "gguf:/missing/file.gguf"), "GGUF file does not exist: /missing/file.gguf"),
        (("run", "arithmetic", "-m", "smollm2", "--param", "digits"), "expected KEY=VALUE"),
    ]
    for args, message in cases:
        proc = assay(*args, "--out", tmp_path / "x", check=False)
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr and "Traceback" not in proc.stderr


def test_models_and_tasks_listings():
    names = [m["name"] for m in json.loads(assay("models", "--json").stdout)["models"]]
    assert names[:2] == ["smollm2", "gemma3-270m"]
    tasks = [t["name"] for t in json.loads(assay("tasks", "--json").stdout)["tasks"]]
    assert "arithmetic" in tasks


@pytest.mark.slow
def test_kill_and_resume_equals_uninterrupted_run(tmp_path):
    common = [
        "run",
        "arithmetic",
        "-m",
        "smollm2",
        "--param",
        "digits=1",
        "--param",
        "n=8",
        "--max-tokens",
        "12",
        "--concurrency",
        "1",
        "--json",
    ]
    env = {"ASSAY_CACHE_DIR": "off"}
    reference = json.loads(assay(*common, "--out", tmp_path / "ref", env=env).stdout)

    run_dir = tmp_path / "killed"
    process = subprocess.Popen(
        [*ASSAY, *common, "--out", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )
    db = run_dir / "assay.db"
    deadline = time.monotonic() + 300
    done_before_kill = 0
    while time.monotonic() < deadline and done_before_kill < 3:
        time.sleep(0.2)
        if db.is_file():
            try:
                done_before_kill = sqlite3.connect(db).execute("SELECT COUNT(*) FROM samples").fetchone()[0]
            except sqlite3.OperationalError:
                pass
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 3 <= done_before_kill < 8, "the run finished before it could be killed"
    stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM samples").fetchone()[0]

    resumed = json.loads(assay(*common, "--out", run_dir, env=env).stdout)
    ours, theirs = resumed["models"]["smollm2"], reference["models"]["smollm2"]
    assert ours["model_calls"] == 8 - stored and ours["cache_hits"] == stored
    for field in ("n_items", "n_samples", "score", "ci_low", "ci_high", "tokens"):
        assert ours[field] == theirs[field], field
    outputs = [
        sorted(sqlite3.connect(d / "assay.db").execute("SELECT key, output FROM samples"))
        for d in (tmp_path / "ref", run_dir)
    ]
    assert outputs[0] == outputs[1]


def test_compare_plan_and_passk_json(tmp_path):
    rows = ["model,item,score"] + [
        f"{m},i{i},{int((i * (3 if m == 'a' else 7)) % 5 != 0)}" for m in ("a", "b", "c") for i in range(40)
    ]
    (tmp_path / "scores.csv").write_text("\n".join(rows) + "\n")
    data = json.loads(assay("compare", tmp_path / "scores.csv", "--json").stdout)
    assert set(data["models"]) == {"a", "b", "c"} and len(data["pairs"]) == 3
    for pair in data["pairs"]:
        assert set(pair) >= {
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
        }
        assert pair["p_adjusted"] >= pair["p_value"]
    planned = json.loads(
        assay(
            "plan", "--metric-type", "binary", "--baseline", "0.7", "--mde", "0.03", "--power", "0.8", "--json"
        ).stdout
    )
    assert planned["n_items"] > 1000 and planned["assumptions"]["baseline"] == 0.7

    bad = tmp_path / "bad.csv"
    bad.write_text("model,item,score\na,1,0.5\na,2,oops\n")
    proc = assay("compare", bad, check=False)
    assert proc.returncode == 2 and "bad.csv" in proc.stderr and "oops" in proc.stderr


def test_winrate_json(tmp_path):
    lines = ["model,instruction,preference,len_model,len_baseline"]
    for i in range(30):
        lines.append(f"long,q{i},{0.8 if i % 3 else 0.3},{900 + i},{400}")
        lines.append(f"short,q{i},{0.6 if i % 2 else 0.4},{380 + i},{400}")
    (tmp_path / "ann.csv").write_text("\n".join(lines) + "\n")
    data = json.loads(assay("winrate", tmp_path / "ann.csv", "--json").stdout)
    for name in ("long", "short"):
        assert set(data["models"][name]) >= {"n", "win_rate", "standard_error", "lc_win_rate", "lc_standard_error"}
    assert data["models"]["long"]["win_rate"] == pytest.approx(100 * (20 * 0.8 + 10 * 0.3) / 30)


def test_scale_fit_predict_backtest(shared_data, tmp_path):
    data = shared_data / "pythia_opt_bloom_evals.csv"
    where = "family == 'pythia' and shots == 0 and not model.str.contains('deduped')"
    fit = json.loads(
        assay(
            "scale",
            "fit",
            data,
            "--pivot",
            "task,metric",
            "--law",
            "power",
            "--x",
            "params",
            "--y",
            "lambada_openai/ppl",
            "--where",
            where + " and step == 3000 and params < 3e9",
            "--bootstrap",
            "50",
            "-o",
            tmp_path / "fit.json",
            "--json",
        ).stdout
    )
    assert set(fit) >= {"law", "params", "ci", "objective", "n_points", "converged", "starts", "seconds"}
    assert fit["law"] == "power" and fit["converged"] and set(fit["params"]) == {"E", "A", "alpha"}
    predicted = json.loads(assay("scale", "predict", tmp_path / "fit.json", "--at", "params=1.2e10", "--json").stdout)
    assert predicted["low"] <= predicted["value"] <= predicted["high"]
    proc = assay("scale", "fit", data, "--law", "power", "--x", "nosuch", "--y", "value", check=False)
    assert proc.returncode == 2 and "nosuch" in proc.stderr


def test_judge_cli_contract_and_verdict_export(tmp_path):
    import pandas as pd

    with stub_server() as url:
        base = ["--base-url", url + "/v1"]
        assay("run", "arithmetic", "-m", "openai:a", "-m", "openai:b", *base, "--limit", 4, "--out", tmp_path / "r")
        data = json.loads(
            assay("judge", tmp_path / "r", "--judge", "openai:stub", *base, "--protocol", "pairwise", "--json").stdout
        )
        assert data["protocol"] == "pairwise"
        stats = data["judges"]["openai:stub"]
        # The stub answers "42" to everything: no verdict can be read from it, and none is invented.
        assert stats["invalid"] == stats["n"] == 8
        # Both models answer "42", so the two orders can be one prompt: a call or a cache hit.
        assert stats["calls"] + stats["cache_hits"] == 8 and stats["calls"] >= 4
        for field in ("position_consistency", "calls", "tokens", "seconds", "cost"):
            assert field in stats
        again = json.loads(
            assay("judge", tmp_path / "r", "--judge", "openai:stub", *base, "--protocol", "pairwise", "--json").stdout
        )
        assert again["judges"]["openai:stub"]["calls"] == 0  # re-judging costs nothing
    lexical = json.loads(assay("judge", tmp_path / "r", "--protocol", "exact", "--json").stdout)
    assert set(lexical["judges"]["exact"]["mean_score"]) == {"openai:a", "openai:b"}
    assay("export", tmp_path / "r", "--what", "verdicts", "-o", tmp_path / "v.csv")
    frame = pd.read_csv(tmp_path / "v.csv")
    for column in (
        "item",
        "model",
        "model_b",
        "judge",
        "protocol",
        "order",
        "verdict",
        "score",
        "explanation",
        "invalid",
        "template_hash",
    ):
        assert column in frame.columns
    assert set(frame.loc[frame["protocol"] == "pairwise", "order"]) == {"original", "swapped"}
    proc = assay(
        "judge",
        tmp_path / "r",
        "--judge",
        "openai:stub",
        "--protocol",
        "reference",
        "--base-url",
        "http://127.0.0.1:9/v1",
        check=False,
    )
    assert proc.returncode == 2 and "127.0.0.1:9" in proc.stderr and "left" in proc.stderr
