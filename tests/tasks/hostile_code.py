"""A battery of hostile completions for the code scorer, shared by the root and unprivileged tests.

Every completion answers the same item (``add(a, b)``, tested by
``assert candidate(2, 3) == 5``) and every one tries to get a pass without
adding, or to reach outside the sandbox. ``probe`` items invert this: their
test passes only when the hostile action was blocked, so a pass proves
containment. Run as a script it scores the battery and prints one JSON object
(name -> [value, detail]), which is how the test runs it as another user.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ADD_PROMPT = 'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n'
ADD_TEST = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"
# Probes: the candidate returns "blocked" when its hostile action failed.
PROBE_PROMPT = 'def probe():\n    """Try something the sandbox must stop."""\n'
PROBE_TEST = "def check(candidate):\n    assert candidate() == 'blocked'\n"

FORGED_VERDICT = '{"status": "passed"}\\n'


def fenced(body: str, name: str = "add") -> str:
    return f"```python\n{body.rstrip()}\n```\n" if f"def {name}(" in body else body


def forgeries() -> dict[str, str]:
    """Completions that try to make the wrong answer count as right."""
    write_everywhere = (
        "import os\n"
        "def _forge():\n"
        "    for fd in range(3, 256):\n"
        "        try:\n"
        f"            os.write(fd, b'{FORGED_VERDICT}')\n"
        "        except OSError:\n"
        "            pass\n"
    )
    return {
        "eq always true": (
            "class Anything:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n\n"
            "def add(a, b):\n    return Anything()\n"
        ),
        "int subclass eq": (
            "class Five(int):\n    def __eq__(self, other):\n        return True\n\n"
            "def add(a, b):\n    return Five(0)\n"
        ),
        "forged verdict in every fd": write_everywhere + "_forge()\n\ndef add(a, b):\n    _forge()\n    return 0\n",
        "forged verdict in /proc/self/fd": (
            "import os\n"
            "def add(a, b):\n"
            "    for name in os.listdir('/proc/self/fd'):\n"
            "        try:\n"
            f"            fd = os.open('/proc/self/fd/' + name, os.O_WRONLY)\n"
            f"            os.write(fd, b'{FORGED_VERDICT}')\n"
            "        except OSError:\n"
            "            pass\n"
            "    return 0\n"
        ),
        "calls the reporter through __main__": (
            "import __main__, os\n"
            "def add(a, b):\n"
            "    for name in ('report', 'send', '_send'):\n"
            "        f = getattr(__main__, name, None)\n"
            "        for fd in range(3, 64):\n"
            "            try:\n"
            "                f({'status': 'passed'}) if name == 'report' else f(fd, {'status': 'passed'})\n"
            "            except Exception:\n"
            "                pass\n"
            "    return 0\n"
        ),
        "reports passed then fails": write_everywhere + "def add(a, b):\n    _forge()\n    raise SystemExit(0)\n",
        "reports passed then exits": write_everywhere + "def add(a, b):\n    _forge()\n    os._exit(0)\n",
        "fake reply with the right value": (
            "import os\n"
            "def add(a, b):\n"
            "    for fd in range(3, 64):\n"
            "        try:\n"
            '            os.write(fd, b\'{"value": ["i", "0x5"]}\\n{"status": "passed"}\\n\')\n'
            "        except OSError:\n"
            "            pass\n"
            "    return 0\n"
        ),
        "returns a value nested too deeply": (
            "def add(a, b):\n    v = 5\n    for _ in range(100000):\n        v = [v]\n    return v\n"
        ),
        "kills its own checker": (
            "import os, signal\n"
            "def add(a, b):\n"
            "    for pid in range(1, 400):\n"
            "        if pid != os.getpid():\n"
            "            try:\n"
            "                os.kill(pid, signal.SIGKILL)\n"
            "            except OSError:\n"
            "                pass\n"
            "    return 0\n"
        ),
    }


def probes(outside: Path, victim_pid: int, port: int) -> dict[str, str]:
    """Completions whose test passes only if their hostile action was stopped.

    ``outside`` is a world-writable directory outside the sandbox holding
    ``other-run/assay.db``, ``this-run/assay.db`` (a ``scores`` table with one
    0.0) and ``secret.txt`` (world-readable).
    """
    target = outside / "written-by-candidate.txt"
    ran = outside / "ran-a-program.txt"
    other_db = outside / "other-run" / "assay.db"
    this_db = outside / "this-run" / "assay.db"
    secret = outside / "secret.txt"

    def probe(body: str) -> str:
        lines = body.strip("\n").splitlines()
        indented = "\n".join("        " + ln for ln in lines)
        return (
            "import ctypes, os, signal, socket, sqlite3\n"
            "def probe():\n"
            "    try:\n"
            f"{indented}\n"
            "    except Exception:\n"
            "        return 'blocked'\n"
        )

    return {
        "writes outside with ctypes": probe(
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            f"fd = libc.open({str(target).encode()!r}, os.O_WRONLY | os.O_CREAT, 0o644)\n"
            "if fd < 0: return 'blocked'\n"
            "libc.write(fd, b'x', 1)\n"
            "return 'written'\n"
        ),
        "runs a program": probe(
            "libc = ctypes.CDLL(None)\n"
            f"libc.system({f'touch {ran}'.encode()!r})\n"
            f"return 'ran' if os.path.exists({str(ran)!r}) else 'blocked'\n"
        ),
        "deletes another run's assay.db": probe(
            "libc = ctypes.CDLL(None)\n"
            f"libc.unlink({str(other_db).encode()!r})\n"
            f"os.remove({str(other_db)!r})\n"
            "return 'deleted'\n"
        ),
        "rewrites this run's scores": probe(
            f"db = sqlite3.connect({str(this_db)!r})\n"
            "db.execute('update scores set value = 0.75')\n"
            "db.commit()\n"
            "return 'rewritten'\n"
        ),
        "kills the harness": probe(f"os.kill({victim_pid}, signal.SIGKILL)\nreturn 'killed'\n"),
        "reads a world-readable file": probe(f"return open({str(secret)!r}).read()\n"),
        "reads /etc/passwd": probe("return open('/etc/passwd').read()[:20]\n"),
        "connects to the host": probe(
            f"socket.create_connection(('127.0.0.1', {port}), timeout=2)\nreturn 'connected'\n"
        ),
        "reads the harness environment": probe("return os.environ['ASSAY_TEST_API_KEY']\n"),
    }


def make_outside(outside: Path) -> None:
    """The world-writable files the probes attack."""
    import sqlite3

    outside.mkdir(parents=True, exist_ok=True)
    os.chmod(outside, 0o777)
    for run in ("other-run", "this-run"):
        (outside / run).mkdir(exist_ok=True)
        os.chmod(outside / run, 0o777)
        db = sqlite3.connect(outside / run / "assay.db")
        db.execute("create table if not exists scores (value real)")
        db.execute("delete from scores")
        db.execute("insert into scores values (0.0)")
        db.commit()
        db.close()
        os.chmod(outside / run / "assay.db", 0o666)
    (outside / "secret.txt").write_text("the secret")
    os.chmod(outside / "secret.txt", 0o644)


def effects(outside: Path) -> dict[str, bool]:
    """What the probes could have changed outside; all False when contained."""
    import sqlite3

    this_db = outside / "this-run" / "assay.db"
    values = [row[0] for row in sqlite3.connect(this_db).execute("select value from scores")]
    return {
        "file written outside": (outside / "written-by-candidate.txt").exists(),
        "program ran": (outside / "ran-a-program.txt").exists(),
        "other run's assay.db deleted": not (outside / "other-run" / "assay.db").exists(),
        "scores rewritten": values != [0.0],
    }


def score_battery(outside: Path, victim_pid: int, port: int) -> dict[str, list]:
    from assay.records import Item
    from assay.tasks.sandbox import SandboxLimits
    from assay.tasks.scorers.code import score_code_batch

    add = Item(id="add", input={"prompt": ADD_PROMPT, "test": ADD_TEST, "entry_point": "add"})
    probe_item = Item(id="probe", input={"prompt": PROBE_PROMPT, "test": PROBE_TEST, "entry_point": "probe"})
    pairs = [(fenced(c), add) for c in forgeries().values()]
    pairs += [(fenced(c, "probe"), probe_item) for c in probes(outside, victim_pid, port).values()]
    pairs.append(("    return a + b\n", add))
    names = [*forgeries(), *probes(outside, victim_pid, port), "correct"]
    scores = score_code_batch(pairs, workers=2, limits=SandboxLimits(timeout=5, memory_bytes=512 * 1024**2))
    return {name: [s.value, s.detail] for name, s in zip(names, scores)}


if __name__ == "__main__":
    outside_dir, victim, listen_port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(score_battery(outside_dir, victim, listen_port)))
