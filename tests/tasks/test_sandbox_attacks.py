"""Hostile generated code: it may not forge a pass, reach outside the sandbox or outlive assay.

The battery lives in ``hostile_code.py``; it is scored here as the current
user and, where the tests run as root, again as an unprivileged user
(uid 65534 through ``setpriv``), which is how most people run assay.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from assay.tasks import sandbox

from . import hostile_code

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
REPO = Path(__file__).resolve().parents[2]
BWRAP = sandbox.isolation().mode == "bwrap"
needs_bwrap = pytest.mark.skipif(not BWRAP, reason="bubblewrap does not run here (make test installs it)")


def leftovers(harness_pid: int) -> list[int]:
    """Processes of sandboxes or checkers started by the assay process ``harness_pid``."""
    marks = (f'"harness": {harness_pid}'.encode(), f'"parent": {harness_pid}'.encode())
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                state = next(
                    ln for ln in Path(f"/proc/{entry}/status").read_text().splitlines() if ln.startswith("State:")
                )
            except (OSError, StopIteration):
                continue
            if any(m in cmdline for m in marks) and " Z " not in state + " ":
                found.append(int(entry))
    return found


@pytest.fixture
def listener():
    """A TCP server on the host's loopback that no sandbox may reach."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []

    def accept():
        try:
            accepted.append(server.accept()[0])
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()


def assert_contained(results, outside, accepted, victim):
    forged = {n: r for n, r in results.items() if n in hostile_code.forgeries() and r[0] != 0.0}
    assert forged == {}, forged
    escaped = {n: r for n, r in results.items() if n not in hostile_code.forgeries() and r[0] != 1.0}
    assert escaped == {}, escaped  # probes pass only when blocked; "correct" passes
    assert hostile_code.effects(outside) == dict.fromkeys(hostile_code.effects(outside), False)
    assert not accepted
    assert victim.poll() is None, "the candidate killed a process outside the sandbox"
    assert all("sandbox: weak" not in (detail or "") for _, detail in results.values())


@needs_bwrap
def test_hostile_battery_as_this_user(tmp_path, monkeypatch, listener):
    port, accepted = listener
    monkeypatch.setenv("ASSAY_TEST_API_KEY", "sk-do-not-leak")
    outside = tmp_path / "outside"
    hostile_code.make_outside(outside)
    victim = subprocess.Popen(["sleep", "120"])
    try:
        results = hostile_code.score_battery(outside, victim.pid, port)
        assert_contained(results, outside, accepted, victim)
        assert "TypeError" in results["eq always true"][1] and "cannot cross" in results["eq always true"][1]
        assert leftovers(os.getpid()) == []
    finally:
        victim.kill()
        victim.wait()


def unprivileged_python() -> list[str] | None:
    """A command running /usr/bin/python3.11 as uid 65534, or None where that cannot be arranged."""
    python = "/usr/bin/python3.11"
    if not (ROOT and shutil.which("setpriv") and os.path.exists(python)):
        return None
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python]


@needs_bwrap
@pytest.mark.skipif(unprivileged_python() is None, reason="needs root, setpriv and /usr/bin/python3.11")
def test_hostile_battery_as_an_unprivileged_user(listener):
    port, accepted = listener
    outside = Path(tempfile.mkdtemp(prefix="assay-hostile-"))
    os.chmod(outside, 0o777)
    hostile_code.make_outside(outside)
    # The victim runs as the same user as the harness, so only the sandbox protects it.
    victim = subprocess.Popen([*unprivileged_python()[:-1], "sleep", "120"])
    bootstrap = (
        "import runpy, sys\n"
        f"sys.path[:0] = [{str(REPO / 'src')!r}]\n"
        f"runpy.run_path({str(Path(hostile_code.__file__))!r}, run_name='__main__')\n"
    )
    try:
        done = subprocess.run(
            [*unprivileged_python(), "-c", bootstrap, str(outside), str(victim.pid), str(port)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd="/tmp",
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": "/tmp",
                "ASSAY_TEST_API_KEY": "sk-do-not-leak",
            },
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results = json.loads(done.stdout)
        assert_contained(results, outside, accepted, victim)
    finally:
        victim.kill()
        victim.wait()
        shutil.rmtree(outside, ignore_errors=True)


@needs_bwrap
def test_no_sandbox_process_outlives_a_killed_assay(tmp_path):
    """kill -9 of the scoring process takes its checker and the whole sandbox with it."""
    daemons = (
        "import os, time\n"
        "for _ in range(3):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        time.sleep(600)\n"
        "time.sleep(600)\n"
        "def add(a, b):\n    return a + b\n"
    )
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(REPO / 'src')!r})\n"
        "from assay.records import Item\n"
        "from assay.tasks.scorers.code import code\n"
        f"item = Item(id='add', input={{'prompt': {hostile_code.ADD_PROMPT!r}, 'test': {hostile_code.ADD_TEST!r},"
        " 'entry_point': 'add'})\n"
        f"code({hostile_code.fenced(daemons)!r}, item)\n"
    )
    harness = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        # The candidate's three daemons, its server process and the checker.
        while len(leftovers(harness.pid)) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(leftovers(harness.pid)) >= 5
    finally:
        harness.send_signal(signal.SIGKILL)
        harness.wait()
    deadline = time.monotonic() + 10
    while leftovers(harness.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers(harness.pid) == []


@needs_bwrap
def test_memory_and_processes_are_limited_for_the_whole_sandbox():
    """Several processes together may not exceed the memory limit; a fork bomb stops at the process limit."""
    limits = sandbox.SandboxLimits(timeout=20, memory_bytes=256 * 1024**2, max_processes=8)
    probe = sandbox.run_in_sandbox("pass\n", limits=limits)
    if "cgroup-memory" not in probe.protections:
        pytest.skip("no cgroup can be made here: memory is limited per process only (see docs/security.md)")
    # Four children each touching 150 MiB: 600 MiB in all against a 256 MiB limit.
    spread = (
        "import os\n"
        "pids = []\n"
        "for _ in range(4):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        block = bytearray(150 * 1024 * 1024)\n"
        "        for i in range(0, len(block), 4096):\n"
        "            block[i] = 1\n"
        "        import time; time.sleep(1)\n"
        "        os._exit(0)\n"
        "    pids.append(pid)\n"
        "codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]\n"
        "assert codes == [0, 0, 0, 0], codes\n"
    )
    bomb = "import os\nwhile True:\n    os.fork()\n"
    spread_result, bomb_result = sandbox.run_many_in_sandbox([spread, bomb], workers=2, limits=limits)
    assert not spread_result.passed, spread_result
    assert not bomb_result.passed
    assert "process limit reached (8 processes)" in bomb_result.reason, bomb_result.reason
    assert leftovers(os.getpid()) == []


@pytest.mark.parametrize("weak", [False, True])
def test_the_candidate_cannot_read_the_tests(monkeypatch, weak):
    """Reading the item's tests would give the expected answers away."""
    if weak:
        if not ROOT:
            pytest.skip("the weak fallback hides nothing from code running as the same user")
        monkeypatch.setattr(sandbox, "isolation", lambda python=None: sandbox.Isolation("weak", "test"))
    elif not BWRAP:
        pytest.skip("bubblewrap does not run here")
    snoop = (
        "import glob, os\n"
        "def add(a, b):\n"
        "    for path in glob.glob('/tmp/assay-sandbox-*/spec.json') + glob.glob('../spec.json'):\n"
        "        try:\n"
        "            return open(path).read()\n"
        "        except OSError:\n"
        "            pass\n"
        "    return 'not found'\n"
    )
    item_test = "def check(candidate):\n    assert candidate(2, 3) == 'not found', candidate(2, 3)[:40]\n"
    result = sandbox.check_in_sandbox(snoop, test=item_test, entry_point="add")
    assert result.passed, result.reason
