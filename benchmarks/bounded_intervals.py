"""Coverage of 95% intervals for a mean rating on 1..10: ``bounded_mean_ci``
against Student's t, by simulation with known true means.

Each design is a distribution of ratings and a number of items n; each
trial draws n ratings and asks whether each interval contains the true mean,
and whether the t interval leaves the scale. Run:

    PYTHONPATH=src python3 benchmarks/bounded_intervals.py

and it prints the Markdown table used in docs/statistics.md.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from assay.stats.intervals import bounded_mean_ci

DESIGNS = (
    ({10: 0.6, 9: 0.3, 8: 0.1}, 8),
    ({10: 0.6, 9: 0.3, 8: 0.1}, 4),
    ({10: 0.9, 1: 0.1}, 10),
    ({10: 0.95, 9: 0.05}, 20),
    ({5: 0.2, 6: 0.3, 7: 0.3, 8: 0.2}, 5),
    ({10: 0.5, 1: 0.5}, 30),
    ({1: 0.5, 2: 0.3, 10: 0.2}, 6),
)
TRIALS = 4000


def simulate(probs: dict[int, float], n: int, rng: np.random.Generator) -> tuple[float, float, float, float, float]:
    """(bounded coverage, bounded mean width, t coverage, t mean width, share of t intervals off the scale)."""
    values, weights = np.array(list(probs), float), np.array(list(probs.values()))
    truth = float(values @ weights)
    q = stats.t.ppf(0.975, n - 1)
    b_cover = b_width = t_cover = t_width = off = 0.0
    for _ in range(TRIALS):
        x = rng.choice(values, n, p=weights)
        ci = bounded_mean_ci(x, 1, 10)
        b_cover += ci.low <= truth <= ci.high
        b_width += ci.high - ci.low
        half = q * x.std(ddof=1) / np.sqrt(n)
        low, high = x.mean() - half, x.mean() + half
        t_cover += low <= truth <= high
        t_width += high - low
        off += low < 1 or high > 10
    return b_cover / TRIALS, b_width / TRIALS, t_cover / TRIALS, t_width / TRIALS, off / TRIALS


def main() -> None:
    warnings.simplefilter("ignore")  # "all n scores equal": expected at small n, and handled
    rng = np.random.default_rng(1)
    print("| ratings (P) | n | bounded-beta coverage | width | t coverage | width | t off the scale |")
    print("|---|---|---|---|---|---|---|")
    for probs, n in DESIGNS:
        bc, bw, tc, tw, off = simulate(probs, n, rng)
        shown = ", ".join(f"{k}: {v}" for k, v in probs.items())
        print(f"| {shown} | {n} | {bc:.1%} | {bw:.2f} | {tc:.1%} | {tw:.2f} | {off:.0%} |")


if __name__ == "__main__":
    import argparse

    # No options: seeded, it prints the tables the docs quote.
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    main()
