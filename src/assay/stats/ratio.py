"""Intervals for corpus-level ratios: perplexity and bits per byte.

A corpus's perplexity is exp(−Σ log p / Σ tokens) over all its documents, not
the mean of per-document perplexities: documents weigh by their length. Its
uncertainty comes from which documents were drawn, so the interval resamples
documents (scipy's paired bootstrap of the numerator and denominator sums).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from assay.errors import DataError
from assay.stats.binary import MeanCI


def ratio_ci(
    numerators,
    denominators,
    *,
    transform: Callable[[np.ndarray], np.ndarray] = lambda r: r,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> MeanCI:
    """transform(Σ numerators / Σ denominators) with a percentile bootstrap
    interval over units (documents). ``transform`` must be monotone increasing."""
    from scipy import stats

    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    if num.shape != den.shape or num.ndim != 1 or len(num) == 0:
        raise DataError("ratio_ci needs one numerator and one denominator per unit")
    if (den <= 0).any():
        raise DataError("ratio_ci: every denominator (tokens, bytes, words) must be positive")
    estimate = float(transform(np.asarray(num.sum() / den.sum())))
    if len(num) < 2:
        return MeanCI(
            estimate,
            float("nan"),
            float("nan"),
            float("nan"),
            "percentile bootstrap over documents",
            "one document: no interval",
            len(num),
            confidence=confidence,
        )

    def statistic(n, d, axis=-1):
        return transform(n.sum(axis=axis) / d.sum(axis=axis))

    result = stats.bootstrap(
        (num, den),
        statistic,
        paired=True,
        vectorized=True,
        method="percentile",
        confidence_level=confidence,
        n_resamples=n_resamples,
        random_state=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return MeanCI(
        estimate,
        float(result.standard_error),
        float(low),
        float(high),
        "percentile bootstrap over documents",
        "a ratio of sums over documents (longer documents weigh more); documents resampled",
        len(num),
        confidence=confidence,
    )
