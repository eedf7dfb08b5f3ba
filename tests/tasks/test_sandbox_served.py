"""The hostile battery end to end: a model server on 127.0.0.1 (tests/servers.py's
FaultServer) answers each item of a HumanEval-format file with one hostile
completion from ``hostile_code.py``, and ``assay run`` scores them as a user
would, as this user and, where the tests run as root, as uid 65534 through
``setpriv``. Every hostile item scores 0 (the probes, which pass only when
their attack was stopped, 1), the correct completion 1; nothing is written
outside the sandbox, no process is left behind, and the run's config, its
export and its report say how the code was sandboxed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from assay.tasks import sandbox

from ..servers import fault_server
from . import hostile_code
from .test_sandbox_attacks import assert_contained, leftovers
from .test_sandbox_attacks import listener as listener  # the fixture, shared

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
SRC = Path(__file__).resolve().parents[2] / "src"
BWRAP = sandbox.isolation().mode == "bwrap"
CLI = ["-c", "import sys; sys.argv[0] = 'assay'; from assay.cli import main; main()"]
ASSAY = [sys.executable, *CLI]
UNPRIVILEGED = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def battery_file(directory: Path, outside: Path, victim_pid: int, port: int) -> tuple[Path, dict[str, str]]:
    """One item per completion of the battery, told apart by a case number in its prompt's docstring;
    returns the file and each item's completion by case number."""
    rows, answers = [], {}
    cases = [(name, body, "add") for name, body in hostile_code.forgeries().items()]
    cases += [(name, body, "probe") for name, body in hostile_code.probes(outside, victim_pid, port).items()]
    cases.append(("correct", "    return a + b\n", "add"))
    for number, (name, body, entry) in enumerate(cases):
        prompt, test = (
            (hostile_code.ADD_PROMPT, hostile_code.ADD_TEST)
            if entry == "add"
            else (hostile_code.PROBE_PROMPT, hostile_code.PROBE_TEST)
        )
        marked = prompt.replace('"""\n', f' (case {number})"""\n')
        rows.append({"task_id": name, "prompt": marked, "test": test, "entry_point": entry})
        answers[str(number)] = hostile_code.fenced(body, entry)
    path = directory / "battery.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path, answers


def answer_by_case(answers: dict[str, str]):
    def answer(prompt: str) -> str:
        found = re.search(r"\(case (\d+)\)", prompt)
        return answers[found.group(1)] if found else "no case in the prompt"

    return answer


def serve_and_run(workdir: Path, user: list[str], python: str, env: dict[str, str], listener):
    """Serve the battery and ``assay run`` it with ``python`` as ``user`` (a command prefix);
    returns item -> [score, detail], the run directory and the processes the run left."""
    port, accepted = listener
    outside = workdir / "outside"
    hostile_code.make_outside(outside)
    # The victim is the run's own user: only the sandbox protects it.
    victim = subprocess.Popen([*user, "sleep", "120"])
    try:
        data, answers = battery_file(workdir, outside, victim.pid, port)
        run_dir = workdir / "run"
        with fault_server(answer=answer_by_case(answers)) as server:
            process = subprocess.Popen(
                [*user, python, *CLI, "run", str(data), "-m", "openai:m", "--base-url", server.url]
                + ["--out", str(run_dir), "--concurrency", "2", "--no-cache", "--json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                cwd=workdir,
            )
            out, err = process.communicate(timeout=600)
        assert process.returncode == 0 and "Traceback" not in err, err[-3000:]
        left = leftovers(process.pid)
        summary = json.loads(out)["models"]["openai:m"]
        assert (summary["n_items"], summary["errors"]) == (len(answers), 0)
        exported = workdir / "samples.jsonl"
        done = subprocess.run(
            [*user, python, *CLI, "export", str(run_dir), "-o", str(exported)],
            capture_output=True,
            text=True,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in exported.read_text().splitlines()]
        results = {row["item"]: [row["score"], row["detail"]] for row in rows}
        assert_contained(results, outside, accepted, victim)
        return results, run_dir, left
    finally:
        victim.kill()
        victim.wait()


def own_env(home: Path, pythonpath: str = str(SRC)) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "PYTHONPATH": pythonpath,
        "ASSAY_CACHE_DIR": "off",
        "ASSAY_TEST_API_KEY": "sk-do-not-leak",
    }


@pytest.mark.skipif(not BWRAP, reason="bubblewrap does not run here (make test installs it)")
def test_a_served_hostile_battery_scores_zero_as_this_user(tmp_path, listener):
    results, run_dir, left = serve_and_run(tmp_path, [], sys.executable, own_env(tmp_path), listener)
    assert results["correct"] == [1.0, "passed"]
    assert "cannot cross the sandbox boundary" in results["eq always true"][1]
    assert left == []
    assert json.loads((run_dir / "config.json").read_text())["sandbox"] == {"isolation": "bwrap"}


def nobody_python() -> tuple[str, str] | None:
    """An interpreter that uid 65534 may start (itself and from its own processes, as the sandbox
    does) with assay and its dependencies importable, and the PYTHONPATH that makes them so; None
    where the tests do not run as root or no such interpreter is found. This interpreter's packages
    serve another build of the same Python version (a virtual environment under /root is not
    reachable by that user)."""
    if not (ROOT and shutil.which("setpriv")):
        return None
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    pythonpath = os.pathsep.join([str(SRC), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    for python in dict.fromkeys([sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"]):
        probe = subprocess.run(
            [*UNPRIVILEGED, "/bin/sh", "-c", 'exec "$0" -c "import assay.cli, openai, pandas"', python],
            capture_output=True,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": pythonpath, "HOME": "/tmp"},
            cwd="/tmp",
        )
        if probe.returncode == 0:
            return python, pythonpath
    return None


@pytest.mark.skipif(not BWRAP, reason="bubblewrap does not run here (make test installs it)")
@pytest.mark.skipif(nobody_python() is None, reason="needs root, setpriv and an interpreter uid 65534 may run")
def test_a_served_hostile_battery_scores_zero_as_an_unprivileged_user(listener):
    python, pythonpath = nobody_python()
    workdir = Path(tempfile.mkdtemp(prefix="assay-served-"))
    try:
        os.chmod(workdir, 0o777)
        results, run_dir, left = serve_and_run(workdir, UNPRIVILEGED, python, own_env(workdir, pythonpath), listener)
        assert results["correct"] == [1.0, "passed"] and left == []
        assert (run_dir / "assay.db").stat().st_uid == 65534  # the run was this user's
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_weak_sandbox_is_said_in_the_config_every_score_the_export_and_the_report(tmp_path):
    env = {**own_env(tmp_path), "ASSAY_SANDBOX": "weak"}
    answers = {"0": "    return a + b\n", "1": "    return a - b\n"}
    rows = [
        {"task_id": f"add{n}", "prompt": hostile_code.ADD_PROMPT.replace('"""\n', f' (case {n})"""\n')}
        | {"test": hostile_code.ADD_TEST, "entry_point": "add"}
        for n in answers
    ]
    data = tmp_path / "add.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    run_dir = tmp_path / "run"
    with fault_server(answer=answer_by_case(answers)) as server:
        run = subprocess.run(
            [*ASSAY, "run", str(data), "-m", "openai:m", "--base-url", server.url, "--out", str(run_dir)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("sandbox: weak") == 1 and "ASSAY_SANDBOX=weak" in run.stderr
    config = json.loads((run_dir / "config.json").read_text())
    assert config["sandbox"] == {"isolation": "weak", "reason": "ASSAY_SANDBOX=weak is set"}
    exported = tmp_path / "samples.csv"
    for argv in (
        ["export", str(run_dir), "-o", str(exported)],
        ["report", str(run_dir), "-o", str(tmp_path / "r.html")],
    ):
        done = subprocess.run([*ASSAY, *argv], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
    import pandas as pd

    frame = pd.read_csv(exported).set_index("item")
    assert frame.loc["add0", "detail"] == "passed; sandbox: weak" and frame.loc["add0", "score"] == 1.0
    assert frame.loc["add1", "detail"].endswith("; sandbox: weak") and frame.loc["add1", "score"] == 0.0
    pages = "".join(p.read_text() for p in tmp_path.glob("r*.html"))
    assert pages.count("sandbox: weak") >= 2
