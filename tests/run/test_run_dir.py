"""The run directory: one writer at a time (the lock), an atomic config.json,
and a damaged config.json or assay.db named in one clear line."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from assay.errors import ConfigError, DataError
from assay.judge.judging import judge_run
from assay.run import store as store_module
from assay.run.export import export_run
from assay.run.lock import LOCK_NAME, acquire
from assay.run.runner import run_eval, run_writer
from assay.run.store import DB_NAME, RunStore, open_run, read_config, scores_frame, write_config
from assay.tasks.arithmetic import arithmetic_task

from ..judge.judge_fakes import ScriptedJudge
from ..servers import stub_server
from .fakes import ArithmeticFake

ASSAY = [sys.executable, "-m", "assay.cli"]


def task(n=6):
    return arithmetic_task({"digits": "1,2", "n": str(n)})


# ---- the lock, in one process ---------------------------------------------------------------


def test_another_key_fails_at_once_naming_the_holder(tmp_path):
    held = acquire(tmp_path, key="a", description="a run of task A")
    try:
        began = time.monotonic()
        with pytest.raises(ConfigError, match=r"is busy: process \d+ has been writing a run of task A .*--out"):
            acquire(tmp_path, key="b", description="a run of task B", wait=30)
        assert time.monotonic() - began < 5
    finally:
        held.release()
    # Released: the next writer takes it, whatever its key.
    acquire(tmp_path, key="b", description="a run of task B", wait=0).release()


def test_same_key_waits_for_the_holder_and_is_bounded(tmp_path, capsys):
    held = acquire(tmp_path, key="a", description="a run of task A")
    began = time.monotonic()
    with pytest.raises(ConfigError, match=r"did not finish within 0.5 s.*ASSAY_LOCK_WAIT"):
        acquire(tmp_path, key="a", description="a run of task A", wait=0.5)
    assert 0.4 < time.monotonic() - began < 5
    assert "waiting for it to finish" in capsys.readouterr().err
    # Freed while the second waits: the second goes ahead.
    threading.Timer(0.5, held.release).start()
    began = time.monotonic()
    acquire(tmp_path, key="a", description="a run of task A", wait=30).release()
    assert 0.3 < time.monotonic() - began < 10


def test_a_released_lock_leaves_no_description(tmp_path):
    held = acquire(tmp_path, key="a", description="a run of task A")
    assert json.loads((tmp_path / LOCK_NAME).read_text())["key"] == "a"
    held.release()
    assert (tmp_path / LOCK_NAME).read_text() == ""


def test_lock_wait_setting_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_LOCK_WAIT", "soon")
    with pytest.raises(ConfigError, match="ASSAY_LOCK_WAIT='soon'"):
        acquire(tmp_path, key="a", description="x")


def test_a_run_holds_the_lock_and_readers_are_not_blocked(tmp_path):
    out = tmp_path / "r"
    run_eval(task(), [ArithmeticFake()], out=out, progress=False)
    held = acquire(out, key="someone else", description="a run of task other")
    try:
        # Reading is never blocked by a writer.
        assert len(scores_frame(out)) == 12
        export_run(out, tmp_path / "x.csv")
        with pytest.raises(ConfigError, match="is busy"):
            run_eval(task(), [ArithmeticFake()], out=out, progress=False)
    finally:
        held.release()
    again = run_eval(task(), [ArithmeticFake()], out=out, progress=False)
    assert again.models["fake"].model_calls == 0


# ---- two processes into one directory -----------------------------------------------------


def _items(path, prefix, n):
    path.write_text("".join(json.dumps({"input": f"{prefix}{i}", "target": "42"}) + "\n" for i in range(n)))
    return path


def _stats(url, reset=False):
    request = urllib.request.Request(url + ("/reset" if reset else "/stats"), method="POST" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())


def _start(data, url, out, *extra):
    argv = [*ASSAY, "run", str(data), "-m", "openai:stub", "--base-url", url + "/v1", "--out", str(out)]
    return subprocess.Popen(
        [*argv, "--json", "--no-cache", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _both(processes, timeout=300):
    return [(p.wait(timeout=timeout), *p.communicate(timeout=timeout)) for p in processes]


def test_two_tasks_started_into_one_directory_never_mix(tmp_path):
    a, b = _items(tmp_path / "a.jsonl", "a", 200), _items(tmp_path / "b.jsonl", "b", 200)
    with stub_server() as url:
        for trial in range(4):
            out = tmp_path / f"r{trial}"
            runs = _both([_start(a, url, out), _start(b, url, out)])
            codes = sorted(code for code, _, _ in runs)
            assert codes == [0, 2], runs
            loser = next(err for code, _, err in runs if code == 2)
            assert "Traceback" not in loser and ("is busy" in loser or "holds a run of another task" in loser)
            with open_run(out) as store:
                prefixes = {item.input["input"][0] for item in store.items().values()}
                assert len(store.items()) == 200 and len(prefixes) == 1
            winner = next(json.loads(stdout) for code, stdout, _ in runs if code == 0)
            assert winner["models"]["openai:stub"]["n_items"] == 200
            assert read_config(out)["task_name"] == f"{prefixes.pop()}"


def test_two_identical_runs_into_one_directory_pay_once(tmp_path):
    data = _items(tmp_path / "a.jsonl", "q", 300)
    with stub_server() as url:
        for trial in range(2):
            _stats(url, reset=True)
            out = tmp_path / f"r{trial}"
            runs = _both([_start(data, url, out), _start(data, url, out)])
            assert [code for code, _, _ in runs] == [0, 0], runs
            # --no-cache: only the run directory's own samples can spare the second its requests.
            assert _stats(url)["requests"] == 300
            calls = sorted(json.loads(stdout)["models"]["openai:stub"]["model_calls"] for _, stdout, _ in runs)
            assert calls == [0, 300]
            assert any("waiting for it to finish" in err for _, _, err in runs)


def test_cli_run_waits_boundedly_and_export_is_not_blocked(tmp_path):
    out = tmp_path / "r"
    data = _items(tmp_path / "a.jsonl", "q", 20)
    with stub_server() as url:
        assert _start(data, url, out).wait(timeout=300) == 0
        # The same command while this process holds the lock for it: it waits, then says so.
        from assay.tasks.registry import get_task

        same = get_task(str(data))
        writer, _ = run_writer(same, same.config, 0.0, 256, 0)
        held = acquire(out, key=writer, description="a run of task a")
        try:
            began = time.monotonic()
            proc = subprocess.run(
                [*ASSAY, "run", str(data), "-m", "openai:stub", "--base-url", url + "/v1", "--out", str(out)],
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, "ASSAY_LOCK_WAIT": "1"},
            )
            assert proc.returncode == 2 and "did not finish within 1 s" in proc.stderr
            assert "waiting for it to finish" in proc.stderr and time.monotonic() - began >= 1
            exported = subprocess.run(
                [*ASSAY, "export", str(out), "-o", str(tmp_path / "x.csv")], capture_output=True, text=True, timeout=300
            )
            assert exported.returncode == 0, exported.stderr
            assert (tmp_path / "x.csv").read_text().count("\n") == 21
        finally:
            held.release()


# ---- config.json ------------------------------------------------------------------------------


def test_config_is_written_atomically(tmp_path, monkeypatch):
    write_config(tmp_path, {"task": "a"})
    assert read_config(tmp_path) == {"task": "a"}

    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(store_module.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_config(tmp_path, {"task": "b", "long": "x" * 100_000})
    # The old file is whole and no temporary file is left behind.
    assert read_config(tmp_path) == {"task": "a"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_a_truncated_config_is_named_and_readers_go_on(tmp_path, capsys):
    out = tmp_path / "r"
    run_eval(task(), [ArithmeticFake()], out=out, progress=False)
    config = out / "config.json"
    config.write_text(config.read_text()[:40])
    with pytest.raises(DataError, match=r"r/config\.json: damaged, not a JSON object .*mv .*config\.json\.damaged"):
        run_eval(task(), [ArithmeticFake()], out=out, progress=False)
    # Readers: one warning line, then what the store holds.
    frame = scores_frame(out)
    assert len(frame) == 12
    assert "config.json: damaged" in capsys.readouterr().err
    export_run(out, tmp_path / "x.csv")
    # Moved aside as the message says: the same run writes it afresh, from the run's own samples.
    config.rename(tmp_path / "old.json")
    again = run_eval(task(), [ArithmeticFake()], out=out, progress=False)
    assert again.models["fake"].model_calls == 0 and read_config(out, strict=True)["task_name"] == "arithmetic"


def test_cli_readers_go_on_past_a_truncated_config_and_passk_names_it_once(tmp_path):
    out = tmp_path / "r"
    run_eval(task(), [ArithmeticFake(), ArithmeticFake("other", wrong_every=2)], out=out, progress=False)
    config = out / "config.json"
    config.write_text(config.read_text()[:40])
    passk = subprocess.run([*ASSAY, "passk", str(out)], capture_output=True, text=True, timeout=300)
    assert passk.returncode == 2 and "Traceback" not in passk.stderr
    assert passk.stderr.count("\n") == 1 and passk.stderr.startswith(f"error: {config}: damaged")
    # Readers warn once, then work from the store.
    shown = {}
    for argv in (["compare", str(out)], ["report", str(out), "-o", str(tmp_path / "report.html")]):
        proc = subprocess.run([*ASSAY, *argv], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.count(f"warning: {config}: damaged") == 1
        shown[argv[0]] = proc.stdout
    assert "fake - other" in shown["compare"]
    assert "fake" in (tmp_path / "report.html").read_text()
    # Writers stop, naming it: an import into the directory too.
    from assay.judge.pairs import import_pairs

    (tmp_path / "pairs.json").write_text(json.dumps([{"input": "q", "output_1": "a", "output_2": "b", "label": 1}]))
    with pytest.raises(DataError, match=r"r/config\.json: damaged"):
        import_pairs(tmp_path / "pairs.json", out)


def test_a_config_that_is_not_an_object_is_named(tmp_path):
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="not a JSON object"):
        read_config(tmp_path, strict=True)


# ---- assay.db ---------------------------------------------------------------------------------


def _damage(path, how):
    data = path.read_bytes()
    if how == "header":
        path.write_bytes(b"\0" * 100 + data[100:])
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 3])
    else:  # pages overwritten in the middle
        path.write_bytes(data[:4096] + b"\xa5" * (len(data) - 4096))


@pytest.mark.parametrize("how", ["header", "truncated", "middle"])
def test_a_damaged_database_is_named_with_what_to_do(tmp_path, how):
    out = tmp_path / "r"
    run_eval(task(30), [ArithmeticFake()], out=out, progress=False)
    db = out / DB_NAME
    assert not (out / f"{DB_NAME}-wal").exists()  # all in the main file
    _damage(db, how)
    message = r"r/assay\.db: the run's database is damaged \(.*\).*mv .*assay\.db\.damaged"
    with pytest.raises(DataError, match=message):
        scores_frame(out)
    with pytest.raises(DataError, match=message):
        export_run(out, tmp_path / "x.csv")
    with pytest.raises(DataError, match=message):
        run_eval(task(30), [ArithmeticFake()], out=out, progress=False)
    # Moved aside, the same run starts afresh and the shared cache answers every request.
    db.rename(tmp_path / "damaged.db")
    for extra in ("-wal", "-shm"):
        (out / f"{DB_NAME}{extra}").unlink(missing_ok=True)
    again = run_eval(task(30), [ArithmeticFake()], out=out, progress=False)
    assert again.models["fake"].model_calls == 0 and again.models["fake"].n_items == 60


def test_a_damaged_shared_cache_is_named(tmp_path):
    out = tmp_path / "r"
    run_eval(task(), [ArithmeticFake()], out=out, progress=False)
    cache = store_module.cache_path()
    cache.write_bytes(b"\0" * 100 + cache.read_bytes()[100:])
    with pytest.raises(DataError, match=r"responses\.db: the shared response cache is damaged.*--no-cache"):
        run_eval(task(), [ArithmeticFake()], out=tmp_path / "r2", progress=False)
    run_eval(task(), [ArithmeticFake()], out=tmp_path / "r3", progress=False, use_cache=False)


def test_other_database_errors_keep_their_type(tmp_path):
    with RunStore(tmp_path) as store:
        with pytest.raises(sqlite3.OperationalError):
            store.conn.execute("SELECT nothing FROM nowhere")


def test_cli_names_a_damaged_database_in_one_line(tmp_path):
    out = tmp_path / "r"
    run_eval(task(), [ArithmeticFake()], out=out, progress=False)
    _damage(out / DB_NAME, "header")
    for argv in (["export", str(out), "-o", str(tmp_path / "x.csv")], ["passk", str(out)]):
        proc = subprocess.run([*ASSAY, *argv], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert "assay.db: the run's database is damaged" in proc.stderr


def test_an_import_into_a_directory_being_run_fails_at_once(tmp_path):
    from assay.judge.pairs import import_pairs

    pairs = [{"input": f"q{i}", "output_1": f"a{i}", "output_2": f"b{i}", "label": 1 + i % 2} for i in range(4)]
    (tmp_path / "pairs.json").write_text(json.dumps(pairs))
    out = tmp_path / "r"
    held = acquire(out, key="a run", description="a run of task arithmetic")
    try:
        with pytest.raises(ConfigError, match="is busy: .* a run of task arithmetic"):
            import_pairs(tmp_path / "pairs.json", out)
        assert not (out / DB_NAME).exists()
    finally:
        held.release()
    assert import_pairs(tmp_path / "pairs.json", out).n_items == 4


# ---- judges take the same lock ----------------------------------------------------------------


class HeldJudge(ScriptedJudge):
    """Rates 7 once ``go`` is set; ``asked`` is set at its first request."""

    def __init__(self, name="j"):
        super().__init__(name, lambda prompt: "Rating: 7")
        self.asked, self.go = threading.Event(), threading.Event()

    async def generate(self, prompt, params, sample_index):
        self.asked.set()
        await asyncio.to_thread(self.go.wait, 60)
        return await super().generate(prompt, params, sample_index)


class HeldFake(ArithmeticFake):
    """Answers once ``go`` is set; ``asked`` is set at its first request."""

    def __init__(self):
        super().__init__("held")
        self.asked, self.go = threading.Event(), threading.Event()

    async def generate(self, prompt, params, sample_index):
        self.asked.set()
        await asyncio.to_thread(self.go.wait, 60)
        return await super().generate(prompt, params, sample_index)


def _in_thread(function, *args, **kwargs):
    """Start ``function`` in a thread; the returned dict gets its "result" or "error" when it ends."""
    outcome = {}

    def target():
        try:
            outcome["result"] = function(*args, **kwargs)
        except BaseException as exc:  # handed to the test, which asserts on it
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    outcome["thread"] = thread
    return outcome


def test_a_run_into_a_directory_being_judged_is_refused_and_an_identical_judge_waits(tmp_path, capsys):
    out = tmp_path / "r"
    run_eval(task(), [ArithmeticFake()], out=out, progress=False)
    first = HeldJudge()
    judging = _in_thread(judge_run, out, ["j"], protocol="pointwise", models={"j": first}, progress=False)
    try:
        assert first.asked.wait(30)
        # A run into the directory while verdicts are being written: refused at once, naming the judge pass.
        began = time.monotonic()
        with pytest.raises(ConfigError, match=r"is busy: process \d+ has been writing verdicts of the pointwise"):
            run_eval(task(), [ArithmeticFake()], out=out, progress=False)
        assert time.monotonic() - began < 5
        # The same through the command line: exit 2, one line, no traceback, nothing asked of the server.
        with stub_server() as url:
            _stats(url, reset=True)
            proc = subprocess.run(
                [*ASSAY, "run", "arithmetic", "--param", "digits=1,2", "--param", "n=6", "-m", "openai:stub"]
                + ["--base-url", url + "/v1", "--out", str(out), "--no-cache"],
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert _stats(url)["requests"] == 0
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert "verdicts of the pointwise protocol by j" in proc.stderr
        # An identical judge pass waits for the first, then finds its verdicts stored: no request of its own.
        second = ScriptedJudge("j", lambda prompt: "Rating: 7")
        again = _in_thread(judge_run, out, ["j"], protocol="pointwise", models={"j": second}, progress=False)
        time.sleep(1.0)
        assert again["thread"].is_alive() and "waiting for it to finish" in capsys.readouterr().err
    finally:
        first.go.set()
    for outcome in (judging, again):
        outcome["thread"].join(60)
        assert "error" not in outcome, outcome.get("error")
    judged, rejudged = judging["result"].judges["j"], again["result"].judges["j"]
    assert (first.calls, judged.calls, judged.n) == (12, 12, 12)
    assert (second.calls, rejudged.calls, rejudged.cache_hits, rejudged.n) == (0, 0, 12, 12)
    # Judged, the directory takes a run again (its samples are all there).
    assert run_eval(task(), [ArithmeticFake()], out=out, progress=False).models["fake"].model_calls == 0


def test_a_judge_of_a_run_still_writing_is_refused_and_writes_nothing(tmp_path):
    out = tmp_path / "r"
    run_eval(task(), [ArithmeticFake()], out=out, progress=False)
    held = HeldFake()  # another model added to the run: its requests are new
    running = _in_thread(run_eval, task(), [held], out=out, progress=False)
    try:
        assert held.asked.wait(30)
        with pytest.raises(ConfigError, match=r"is busy: process \d+ has been writing a run of task arithmetic"):
            judge_run(out, [], protocol="contains", progress=False)
        proc = subprocess.run(
            [*ASSAY, "judge", str(out), "--protocol", "contains"], capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert "is busy" in proc.stderr and "verdicts of the contains protocol cannot be written" in proc.stderr
        with open_run(out) as store:
            assert len(store.verdicts_frame()) == 0
    finally:
        held.go.set()
    running["thread"].join(60)
    assert "error" not in running, running.get("error")
    judged = judge_run(out, [], protocol="contains", progress=False)
    assert judged.judges["contains"].n == 24  # both models' outputs, all written


def test_a_judge_of_no_run_directory_creates_nothing(tmp_path):
    with pytest.raises(DataError, match="not a run directory"):
        judge_run(tmp_path / "nothing", [], protocol="contains", progress=False)
    assert not (tmp_path / "nothing").exists()


def test_the_audits_self_preference_probe_judges_under_the_lock(tmp_path):
    from assay.judge.probes import run_probes

    out = tmp_path / "r"
    models = [ArithmeticFake("openai:alpha-1"), ArithmeticFake("openai:beta-1", wrong_every=2)]
    run_eval(task(), models, out=out, progress=False)
    judge = ScriptedJudge("j", lambda prompt: "[[A]]", family="alpha")
    held = acquire(out, key="a run", description="a run of task arithmetic")
    try:
        with pytest.raises(ConfigError, match="is busy: .* a run of task arithmetic"):
            run_probes("j", model=judge, run_dir=out, probes=("self_preference",), n=2, n_boot=20)
        assert judge.calls == 0
    finally:
        held.release()
    (probe,) = run_probes("j", model=ScriptedJudge("j", lambda prompt: "[[A]]", family="alpha"), run_dir=out,
                          probes=("self_preference",), n=2, n_boot=20)  # fmt: skip
    assert probe.applicable and probe.detail["own"] == ["openai:alpha-1"]
