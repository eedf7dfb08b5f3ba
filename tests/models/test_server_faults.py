"""A server that misbehaves: every fault is a failed request (retried, then
counted as an error, never scored), never a traceback; a dropped connection
does not stop a run; an endpoint is out only after repeated failures and comes
back after its cool-down; a run whose every endpoint is down stops with a
resume hint; empty replies are counted apart; --timeout holds for runs and
judges; Ctrl-C and SIGTERM keep every response received.

The server is tests/servers.py's FaultServer on 127.0.0.1, scripted request
by request; every wait in it and here is bounded."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from assay.errors import ConfigError, IncompleteRunError
from assay.models.openai_compat import OpenAICompatModel
from assay.models.registry import get_model
from assay.run.runner import check_complete, run_eval
from assay.tasks.arithmetic import arithmetic_task

from ..servers import fault_server

# Subprocesses run assay as a user does; SIGINT is set to raise KeyboardInterrupt
# first, as in a terminal (a shell's background job would start with it ignored).
ASSAY = [
    sys.executable,
    "-c",
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'assay'; runpy.run_module('assay.cli', run_name='__main__')",
]

FAULTS = [
    ("malformed json", "unreadable reply"),
    ("html 500", "HTTP 500"),
    ("html 200", "an HTML page, not JSON"),
    ("number content", "content is not text (int"),
    ("list content", "content is not text (list"),
    ("object content", "content is not text (dict"),
    ("no choices", "no choices"),
    ("null content", "no text"),
    ("empty", "empty reply"),
    ("drop", "Server disconnected"),
]


def model(url, **options):
    options.setdefault("retry_wait", 0.01)
    return OpenAICompatModel("openai:m", "m", base_urls=url if isinstance(url, list) else [url], **options)


def stored(run_dir, sql="SELECT COUNT(*) FROM samples"):
    connection = sqlite3.connect(run_dir / "assay.db")
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


@pytest.mark.parametrize("fault,message", FAULTS, ids=[f for f, _ in FAULTS])
def test_each_fault_is_retried_then_an_error_never_a_score(tmp_path, fault, message):
    # Item 1 meets the fault twice (both attempts): an error. Item 2 meets it
    # once and its retry succeeds. Items 3 and 4 are answered.
    with fault_server([fault] * 3) as server:
        result = run_eval(
            arithmetic_task({"n": "4"}),
            [model(server.url, max_retries=1)],
            concurrency=1,
            out=tmp_path / "r",
            progress=False,
        )
    s = result.models["openai:m"]
    assert (s.errors, s.n_items, s.score, s.not_run, result.fatal) == (1, 3, 1.0, 0, [])
    assert server.seen == [fault] * 3 + ["ok"] * 3
    ((error,),) = stored(tmp_path / "r", "SELECT error FROM samples WHERE error IS NOT NULL")
    scored = "SELECT COUNT(*) FROM scores s JOIN samples p ON p.key = s.key WHERE p.error IS NOT NULL"
    assert stored(tmp_path / "r", scored) == [(0,)]
    assert message in error and len(error) < 300
    with pytest.raises(IncompleteRunError, match="1 request"):
        check_complete(result)


def test_content_as_text_parts_is_read_as_text(tmp_path):
    with fault_server(then="text parts") as server:
        result = run_eval(arithmetic_task({"n": "3"}), [model(server.url)], out=tmp_path / "r", progress=False)
    s = result.models["openai:m"]
    assert (s.errors, s.n_items, s.score) == (0, 3, 1.0)


def test_one_dropped_connection_does_not_stop_the_run(tmp_path):
    task = arithmetic_task({"n": "20"})
    with fault_server(["ok"] * 5 + ["drop"]) as server:
        result = run_eval(task, [model(server.url, max_retries=0)], concurrency=4, out=tmp_path / "a", progress=False)
    s = result.models["openai:m"]
    assert (s.n_items, s.errors, s.not_run, result.fatal) == (19, 1, 0, [])
    assert len(server.seen) == 20
    # With a retry (the default is 4) the dropped request is sent again and answered.
    with fault_server(["ok"] * 5 + ["drop"]) as server:
        result = run_eval(task, [model(server.url, max_retries=1)], concurrency=4, out=tmp_path / "b", progress=False)
    s = result.models["openai:m"]
    assert (s.n_items, s.errors, s.not_run, s.score) == (20, 0, 0, 1.0)


def test_an_endpoint_is_out_only_after_repeated_failures_and_back_after_its_cooldown(tmp_path):
    # A drops the first three requests; B answers each in 20 ms. One request at a
    # time, so each goes to A first (fewest in flight, first listed) while A is in.
    with fault_server(["drop"] * 3) as a, fault_server(then=("slow", 0.02)) as b:
        m = model([a.url, b.url], max_retries=0, down_after=3, cooldown=0.3)
        result = run_eval(arithmetic_task({"n": "40"}), [m], concurrency=1, out=tmp_path / "r", progress=False)
    s = result.models["openai:m"]
    assert (s.n_items, s.errors, s.not_run, s.score) == (40, 0, 0, 1.0)
    # Two failed requests left A in the rotation (each went on to B); the third took it out.
    assert a.seen[:3] == ["drop"] * 3 and b.seen[:3] == [("slow", 0.02)] * 3
    # Out for 0.3 s: B took the requests meanwhile; after that A answered again.
    assert a.count("ok") >= 1 and 3 + 5 <= len(b.seen) < 40
    assert len(a.seen) + len(b.seen) == 43


def test_every_endpoint_down_stops_with_a_resume_hint_and_resumes(tmp_path):
    run_dir = tmp_path / "r"
    common = ["run", "arithmetic", "--param", "n=12", "-m", "openai:m", "--concurrency", "1", "--json"]
    env = {**os.environ, "ASSAY_CACHE_DIR": "off"}
    with fault_server(["ok"] * 3, then="drop") as server:
        proc = subprocess.run(
            [*ASSAY, *common, "--base-url", server.url, "--max-retries", "0", "--out", str(run_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    # Requests 4 and 5 failed and the run went on; the sixth failure in a row took the
    # only endpoint out, and the rest were not sent.
    assert len(server.seen) == 6
    summary = json.loads(proc.stdout)["models"]["openai:m"]
    assert (summary["n_items"], summary["errors"], summary["not_run"]) == (3, 2, 7)
    message = " ".join(proc.stderr.split())
    assert f"cannot reach {server.url}" in message and "3 requests in a row" in message
    assert f"--out {run_dir}" in message and "complete only the rest" in message
    with fault_server() as healthy:
        proc = subprocess.run(
            [*ASSAY, *common, "--base-url", healthy.url, "--out", str(run_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)["models"]["openai:m"]
    assert (summary["n_items"], summary["errors"], summary["model_calls"], summary["score"]) == (12, 0, 9, 1.0)


def test_empty_replies_are_counted_apart_and_with_empty_as_error_retried_then_errors(tmp_path):
    env = {**os.environ, "ASSAY_CACHE_DIR": "off"}

    def run(plan, *flags, out):
        with fault_server(plan) as server:
            proc = subprocess.run(
                [*ASSAY, "run", "arithmetic", "--param", "n=4", "-m", "openai:m", "--base-url", server.url]
                + ["--concurrency", "1", "--max-retries", "1", "--json", "--out", str(tmp_path / out), *flags],
                capture_output=True,
                text=True,
                timeout=120,
                env=env,
            )
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc.returncode, json.loads(proc.stdout)["models"]["openai:m"], server.seen

    # Taken as answers: scored (wrong), counted in `empty`, never retried.
    code, s, seen = run(["empty"] * 2, "--no-empty-as-error", out="answers")
    assert (code, s["empty"], s["errors"], s["n_items"], s["score"]) == (0, 2, 0, 4, 0.5)
    assert len(seen) == 4
    # The default for a chat model: retried; item 1 empty twice is an error, item 2's retry answers.
    code, s, seen = run(["empty"] * 3, out="errors")
    assert (code, s["empty"], s["errors"], s["n_items"], s["score"]) == (2, 1, 1, 3, 1.0)
    assert seen == ["empty"] * 3 + ["ok"] * 3
    # A base model continues a prompt with nothing now and then: an answer unless asked otherwise.
    with fault_server(["empty"]) as server:
        base = get_model("openai-completion:m", base_urls=[server.url], max_retries=1)
        result = run_eval(arithmetic_task({"n": "2"}), [base], out=tmp_path / "base", progress=False, use_cache=False)
    assert (result.models["openai-completion:m"].empty, result.models["openai-completion:m"].errors) == (1, 0)


def test_an_empty_answer_kept_before_is_asked_again_with_empty_as_error(tmp_path):
    task = arithmetic_task({"n": "3"})
    with fault_server(["empty"]) as server:
        first = run_eval(task, [model(server.url, empty_as_error=False)], out=tmp_path / "r", progress=False)
        again = run_eval(task, [model(server.url)], out=tmp_path / "r", progress=False)
    assert first.models["openai:m"].empty == 1
    s = again.models["openai:m"]
    assert (s.model_calls, s.cache_hits, s.empty, s.score) == (1, 2, 0, 1.0)


def test_timeout_is_honoured_by_runs(tmp_path):
    with fault_server([("slow", 10)]) as server:
        started = time.monotonic()
        result = run_eval(
            arithmetic_task({"n": "2"}),
            [get_model("openai:m", base_urls=[server.url], max_retries=0, timeout=0.3)],
            concurrency=1,
            out=tmp_path / "r",
            progress=False,
        )
        elapsed = time.monotonic() - started
    s = result.models["openai:m"]
    assert (s.errors, s.n_items, s.not_run) == (1, 1, 0) and elapsed < 5
    ((error,),) = stored(tmp_path / "r", "SELECT error FROM samples WHERE error IS NOT NULL")
    assert error == f"no reply from {server.url} within 0.3 s (--timeout)"


def test_timeout_is_honoured_by_judges(tmp_path):
    from ..judge.judge_fakes import make_run

    run_dir = make_run(tmp_path / "r", {"a": {"1": "x", "2": "y"}}, {"1": None, "2": None})
    with fault_server([("slow", 10)], answer=lambda prompt: "Rating: 7") as server:
        started = time.monotonic()
        proc = subprocess.run(
            [*ASSAY, "judge", str(run_dir), "--judge", "openai:j", "--protocol", "pointwise"]
            + ["--base-url", server.url, "--timeout", "0.5", "--max-retries", "0", "--no-cache", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        elapsed = time.monotonic() - started
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and elapsed < 9, proc.stderr
    errors = [e for (e,) in stored(run_dir, "SELECT error FROM verdicts WHERE error IS NOT NULL")]
    assert errors == [f"no reply from {server.url} within 0.5 s (--timeout)"]
    assert len(stored(run_dir, "SELECT key FROM verdicts WHERE error IS NULL")) == 1
    with pytest.raises(ConfigError, match="--timeout 0"):
        get_model("openai:j", timeout=0)


def test_timeout_is_honoured_by_the_audits_bias_probes(shared_data):
    from assay.judge.audit import human_pairs_to_labels
    from assay.judge.probes import run_probes

    pairs = human_pairs_to_labels(shared_data / "judge_human_labels" / "llmeval2.json").head(2)
    with fault_server(then=("slow", 10), answer=lambda prompt: "[[A]]") as server:
        started = time.monotonic()
        (position,) = run_probes(
            "openai:j", items=pairs, n=1, probes=("position",), base_urls=[server.url], max_retries=0,
            timeout=0.5, use_cache=False, n_boot=20,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    # The probe's three requests (an identical pair and both orders), each given up after 0.5 s.
    assert position.n_errors == 3 and elapsed < 9
    assert position.first_error == f"no reply from {server.url} within 0.5 s (--timeout)"


def start_and_stop(run_dir, plan, then, signals, env):
    """Run 30 items with four workers against a server answering ``plan`` then
    ``then``; once ten requests have finished, send ``signals`` (in turn, 0.2 s
    apart). Returns the process's exit code, stderr and the seconds it took to stop."""
    common = ["run", "arithmetic", "--param", "n=30", "-m", "openai:m", "--concurrency", "4"]
    with fault_server(plan, then=then) as server:
        process = subprocess.Popen(
            [*ASSAY, *common, "--base-url", server.url, "--out", str(run_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            # Four workers: the 14th request is sent only once ten have finished, so all
            # ten answers are in the run's hands (unflushed for up to half a second).
            deadline = time.monotonic() + 60
            while len(server.seen) < 14 and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.005)
            assert len(server.seen) == 14 and server.answered == 10
            started = time.monotonic()
            for index, signum in enumerate(signals):
                if index:
                    time.sleep(0.2)
                process.send_signal(signum)
            _, err = process.communicate(timeout=30)
            return process.returncode, " ".join(err.split()), time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()


def test_sigterm_finishes_the_requests_in_flight_and_keeps_every_response(tmp_path):
    run_dir, env = tmp_path / "r", {**os.environ, "ASSAY_CACHE_DIR": "off"}
    # Ten quick answers, then answers that take half a second: four are in flight at the signal.
    code, err, _ = start_and_stop(run_dir, ["ok"] * 10, ("slow", 0.5), [signal.SIGTERM], env)
    assert code == 128 + signal.SIGTERM and "Traceback" not in err, err
    assert "stopping: waiting up to 5 s for the 4 request(s) in flight" in err
    # Not one response lost: the ten and the four in flight, none failed, no fifteenth asked.
    assert stored(run_dir, "SELECT COUNT(*), COUNT(error) FROM samples") == [(14, 0)]
    assert f"interrupted by SIGTERM: 14 of the 30 responses this run asks for are stored in {run_dir}" in err
    assert f"run the same command with --out {run_dir} to complete only the rest" in err
    with fault_server() as healthy:
        proc = subprocess.run(
            [*ASSAY, "run", "arithmetic", "--param", "n=30", "-m", "openai:m", "--base-url", healthy.url]
            + ["--out", str(run_dir), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    summary = json.loads(proc.stdout)["models"]["openai:m"]
    assert (summary["n_items"], summary["model_calls"], summary["cache_hits"], summary["score"]) == (30, 16, 14, 1.0)


def test_ctrl_c_twice_stops_at_once_and_says_what_was_kept(tmp_path):
    run_dir, env = tmp_path / "r", {**os.environ, "ASSAY_CACHE_DIR": "off"}
    # The requests after the tenth never answer: the first Ctrl-C waits for them, the second does not.
    code, err, seconds = start_and_stop(run_dir, ["ok"] * 10, "hang", [signal.SIGINT, signal.SIGINT], env)
    assert code == 128 + signal.SIGINT and "Traceback" not in err and seconds < 4, err
    assert "(Ctrl-C again to stop now)" in err
    assert stored(run_dir, "SELECT COUNT(*), COUNT(error) FROM samples") == [(10, 0)]
    assert f"interrupted by Ctrl-C (SIGINT): 10 of the 30 responses this run asks for are stored in {run_dir}" in err
    assert f"run the same command with --out {run_dir} to complete only the rest" in err


def test_a_stopped_run_waits_for_requests_in_flight_only_so_long(tmp_path):
    """In process: SIGTERM while two handlers hang; after ``drain`` seconds they are cancelled."""
    import asyncio

    from assay.errors import Interrupted
    from assay.run.executor import execute
    from assay.run.store import RunStore

    done = []

    async def handle(job, _):
        if job == 0:
            asyncio.get_running_loop().call_later(0.05, signal.raise_signal, signal.SIGTERM)
        if job < 2:
            await asyncio.sleep(60)  # in flight at the signal, and never done
        done.append(job)

    started = time.monotonic()
    with RunStore(None, use_cache=False) as store, pytest.raises(Interrupted) as stopped:
        execute(range(10), handle, store=store, concurrency=2, description="x", progress=False, drain=0.3)
    assert stopped.value.exit_code == 143 and "SIGTERM" in str(stopped.value)
    assert done == [] and 0.3 <= time.monotonic() - started < 5
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the handlers are gone
