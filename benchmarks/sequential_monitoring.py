"""Sequential comparisons: error rate under continuous monitoring, and items saved, against a peeking t-test.

1. Exact null (each item's two scores swapped with probability 1/2, shared item
   difficulty): the share of replays whose interval ever excludes 0 when looked
   at after every item, for the betting confidence sequence and for a paired
   t-test recomputed after every item from the 10th.
2. Clear and small differences on a 2,000-item benchmark: how often the
   sequence decides, whether it agrees with the full paired test, and the
   items it needs.

Run (seeded; prints the Markdown tables used in docs/statistics.md):

    PYTHONPATH=src python3 benchmarks/sequential_monitoring.py
"""

from __future__ import annotations

import time

import numpy as np

from assay.stats.paired import paired_diff
from assay.stats.sequential import GRID_POINTS, betting_bounds, naive_t_bounds, sequential_test

ALPHA = 0.05


def paired_binary(reps, n, acc_a, acc_b, rng):
    """Binary scores of two models sharing item difficulty (so their scores correlate).

    An item is right when 0.5 * difficulty + 0.5 * noise is below the model's threshold (not its accuracy).
    """
    difficulty = rng.random((reps, n))
    a = (difficulty * 0.5 + rng.random((reps, n)) * 0.5 < acc_a).astype(float)
    b = (difficulty * 0.5 + rng.random((reps, n)) * 0.5 < acc_b).astype(float)
    return a, b


def null_table(reps=1000, n=1000, seed=2026):
    rng = np.random.default_rng(seed)
    rows = []
    for label, (acc_a, acc_b) in {
        "binary, thresholds 0.7 / 0.5": (0.7, 0.5),
        "binary, thresholds 0.55 / 0.5": (0.55, 0.5),
    }.items():
        a, b = paired_binary(reps, n, acc_a, acc_b, rng)
        swap = rng.random((reps, n)) < 0.5
        d = np.where(swap, b - a, a - b)
        start = time.perf_counter()
        low, high = betting_bounds(d, alpha=ALPHA, grid_points=GRID_POINTS)
        seconds = time.perf_counter() - start
        cs_every = np.mean(((low > 0) | (high < 0)).any(axis=1))
        cs_batch = np.mean(((low[:, 49::50] > 0) | (high[:, 49::50] < 0)).any(axis=1))
        t_low, t_high = naive_t_bounds(d, alpha=ALPHA, min_n=10)
        t_every = np.mean(((t_low > 0) | (t_high < 0)).any(axis=1))
        t_batch = np.mean(((t_low[:, 49::50] > 0) | (t_high[:, 49::50] < 0)).any(axis=1))
        t_end = np.mean((t_low[:, -1] > 0) | (t_high[:, -1] < 0))
        rows.append((label, cs_every, cs_batch, t_every, t_batch, t_end, seconds / reps))
    mc = np.sqrt(ALPHA * (1 - ALPHA) / reps)
    print(f"Exact null, {reps} replays of {n} items, alpha {ALPHA} (Monte Carlo SE at 0.05: {mc:.3f})\n")
    print(
        "| scores | CS, every item | CS, every 50 | t-test, every item from 10 | t-test, every 50 | "
        "t-test, once at n | CS time per replay |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, cs_every, cs_batch, t_every, t_batch, t_end, per in rows:
        print(
            f"| {label} | {cs_every:.3f} | {cs_batch:.3f} | {t_every:.3f} | {t_batch:.3f} | {t_end:.3f} | "
            f"{per * 1000:.0f} ms |"
        )


def alternative_table(reps=200, n=2000, seed=7):
    rng = np.random.default_rng(seed)
    print(f"\nDifferences, {reps} replays of a {n}-item benchmark, alpha {ALPHA}, looked at after every item\n")
    print(
        "| thresholds a / b | mean diff | full test significant | CS decides | same direction as full test "
        "| items used (median) | items used (90th pct) |"
    )
    print("|---|---|---|---|---|---|---|")
    for acc_a, acc_b in ((0.75, 0.55), (0.65, 0.55), (0.6, 0.55), (0.55, 0.55)):
        a, b = paired_binary(reps, n, acc_a, acc_b, rng)
        true_diff = np.mean(a - b)
        full_sig, decided, agree, used = 0, 0, 0, []
        for r in range(reps):
            full = paired_diff(a[r], b[r])
            seq = sequential_test(a[r], b[r], alpha=ALPHA)
            full_sig += full.p_value < ALPHA
            if seq.decision != "none":
                decided += 1
                agree += (seq.decision == "a") == (full.diff > 0)
                used.append(seq.n_used)
        used_text = (
            (f"{np.median(used):.0f} ({np.median(used) / n:.0%})", f"{np.quantile(used, 0.9):.0f}")
            if used
            else ("-", "-")
        )
        print(
            f"| {acc_a} / {acc_b} | {true_diff:+.3f} | {full_sig / reps:.2f} | {decided / reps:.2f} | "
            f"{agree}/{decided} | {used_text[0]} | {used_text[1]} |"
        )


if __name__ == "__main__":
    import argparse

    # No options: seeded, it prints the tables the docs quote.
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    null_table()
    alternative_table()
