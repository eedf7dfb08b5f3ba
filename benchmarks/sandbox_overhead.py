"""Sandbox throughput and per-sample overhead against a bare ``subprocess.run``.

Usage: .venv/bin/python benchmarks/sandbox_overhead.py [--samples 200] [--repeats 40] [--workers 2]

Run it with the interpreter assay runs under (the project venv's): the
sandboxed candidate, the trusted checker and the bare baseline all start this
interpreter (``sys.executable``), so the ratio compares like with like.

Figures for a trivial item (one function, one assertion), each series
interleaved with the others so machine load affects all alike:
* latency of one graded sample (sandboxed candidate + trusted checker), with
  bubblewrap and with the weak fallback, median over repeats, one at a time;
* latency of ``subprocess.run([python, "-I", program.py])`` on the same code
  (``-I`` as the sandbox starts it), the floor any out-of-process scorer pays;
  the ratios are the sandbox's overhead;
* throughput: samples per second through ``score_code_batch`` with N workers;
* HumanEval: seconds to grade the 164 canonical solutions (all must pass);
* memory spread: whether four processes of one sandbox can together touch
  more than its memory limit (4 x 700 MiB against 2 GiB).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assay.records import Item
from assay.tasks import sandbox
from assay.tasks.sandbox import SandboxLimits, run_in_sandbox
from assay.tasks.scorers.code import score_code_batch

PROGRAM = "def add(a, b):\n    return a + b\n\nassert add(2, 3) == 5\n"
ADD = Item(
    id="add",
    input={"prompt": "def add(a, b):\n", "test": "def check(c):\n    assert c(2, 3) == 5\n", "entry_point": "add"},
)
HUMANEVAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "humaneval" / "HumanEval.jsonl.gz"
SPREAD = (
    "import os\n"
    "pids = []\n"
    "for _ in range(4):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        block = bytearray(700 * 1024 * 1024)\n"
    "        for i in range(0, len(block), 4096):\n"
    "            block[i] = 1\n"
    "        import time; time.sleep(1)\n"
    "        os._exit(0)\n"
    "    pids.append(pid)\n"
    "codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]\n"
    "assert codes == [0, 0, 0, 0], codes\n"
)


def bare_latency(repeats: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "program.py")
        with open(path, "w") as f:
            f.write(PROGRAM)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-I", path], check=True, capture_output=True)
            times.append(time.perf_counter() - start)
    return times


def graded_latency(repeats: int, limits: SandboxLimits, weak: bool) -> list[float]:
    mode = sandbox.Isolation("weak", "benchmark") if weak else sandbox.isolation()
    original = sandbox.isolation
    sandbox.isolation = lambda python=None: mode
    try:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            (score,) = score_code_batch([("    return a + b\n", ADD)], workers=1, limits=limits)
            times.append(time.perf_counter() - start)
            if score.value != 1.0:
                raise SystemExit(f"trivial item did not pass: {score.detail}")
    finally:
        sandbox.isolation = original
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    limits = SandboxLimits(timeout=10)

    # Warm the page cache so no series pays first-run costs.
    bare_latency(3)
    graded_latency(3, limits, weak=False)
    graded_latency(3, limits, weak=True)

    bare, boxed, weak = [], [], []
    for _ in range(args.repeats):
        bare += bare_latency(1)
        boxed += graded_latency(1, limits, weak=False)
        weak += graded_latency(1, limits, weak=True)

    start = time.perf_counter()
    scores = score_code_batch([("    return a + b\n", ADD)] * args.samples, workers=args.workers, limits=limits)
    elapsed = time.perf_counter() - start
    assert all(s.value == 1.0 for s in scores)

    humaneval_s = None
    if HUMANEVAL.exists():
        with gzip.open(HUMANEVAL, "rt", encoding="utf-8") as f:
            items = [Item(id=r["task_id"], input=r) for r in map(json.loads, f)]
        start = time.perf_counter()
        he = score_code_batch([(it.input["canonical_solution"], it) for it in items], workers=args.workers)
        humaneval_s = time.perf_counter() - start
        assert sum(s.value for s in he) == len(items)

    spread = run_in_sandbox(SPREAD, limits=SandboxLimits(timeout=60, memory_bytes=2 * 1024**3))
    protections = run_in_sandbox("pass\n", limits=limits).protections
    figures = {
        "samples": args.samples,
        "workers": args.workers,
        "throughput_samples_per_s": args.samples / elapsed,
        "graded_bwrap_median_ms": 1000 * statistics.median(boxed),
        "graded_weak_median_ms": 1000 * statistics.median(weak),
        "bare_subprocess_median_ms": 1000 * statistics.median(bare),
        "overhead_ratio_bwrap": statistics.median(boxed) / statistics.median(bare),
        "overhead_ratio_weak": statistics.median(weak) / statistics.median(bare),
        "humaneval_164_canonical_s": humaneval_s,
        "memory_spread_4x700MiB_vs_2GiB": {"status": spread.status, "reason": spread.reason},
        "protections": protections,
        "user": os.geteuid(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "interpreter": sys.executable,
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
