import os
import socket
import threading

import pytest

from assay.errors import ConfigError
from assay.tasks import sandbox
from assay.tasks.sandbox import SandboxLimits, run_in_sandbox, run_many_in_sandbox

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
BWRAP = sandbox.isolation().mode == "bwrap"
FAST = SandboxLimits(timeout=3, memory_bytes=512 * 1024**2, max_processes=16)


def sandbox_uids_alive():
    """Processes still running under a sandbox uid (root setup only)."""
    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    uid = next(int(ln.split()[1]) for ln in f if ln.startswith("Uid:"))
            except (OSError, StopIteration):
                continue
            if sandbox._UID_BASE <= uid < sandbox._UID_BASE + sandbox._UID_SPAN:
                alive.append(int(entry))
    return alive


@pytest.fixture
def listener():
    """A TCP server on the harness's loopback that the sandbox must not reach."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []

    def accept():
        try:
            conn, _ = server.accept()
            accepted.append(conn)
        except OSError:
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    server.close()


def test_hostile_programs_fail_with_reasons_and_the_harness_goes_on(tmp_path, monkeypatch, listener):
    port, accepted = listener
    monkeypatch.setenv("ASSAY_TEST_API_KEY", "sk-do-not-leak")
    outside = tmp_path / "escaped.txt"
    programs = {
        "loop": "while True:\n    pass\n",
        "memory": "hog = []\nwhile True:\n    hog.append(bytearray(50 * 1024 * 1024))\n",
        "socket": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n",
        "secret": "import os\nkey = os.environ['ASSAY_TEST_API_KEY']\n",
        "write": f"open({str(outside)!r}, 'w').write('x')\n",
        "early exit": "import os\nos._exit(0)\n",
        "wrong": "assert 1 + 1 == 3, 'arithmetic'\n",
        "fine": "import math\nassert math.isclose(sum([0.1] * 10), 1.0)\nprint('ok')\n",
    }
    results = dict(zip(programs, run_many_in_sandbox(list(programs.values()), workers=2, limits=FAST)))
    assert results["loop"].status == "timeout" and "timeout" in results["loop"].reason
    assert "rlimits" in results["loop"].protections
    assert not results["memory"].passed and "memory limit" in results["memory"].reason
    assert not results["socket"].passed and not accepted
    assert results["secret"].status == "failed" and "KeyError" in results["secret"].reason
    assert results["write"].status == "failed" and not outside.exists()
    assert results["early exit"].status == "crashed" and "before the tests finished" in results["early exit"].reason
    assert results["wrong"].reason == "AssertionError: arithmetic"
    assert results["fine"].passed and results["fine"].stdout == "ok\n" and results["fine"].reason is None
    assert {"rlimits", "checker-verdict"} <= set(results["fine"].protections)
    if BWRAP:
        assert results["fine"].isolation == "bwrap"
        assert {"pid-namespace", "network-namespace", "read-only-system", "private-tmpfs"} <= set(
            results["fine"].protections
        )
    if ROOT:
        assert sandbox_uids_alive() == []


def test_fork_bomb_is_contained():
    limits = SandboxLimits(timeout=3, max_processes=8)
    bomb = "import os\nwhile True:\n    os.fork()\n"
    # Children that leave the process group are still swept up.
    daemons = (
        "import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        os.setsid()\n        time.sleep(60)\n"
    )
    bombed, after_bomb = run_many_in_sandbox([bomb, daemons], workers=2, limits=limits)
    if sandbox.isolation().mode == "weak" and not ROOT:
        pytest.skip("without bubblewrap or root, RLIMIT_NPROC counts all of the user's processes")
    assert bombed.status == "failed" and "process limit reached (8 processes)" in bombed.reason
    assert after_bomb.passed
    if ROOT:
        assert sandbox_uids_alive() == []  # nothing left running, not even zombies


@pytest.mark.skipif(not BWRAP, reason="bubblewrap does not run here")
def test_only_the_private_tmpfs_is_writable(tmp_path):
    target = tmp_path / "via_ctypes.txt"
    program = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"fd = libc.open({str(target).encode()!r}, os.O_WRONLY | os.O_CREAT, 0o644)\n"
        "assert fd < 0, 'opened a file outside the sandbox'\n"
        "for path in ('/usr/evil', '/evil'):\n"
        "    assert libc.open(path.encode(), os.O_WRONLY | os.O_CREAT, 0o644) < 0, path\n"
        "open('inside.txt', 'w').write('fine')\n"
        "assert open('/tmp/inside.txt').read() == 'fine'\n"
        "assert sorted(os.listdir('/proc'))[:1] and len([p for p in os.listdir('/proc') if p.isdigit()]) <= 3\n"
    )
    result = run_in_sandbox(program, limits=FAST)
    assert result.passed, result.reason
    assert not target.exists()
    # The tmpfs is capped at the file-size limit: the sandbox cannot fill the host's disk.
    big = "open('big', 'wb').write(b'x' * (8 * 1024 * 1024))\n"
    capped = run_in_sandbox(big, limits=SandboxLimits(timeout=5, file_size_bytes=4 * 1024**2))
    assert not capped.passed


def test_weak_fallback_is_labelled_and_still_guards(tmp_path, monkeypatch, listener):
    """Where bubblewrap cannot run, the older mechanism still holds against careless code."""
    port, accepted = listener
    monkeypatch.setattr(sandbox, "isolation", lambda python=None: sandbox.Isolation("weak", "test"))
    monkeypatch.setenv("ASSAY_TEST_API_KEY", "sk-do-not-leak")
    outside = tmp_path / "escaped.txt"
    programs = [
        f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n",
        f"import pathlib\npathlib.Path({str(outside)!r}).write_text('x')\n",
        "import os\nassert 'ASSAY_TEST_API_KEY' in os.environ, 'no key'\n",
        "import subprocess\nsubprocess.run(['true'])\n",
        "while True:\n    pass\n",
        "print('ok')\n",
    ]
    sock, write, secret, spawn, loop, fine = run_many_in_sandbox(programs, workers=2, limits=FAST)
    assert not sock.passed and not accepted
    assert not write.passed and not outside.exists()
    assert secret.reason == "AssertionError: no key"
    assert not spawn.passed
    assert loop.status == "timeout"
    assert fine.passed and fine.isolation == "weak" and "weak" in fine.protections


def test_results_keep_input_order_and_limits_are_checked():
    programs = [f"import time\ntime.sleep({0.3 - i * 0.1:.1f})\nassert {i} != 1\n" for i in range(3)]
    results = run_many_in_sandbox(programs, workers=2, limits=FAST)
    assert [r.status for r in results] == ["passed", "failed", "passed"]
    assert results[1].to_dict()["status"] == "failed" and "failed" in results[1].render()
    assert run_many_in_sandbox([], workers=2) == []
    with pytest.raises(ConfigError, match="workers"):
        run_many_in_sandbox(["pass"], workers=0)
    with pytest.raises(ConfigError, match="timeout"):
        SandboxLimits(timeout=0)
    with pytest.raises(ConfigError, match="max_processes"):
        SandboxLimits(max_processes=0)


def test_bubblewrap_unavailable_is_said_once(monkeypatch, capsys):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    monkeypatch.setattr(sandbox, "_WARNED", set())
    sandbox.isolation.cache_clear()
    try:
        first = sandbox.isolation("/no/such/python")
        second = sandbox.isolation("/another/python")
    finally:
        sandbox.isolation.cache_clear()
    assert first.mode == second.mode == "weak" and "bubblewrap" in first.reason
    assert capsys.readouterr().err.count("sandbox: weak") == 1
