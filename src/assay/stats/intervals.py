"""Confidence intervals for a mean score: the right one by default, and why it was chosen.

Methods (``method=``):

- ``clt``: mean ± z·s/√n, the normal interval most papers use.
- ``clustered``: cluster-robust SE of an intercept-only regression (the CR1
  correction statsmodels applies with ``cov_type="cluster"``: G/(G-1)) and a
  t interval with G-1 degrees of freedom.
- ``bootstrap`` (BCa) and ``percentile``: scipy's bootstrap; with clusters,
  whole clusters are resampled.
- ``wilson``, ``exact`` (Clopper-Pearson), ``beta`` (Bayesian Beta-Binomial,
  Jeffreys prior, equal-tailed): binary scores only, computed by
  ``assay.stats.binary`` (also ``proportion_ci`` for counts).

``auto`` picks ``clustered`` when clusters are given, ``beta`` for binary
scores, BCa bootstrap for fewer than 30 continuous scores, else ``clt``.
"""

from __future__ import annotations

import numpy as np
# scipy.stats costs most of a second to import; the common intervals need only
# scipy.special's quantile functions, so scipy.stats is imported where used.
from scipy import special

from assay.errors import ConfigError, DataError
from assay.stats._inputs import as_labels, as_scores, check_confidence, is_binary, warn
from assay.stats.binary import BETA_REASON, BINARY_METHODS, MeanCI, proportion_interval

METHODS = ("auto", "clt", "clustered", "bootstrap", "percentile", "wilson", "beta", "exact")
SMALL_N = 30  # below this many continuous scores the CLT interval undercovers; auto bootstraps instead
FEW_CLUSTERS = 10  # cluster-robust SEs are themselves noisy with fewer clusters than this


def cluster_robust_se(values: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
    """CR1 cluster-robust SE of the mean and the number of clusters.

    Equals the intercept SE of ``OLS(values, 1).fit(cov_type="cluster")`` in
    statsmodels: sqrt(G/(G-1) · Σ_g (Σ_{i∈g} e_i)²) / n, with e the residuals.
    """
    _, codes = np.unique(labels.astype(str), return_inverse=True)
    n_clusters = int(codes.max()) + 1
    cluster_sums = np.bincount(codes, weights=values - values.mean())
    var = n_clusters / (n_clusters - 1) * np.sum(cluster_sums**2) / len(values) ** 2
    return float(np.sqrt(var)), n_clusters


def _bootstrap_interval(values, labels, kind: str, confidence: float, seed, n_resamples: int):
    """(se, low, high) from scipy's bootstrap; whole clusters are resampled when labels are given."""
    if labels is None:
        data = (values,)

        def statistic(x, axis):
            return np.mean(x, axis=axis)

    else:
        _, codes = np.unique(labels.astype(str), return_inverse=True)
        data = (np.bincount(codes, weights=values), np.bincount(codes).astype(float))

        def statistic(sums, counts, axis):
            return np.sum(sums, axis=axis) / np.sum(counts, axis=axis)

    from scipy import stats

    result = stats.bootstrap(
        data,
        statistic,
        n_resamples=n_resamples,
        paired=labels is not None,
        vectorized=True,
        confidence_level=confidence,
        method="BCa" if kind == "bca" else "percentile",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return float(result.standard_error), float(ci.low), float(ci.high)


def _choose(method: str, values: np.ndarray, labels, binary: bool) -> tuple[str, str]:
    """The method to use and a one-line reason."""
    n = len(values)
    if method != "auto":
        return method, f"{method} requested"
    if labels is not None:
        g = len(np.unique(labels.astype(str)))
        return "clustered", (
            f"items come in {g} clusters; items within a cluster are correlated, so the cluster-robust SE is used"
        )
    if binary:
        return "beta", BETA_REASON
    if n < SMALL_N:
        return "bootstrap", f"{n} continuous scores (< {SMALL_N}); the CLT interval undercovers, so BCa bootstrap is used"
    return "clt", f"{n} continuous scores (>= {SMALL_N}); the normal (CLT) interval is adequate"


def mean_ci(
    scores,
    *,
    clusters=None,
    method: str = "auto",
    confidence: float = 0.95,
    seed: int | None = 0,
    n_resamples: int = 9999,
    prior: tuple[float, float] = (0.5, 0.5),
) -> MeanCI:
    """Mean of per-item ``scores`` with a ``confidence`` interval.

    ``clusters`` gives one label per score (items sharing a passage, a
    template, a source document); ``method`` is one of ``METHODS``. ``seed`` and
    ``n_resamples`` matter for the bootstrap only, ``prior`` (Beta a, b) for
    ``beta`` only. The result's ``method`` and ``reason`` say what was done.
    """
    if method not in METHODS:
        raise ConfigError(f"ci method {method!r} is not known; choose one of {', '.join(METHODS)}")
    check_confidence(confidence)
    values = as_scores(scores)
    n = len(values)
    found: list[str] = []
    labels = None
    if clusters is not None:
        labels = as_labels(clusters, n)
        if len(np.unique(labels.astype(str))) < 2:
            if method in ("clustered",):
                raise DataError(
                    f"clusters: a single cluster ({labels[0]!r}); the clustered method needs at least 2 clusters"
                )
            warn(f"clusters: every item is in the single cluster {labels[0]!r}; clusters are ignored", found)
            labels = None
    binary = is_binary(values)
    chosen, reason = _choose(method, values, labels, binary)
    if chosen in BINARY_METHODS and not binary:
        raise ConfigError(f"ci method {chosen!r} needs binary 0/1 scores; use clt, clustered or bootstrap for these scores")
    if chosen in BINARY_METHODS and labels is not None:
        warn(f"{chosen} assumes independent items; the clusters given are ignored (use clustered to respect them)", found)
        labels = None
    if chosen == "clustered" and labels is None:
        raise ConfigError("ci method 'clustered' needs clusters (one label per item)")

    mean = float(values.mean())
    n_clusters = None if labels is None else int(len(np.unique(labels.astype(str))))
    alpha = 1 - confidence
    if chosen == "clt":
        se = float(values.std(ddof=1) / np.sqrt(n))
        z = special.ndtri(1 - alpha / 2)
        low, high = mean - z * se, mean + z * se
    elif chosen == "clustered":
        se, n_clusters = cluster_robust_se(values, labels)
        if n_clusters < FEW_CLUSTERS:
            warn(f"only {n_clusters} clusters; the cluster-robust SE is itself uncertain (aim for {FEW_CLUSTERS}+)", found)
        t = special.stdtrit(n_clusters - 1, 1 - alpha / 2)
        low, high = mean - t * se, mean + t * se
    elif chosen in ("bootstrap", "percentile"):
        if np.all(values == values[0]):
            warn(f"all {n} scores equal {values[0]:g}; the bootstrap interval has zero width", found)
            se, low, high = 0.0, mean, mean
        else:
            kind = "bca" if chosen == "bootstrap" else "percentile"
            se, low, high = _bootstrap_interval(values, labels, kind, confidence, seed, n_resamples)
        chosen = ("cluster-" if labels is not None else "") + ("bootstrap-bca" if chosen == "bootstrap" else "bootstrap-percentile")
    else:
        se, low, high = proportion_interval(chosen, int(values.sum()), n, confidence, prior)
    return MeanCI(
        mean=mean,
        se=se,
        low=float(low),
        high=float(high),
        method=chosen,
        reason=reason,
        n=n,
        n_clusters=n_clusters,
        confidence=confidence,
        warnings=found,
    )
