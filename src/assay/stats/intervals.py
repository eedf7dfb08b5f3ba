"""Confidence intervals for a mean score: the right one by default, and why it was chosen.

Methods (``method=``):

- ``t``: mean ± t(n−1)·s/√n, Student's interval; near the normal one for large n.
- ``clt``: mean ± z·s/√n, the normal interval most papers use.
- ``clustered``: cluster-robust SE of an intercept-only regression (the CR1
  correction statsmodels applies with ``cov_type="cluster"``: G/(G-1)) and a
  t interval with G-1 degrees of freedom.
- ``beta-clustered``: binary scores in clusters. The Jeffreys interval at
  the effective sample size n* = p̂(1−p̂)/SE²_CR1 (Korn & Graubard 1998, with
  their degrees-of-freedom factor (t_{n−1}/t_{G−1})²), n* at most n. Unlike the
  cluster-robust t interval it stays inside [0, 1] and does not collapse to
  zero width when no item (or every item) is right.
- ``bootstrap`` (BCa) and ``percentile``: scipy's bootstrap; with clusters,
  whole clusters are resampled.
- ``wilson``, ``exact`` (Clopper-Pearson), ``beta`` (Bayesian Beta-Binomial,
  Jeffreys prior, equal-tailed): binary scores only, computed by
  ``assay.stats.binary`` (also ``proportion_ci`` for counts).

``auto`` picks ``beta-clustered`` for binary scores in clusters, ``clustered``
for other scores in clusters, ``beta`` for binary scores, else ``t``.
"""

from __future__ import annotations

import numpy as np

# scipy.stats costs most of a second to import; the common intervals need only
# scipy.special's quantile functions, so scipy.stats is imported where used.
from scipy import special

from assay.errors import ConfigError, DataError
from assay.stats._inputs import as_labels, as_scores, check_confidence, is_binary, warn
from assay.stats.binary import BETA_REASON, BINARY_METHODS, MeanCI, beta_ppf, proportion_interval
from assay.stats.bootstrap import cluster_codes, scipy_bootstrap

METHODS = ("auto", "t", "clt", "clustered", "beta-clustered", "bootstrap", "percentile", "wilson", "beta", "exact")
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


def effective_sample_size(mean: float, se: float, n: int, n_clusters: int, confidence: float) -> float:
    """Korn & Graubard's (1998) effective sample size for a clustered proportion:
    n* = p̂(1−p̂)/SE² (n / design effect), at most n, times (t_{n−1}/t_{G−1})² so
    that few clusters widen the interval as the t interval would. With p̂ at 0
    or 1 the design effect cannot be estimated and is taken as 1."""
    alpha = 1 - confidence
    base = n if mean in (0.0, 1.0) or se == 0.0 else min(n, mean * (1 - mean) / se**2)
    ratio = special.stdtrit(n - 1, 1 - alpha / 2) / special.stdtrit(n_clusters - 1, 1 - alpha / 2)
    return float(base * ratio**2)


def _bootstrap_interval(values, labels, kind: str, confidence: float, seed, n_resamples: int):
    """(se, low, high) from scipy's bootstrap; whole clusters are resampled when labels are given
    (each cluster's sum and size resampled together, the mean their ratio)."""
    if labels is None:
        data = (values,)

        def statistic(x, axis):
            return np.mean(x, axis=axis)

    else:
        codes = cluster_codes(labels)
        data = (np.bincount(codes, weights=values), np.bincount(codes).astype(float))

        def statistic(sums, counts, axis):
            return np.sum(sums, axis=axis) / np.sum(counts, axis=axis)

    return scipy_bootstrap(
        data,
        statistic,
        level=confidence,
        n_resamples=n_resamples,
        seed=seed,
        method="BCa" if kind == "bca" else "percentile",
        paired=labels is not None,
    )


def _choose(method: str, values: np.ndarray, labels, binary: bool) -> tuple[str, str]:
    """The method to use and a one-line reason."""
    n = len(values)
    if method != "auto":
        return method, f"{method} requested"
    if labels is not None:
        g = len(np.unique(labels.astype(str)))
        if binary:
            return "beta-clustered", (
                f"binary scores in {g} clusters; items within a cluster are correlated, so the Jeffreys "
                "interval is taken at the effective sample size the cluster-robust SE implies"
            )
        return "clustered", (
            f"items come in {g} clusters; items within a cluster are correlated, so the cluster-robust SE is used"
        )
    if binary:
        return "beta", BETA_REASON
    return "t", (
        f"{n} continuous scores; Student's t interval (n-1 df), which the normal interval "
        "approaches for large n and which covers better than the bootstrap at small n"
    )


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
        raise ConfigError(
            f"ci method {chosen!r} needs binary 0/1 scores; use clt, clustered or bootstrap for these scores"
        )
    if chosen in BINARY_METHODS and labels is not None:
        warn(
            f"{chosen} assumes independent items; the clusters given are ignored (use clustered to respect them)", found
        )
        labels = None
    if chosen in ("clustered", "beta-clustered") and labels is None:
        raise ConfigError(f"ci method {chosen!r} needs clusters (one label per item)")
    if chosen == "beta-clustered" and not binary:
        raise ConfigError("ci method 'beta-clustered' needs binary 0/1 scores; use clustered for these scores")

    mean = float(values.mean())
    n_clusters = None if labels is None else int(len(np.unique(labels.astype(str))))
    alpha = 1 - confidence
    if chosen in ("t", "clt"):
        se = float(values.std(ddof=1) / np.sqrt(n))
        if se == 0.0:
            warn(f"all {n} scores equal {values[0]:g}; the {chosen} interval has zero width", found)
        quantile = special.stdtrit(n - 1, 1 - alpha / 2) if chosen == "t" else special.ndtri(1 - alpha / 2)
        low, high = mean - quantile * se, mean + quantile * se
    elif chosen == "beta-clustered":
        se, n_clusters = cluster_robust_se(values, labels)
        if n_clusters < FEW_CLUSTERS:
            warn(
                f"only {n_clusters} clusters; the cluster-robust SE is itself uncertain (aim for {FEW_CLUSTERS}+)",
                found,
            )
        n_eff = effective_sample_size(mean, se, n, n_clusters, confidence)
        a, b = prior[0] + mean * n_eff, prior[1] + (1 - mean) * n_eff
        # Boundary fix as for beta: no item right (every item right) pins that end.
        low = 0.0 if mean == 0.0 else beta_ppf(alpha / 2, a, b)
        high = 1.0 if mean == 1.0 else beta_ppf(1 - alpha / 2, a, b)
    elif chosen == "clustered":
        se, n_clusters = cluster_robust_se(values, labels)
        if n_clusters < FEW_CLUSTERS:
            warn(
                f"only {n_clusters} clusters; the cluster-robust SE is itself uncertain (aim for {FEW_CLUSTERS}+)",
                found,
            )
        t = special.stdtrit(n_clusters - 1, 1 - alpha / 2)
        low, high = mean - t * se, mean + t * se
    elif chosen in ("bootstrap", "percentile"):
        if np.all(values == values[0]):
            warn(f"all {n} scores equal {values[0]:g}; the bootstrap interval has zero width", found)
            se, low, high = 0.0, mean, mean
        else:
            kind = "bca" if chosen == "bootstrap" else "percentile"
            se, low, high = _bootstrap_interval(values, labels, kind, confidence, seed, n_resamples)
        chosen = ("cluster-" if labels is not None else "") + (
            "bootstrap-bca" if chosen == "bootstrap" else "bootstrap-percentile"
        )
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


BOUNDED_REASON = (
    "scores on a bounded scale [{low:g}, {high:g}]: the Jeffreys Beta interval of the rescaled mean at the effective "
    "sample size p(1-p)/SE^2 (times (z/t(n-1))^2 for small n), so it matches the t interval away from the "
    "ends and never leaves the scale near them; with no spread in the scores it is taken at n, the widest a "
    "variable on the scale allows"
)


def bounded_mean_ci(scores, low: float, high: float, *, confidence: float = 0.95) -> MeanCI:
    """Mean of scores known to lie in [``low``, ``high``] (a 1-10 rating, a
    credit in [0, 1]) with an interval that stays on that scale.

    A t interval on ratings bunched near an end leaves the scale (8.25
    [2.68, 13.82] on 1-10) and undercovers there. Rescaled to [0, 1], the
    mean p with its SE has the effective sample size n* = p(1-p)/SE², the
    number of binary items with the same SE (a variable on [0, 1] has variance
    at most p(1-p), so n* >= n); the Jeffreys interval at n*, with the
    Brown-Cai-DasGupta fix at the ends, is mapped back. Away from the ends it
    is the t interval; near them it is skewed inward, as a proportion's is.
    All scores equal: the spread is unknown, and n* = n, the worst case on the
    scale, rather than a zero-width interval.
    """
    if not high > low:
        raise ConfigError(f"scale bounds must satisfy low < high, got [{low}, {high}]")
    check_confidence(confidence)
    values = as_scores(scores)
    if np.any((values < low) | (values > high)):
        bad = values[(values < low) | (values > high)][0]
        raise DataError(f"score {bad:g} lies outside the scale [{low:g}, {high:g}]")
    n = len(values)
    width = high - low
    unit = (values - low) / width
    p = float(unit.mean())
    alpha = 1 - confidence
    found: list[str] = []
    spread = n > 1 and bool(np.any(unit != unit[0]))
    se_unit = float(unit.std(ddof=1) / np.sqrt(n)) if spread else 0.0
    if spread and 0.0 < p < 1.0:
        z_over_t = special.ndtri(1 - alpha / 2) / special.stdtrit(n - 1, 1 - alpha / 2)
        n_eff = p * (1 - p) / se_unit**2 * z_over_t**2
    else:
        n_eff = float(n)
        if n > 1 and not spread:
            warn(
                f"all {n} scores equal {values[0]:g}; the interval is taken at the widest spread the scale allows",
                found,
            )
    a, b = 0.5 + p * n_eff, 0.5 + (1 - p) * n_eff
    lo = 0.0 if p == 0.0 else beta_ppf(alpha / 2, a, b)
    hi = 1.0 if p == 1.0 else beta_ppf(1 - alpha / 2, a, b)
    return MeanCI(
        mean=float(values.mean()),
        se=se_unit * width,
        low=low + lo * width,
        high=low + hi * width,
        method="bounded-beta",
        reason=BOUNDED_REASON.format(low=low, high=high),
        n=n,
        confidence=confidence,
        warnings=found,
    )


def scaled_mean_ci(scores, low: float = 0.0, high: float = 1.0, *, confidence: float = 0.95) -> MeanCI:
    """Mean of scores meant to lie on the scale [``low``, ``high``] (a judge's credit in [0, 1], a
    rating on 1..10): 0/1 scores on [0, 1] get ``mean_ci``'s binary interval, other scores on the
    scale ``bounded_mean_ci``'s, and scores off the scale (so the scale is not theirs) ``mean_ci``'s."""
    values = as_scores(scores)
    on_scale = not np.any((values < low) | (values > high))
    if on_scale and not ((low, high) == (0.0, 1.0) and is_binary(values)):
        return bounded_mean_ci(values, low, high, confidence=confidence)
    return mean_ci(values, confidence=confidence, seed=0)
