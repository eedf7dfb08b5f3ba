"""Time to a fitted law on a large long-format table, this checkout against another.

``assay scale fit TABLE --pivot task,metric --law sigmoid ...`` end to end
(interpreter start, imports, reading, pivoting, fitting) as a user runs it,
from this checkout's ``src`` and from another checkout's (``--before DIR``),
interleaved round by round; the median of the rounds per arm, and their ratio.

    git worktree add --detach ../before 2f7d9e3
    .venv/bin/python benchmarks/scaling_table_load.py --before ../before --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO.parent / "shared" / "data" / "pythia_opt_bloom_evals.csv"
COMMAND = ["scale", "fit", "--pivot", "task,metric", "--law", "sigmoid", "--x", "params", "--y", "piqa/acc", "--json"]


def timed(src: Path, table: Path) -> tuple[float, dict]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "assay.cli", COMMAND[0], COMMAND[1], str(table), *COMMAND[2:]],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{src} failed ({done.returncode}): {done.stderr[-800:]}")
    return seconds, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout (its src is timed beside this one)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--table", type=Path, default=TABLE)
    args = parser.parse_args()
    arms = {"now": REPO / "src"}
    if args.before is not None:
        arms["before"] = args.before.resolve() / "src"
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    fits = {}
    for round_ in range(args.rounds):
        order = list(arms) if round_ % 2 == 0 else list(reversed(arms))
        for arm in order:
            seconds, fits[arm] = timed(arms[arm], args.table)
            times[arm].append(seconds)
            print(f"round {round_ + 1} {arm}: {seconds:.2f} s", file=sys.stderr)
    if "before" in fits:
        # The same law from the same rows, or the comparison means nothing.
        same = all(abs(fits["now"]["params"][k] - fits["before"]["params"][k]) < 1e-9 for k in fits["now"]["params"])
        print(f"same fitted parameters: {same}")
    for arm, values in times.items():
        print(f"{arm}: median {statistics.median(values):.2f} s (range {min(values):.2f}-{max(values):.2f})")
    if "before" in times:
        print(f"before / now: {statistics.median(times['before']) / statistics.median(times['now']):.1f}x")


if __name__ == "__main__":
    main()
