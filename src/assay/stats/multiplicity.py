"""Adjust p-values for testing many pairs at once.

Comparing m models makes m(m-1)/2 pairwise tests; at alpha = 0.05 some will
look significant by chance. Holm-Bonferroni (the default) controls the chance
of any false "model A beats model B" claim; Benjamini-Hochberg controls the
expected share of false claims among those made, and is less conservative.
"""

from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests

from assay.errors import ConfigError, DataError

# user-facing name -> statsmodels method name
CORRECTIONS = {"holm": "holm", "bh": "fdr_bh", "bonferroni": "bonferroni", "none": None}


def adjust_pvalues(pvalues, method: str = "holm") -> np.ndarray:
    """Adjusted p-values, in the order given.

    ``method``: ``holm`` (Holm-Bonferroni, family-wise error), ``bh``
    (Benjamini-Hochberg, false discovery rate), ``bonferroni`` or ``none``.
    NaN p-values (tests that could not be run) stay NaN and do not count
    towards the number of tests.
    """
    if method not in CORRECTIONS:
        raise ConfigError(f"correction {method!r} is not known; choose one of {', '.join(CORRECTIONS)}")
    p = np.asarray(pvalues, dtype=float).ravel()
    finite = np.isfinite(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        bad = p[finite][(p[finite] < 0) | (p[finite] > 1)][0]
        raise DataError(f"p-value {bad!r} is outside [0, 1]")
    adjusted = p.copy()
    if CORRECTIONS[method] is None or not finite.any():
        return adjusted
    if method == "holm":
        # Holm's step-down directly: statsmodels' holm runs gc.collect() on every call, a tenth of a
        # second in a loaded process, which a multiverse of many comparisons pays many times over.
        values = p[finite]
        order = np.argsort(values, kind="stable")
        stepped = np.maximum.accumulate(values[order] * np.arange(len(values), 0, -1))
        out = np.empty(len(values))
        out[order] = np.minimum(stepped, 1.0)
        adjusted[finite] = out
        return adjusted
    adjusted[finite] = multipletests(p[finite], method=CORRECTIONS[method])[1]
    return adjusted
