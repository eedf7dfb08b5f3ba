"""The harness overhead of one code version against another, side by side.

Three arms against one instant stub server (as benchmarks/peers/compare.py),
interleaved round by round with the order rotated: the bare ``openai`` loop,
``assay run`` from this checkout, and ``assay run`` from another checkout's
``src`` (``--before DIR``, e.g. a worktree of the commit before a refactor),
each on the same 1,000 chat items with a fresh run directory and no cache.

    git worktree add --detach ../before d7d8f21
    .venv/bin/python benchmarks/executor_overhead.py --before ../before --items 1000 --rounds 5

``--small N`` also runs every arm on N items of the same kind in each round,
and splits each arm's time into a per-item part, (T(items) - T(N)) / (items -
N), the request path itself (what an executor changes), and the start-up
(imports, option parsing, provenance), which is T(N) less N per-item parts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "peers"))

from compare import REPO, StubServer, arm_command, write_items  # noqa: E402


def run_arm(arm: str, items: Path, n: int, server: StubServer, out: Path, workdir: Path, before: Path) -> float:
    argv, cwd, env = arm_command("bare" if arm == "bare" else "assay", items, n, server, out, workdir)
    if arm != "bare":
        argv = [sys.executable, "-m", "assay.cli", *argv[argv.index("run") :]]
        env["PYTHONPATH"] = str((before if arm == "before" else REPO) / "src")
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{arm} failed ({done.returncode}): {done.stderr[-800:]}")
    if arm != "bare":
        summary = json.loads(done.stdout)["models"]["openai:stub"]
        assert summary["n_items"] == n and summary["model_calls"] == n, summary
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code to compare against")
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--small", type=int, default=0, help="also time N items, to split fixed from per-item cost")
    args = parser.parse_args()
    if not 0 <= args.small < args.items:
        parser.error(f"--small {args.small}: give 0 (off) or fewer items than --items {args.items}")
    arms = ["bare", "before", "after"]
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    small: dict[str, list[float]] = {arm: [] for arm in arms}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        items = write_items(workdir / "items.jsonl", args.items)
        few = write_items(workdir / "few.jsonl", args.small) if args.small else None
        server = StubServer(workdir)
        try:
            for round_index in range(args.rounds):
                order = arms[round_index % 3 :] + arms[: round_index % 3]
                for arm in order:
                    out = workdir / "out" / f"{arm}-{round_index}"
                    times[arm].append(run_arm(arm, items, args.items, server, out, workdir, args.before))
                    if few is not None:
                        out = workdir / "out" / f"{arm}-{round_index}-small"
                        small[arm].append(run_arm(arm, few, args.small, server, out, workdir, args.before))
                print(f"round {round_index + 1}: " + ", ".join(f"{a} {times[a][-1]:.2f} s" for a in arms), flush=True)
        finally:
            server.stop()
    for arm in arms:
        print(
            f"{arm}: median {statistics.median(times[arm]):.2f} s (range {min(times[arm]):.2f}-{max(times[arm]):.2f})"
        )
    for arm in ("before", "after"):
        ratios = [t / b for t, b in zip(times[arm], times["bare"])]
        print(
            f"{arm} / bare per round: {', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})"
        )
    ratios = [a / b for a, b in zip(times["after"], times["before"])]
    print(f"after / before per round: {', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})")
    if args.small:
        for arm in arms:
            fixed = statistics.median(small[arm])
            per_item = [(t - s) / (args.items - args.small) * 1000 for t, s in zip(times[arm], small[arm])]
            print(
                f"{arm}: {args.small} items median {fixed:.2f} s; per item {statistics.median(per_item):.3f} ms "
                f"(range {min(per_item):.3f}-{max(per_item):.3f})"
            )
        per = {
            arm: [(t - s) / (args.items - args.small) for t, s in zip(times[arm], small[arm])]
            for arm in ("before", "after")
        }
        ratios = [a / b for a, b in zip(per["after"], per["before"])]
        print(
            f"per-item after / before: median {statistics.median(ratios):.2f} ({', '.join(f'{r:.2f}' for r in ratios)})"
        )


if __name__ == "__main__":
    main()
