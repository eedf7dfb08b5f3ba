"""Time of a multiverse on a large score frame: 5 models, 1,000 items, 4 prompt variants, 3 metrics, 1% failures.

That is 3 metrics × 5 variant choices (pooled and each alone) × 2 error choices × 3 intervals
= 90 specifications of 10 pairs each. Run (seeded; the figure is in docs/statistics.md):

    PYTHONPATH=src python3 benchmarks/multiverse_speed.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from assay.api import multiverse


def frame(n_items=1000, n_variants=4, n_metrics=3, n_models=5, failed=0.01, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(n_models):
        right = rng.random((n_items, n_variants, n_metrics)) < 0.5 + 0.03 * k
        error = np.repeat((rng.random((n_items, n_variants)) < failed)[:, :, None], n_metrics, axis=2)
        i, v, m = np.meshgrid(np.arange(n_items), np.arange(n_variants), np.arange(n_metrics), indexing="ij")
        parts.append(
            pd.DataFrame(
                {
                    "model": f"m{k}",
                    "item": [f"q{x}" for x in i.ravel()],
                    "variant": [f"v{x}" for x in v.ravel()],
                    "metric": [f"acc{x}" for x in m.ravel()],
                    "score": right.ravel().astype(float),
                    "error": error.ravel(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    scores = frame()
    warnings.simplefilter("ignore")
    start, cpu = time.perf_counter(), time.process_time()
    result = multiverse(scores)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    # CPU time too: on a shared machine the wall clock says more about the neighbours than about this.
    print(
        f"{len(scores)} rows, {result.n_specifications} specifications x {len(result.pairs)} pairs: "
        f"{seconds:.1f} s wall, {cpu:.1f} s CPU"
    )


if __name__ == "__main__":
    main()
