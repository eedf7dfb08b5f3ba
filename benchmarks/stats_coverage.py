"""Exact coverage of 95% intervals for a binary mean: assay's ``auto`` choice against the CLT interval.

For n items with true accuracy p, the number correct x is Binomial(n, p), so
coverage is sum over x of P(x) * [interval(x) contains p]: exact, no
simulation noise. Run:

    PYTHONPATH=src python3 benchmarks/stats_coverage.py

and it prints the Markdown table used in docs/statistics.md.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from assay.stats import mean_ci

N_ITEMS = (20, 50, 200, 1000)
TRUE_P = (0.02, 0.1, 0.5)
CONFIDENCE = 0.95


def exact_coverage(n: int, p: float, method: str) -> float:
    """P(interval contains p) when x ~ Binomial(n, p), computed by enumerating x = 0..n."""
    covered = 0.0
    for x in range(n + 1):
        scores = np.r_[np.ones(x), np.zeros(n - x)]
        with np.errstate(all="ignore"):
            ci = mean_ci(scores, method=method, confidence=CONFIDENCE)
        if ci.low <= p <= ci.high:
            covered += stats.binom.pmf(x, n, p)
    return covered


def coverage_table() -> list[tuple[int, float, str, float, float]]:
    """Rows of (n, p, auto method, auto coverage, CLT coverage)."""
    rows = []
    for n in N_ITEMS:
        for p in TRUE_P:
            auto_method = mean_ci(np.r_[1.0, np.zeros(n - 1)]).method
            rows.append((n, p, auto_method, exact_coverage(n, p, "auto"), exact_coverage(n, p, "clt")))
    return rows


def clustered_coverage(
    n_clusters: int, size: int, true_p: float = 0.6, icc: float = 0.2, reps: int = 2000, seed: int = 12345
):
    """Simulated coverage for binary items in clusters whose accuracy varies
    (Beta with mean ``true_p`` and intra-cluster correlation ``icc``).

    Returns the coverage of: auto (beta-clustered), the cluster-robust t
    interval (clustered), the interval that ignores the clusters (beta), CLT.
    """
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_clusters), size)
    spread = (1 - icc) / icc  # a + b of the Beta giving that correlation
    hits = np.zeros(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(reps):
            cluster_p = rng.beta(true_p * spread, (1 - true_p) * spread, n_clusters)
            y = (rng.random(len(groups)) < cluster_p[groups]).astype(float)
            intervals = (
                mean_ci(y, clusters=groups),
                mean_ci(y, clusters=groups, method="clustered"),
                mean_ci(y),
                mean_ci(y, method="clt"),
            )
            for j, ci in enumerate(intervals):
                hits[j] += ci.low <= true_p <= ci.high
    return tuple(hits / reps)


def main() -> None:
    print("Binary scores, exact coverage of the 95% interval:\n")
    print("| n | true p | auto method | auto coverage | CLT coverage |")
    print("|---:|---:|---|---:|---:|")
    for n, p, method, auto, clt in coverage_table():
        print(f"| {n} | {p:g} | {method} | {auto:.1%} | {clt:.1%} |")
    print("\nClustered binary scores, 2000 simulations each, seed 12345:\n")
    print(
        "| clusters x items | true p | intra-cluster corr. | auto (beta-clustered) | clustered (CR1 t) "
        "| clusters ignored (beta) | CLT |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for n_clusters, size, p, icc in (
        (20, 10, 0.6, 0.2),
        (50, 4, 0.6, 0.2),
        (10, 20, 0.6, 0.2),
        (20, 10, 0.02, 0.05),
        (50, 4, 0.02, 0.05),
        (10, 20, 0.05, 0.05),
    ):
        auto, robust, ignored, clt = clustered_coverage(n_clusters, size, p, icc)
        print(f"| {n_clusters} x {size} | {p:g} | {icc:g} | {auto:.1%} | {robust:.1%} | {ignored:.1%} | {clt:.1%} |")


if __name__ == "__main__":
    import argparse

    # No options: seeded, it prints the tables the docs quote.
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    main()
