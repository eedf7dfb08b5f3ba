"""Agreement statistics between raters: pure functions on plain arrays.

Cohen's kappa (two raters), Fleiss' kappa (many raters, each subject rated by
all), Krippendorff's alpha (many raters, missing ratings allowed, nominal,
ordinal or interval distances), percent agreement, and a bootstrap that
resamples whole items so that rows belonging to one item stay together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from assay.jsonable import jsonable
from assay.stats.bootstrap import Interval, cluster_codes, percentile_bounds, resample_clusters, rng_for

ALPHA_LEVELS = ("nominal", "ordinal", "interval")


@dataclass
class Estimate:
    """A point estimate with its percentile-bootstrap interval over items."""

    value: float
    low: float
    high: float
    method: str
    n_items: int
    n_boot: int
    level: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "value": self.value,
                "low": self.low,
                "high": self.high,
                "method": self.method,
                "n_items": self.n_items,
                "n_boot": self.n_boot,
                "level": self.level,
            }
        )

    def to_interval(self) -> Interval:
        return Interval(self.value, self.low, self.high, self.level, self.method, self.n_items)

    def render(self, digits: int = 3) -> str:
        if not np.isfinite(self.value):
            return "n/a"
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def percent_agreement(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Share (in percent) of positions where the two raters give the same value."""
    a_arr, b_arr = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"raters have different lengths: {a_arr.shape} vs {b_arr.shape}")
    if a_arr.size == 0:
        return float("nan")
    return float(100.0 * np.mean(a_arr == b_arr))


def confusion_matrix(a: Sequence[Any], b: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Counts of (a, b) value pairs; rows follow ``a``, columns ``b``; categories sorted."""
    a_arr, b_arr = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    categories = sorted(set(a_arr.tolist()) | set(b_arr.tolist()), key=str)
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)), dtype=float)
    np.add.at(table, ([index[x] for x in a_arr], [index[x] for x in b_arr]), 1.0)
    return table, categories


def cohens_kappa_from_table(table: np.ndarray) -> float:
    """Cohen's kappa from a square contingency table of two raters' counts."""
    table = np.asarray(table, dtype=float)
    total = table.sum()
    if total == 0:
        return float("nan")
    # kappa = 1 - (observed disagreement) / (disagreement expected by chance), both as
    # counts: for counts the chance term n^2 - rows.cols is exact, so kappa is undefined
    # (NaN) only when chance agreement is exactly 1 (both raters used one and the same
    # category throughout), never merely close to 1, and keeps its digits there.
    rows, columns = table.sum(axis=1), table.sum(axis=0)
    chance_disagreement = float(total**2 - rows @ columns) / total
    if chance_disagreement <= 0:
        return float("nan")
    return float(1.0 - (total - np.trace(table)) / chance_disagreement)


def cohens_kappa(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Cohen's (unweighted) kappa between two raters' labels of the same subjects."""
    if len(a) != len(b):
        raise ValueError(f"raters have different lengths: {len(a)} vs {len(b)}")
    table, _ = confusion_matrix(a, b)
    return cohens_kappa_from_table(table)


def fleiss_kappa(ratings: np.ndarray) -> float:
    """Fleiss' kappa for a (subjects x raters) array of category labels.

    Every subject must be rated by every rater (use Krippendorff's alpha when
    ratings are missing). Counts per category are tallied here (vectorised,
    as the bootstrap calls this often) and passed to
    ``statsmodels.stats.inter_rater.fleiss_kappa``.
    """
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

    ratings = np.asarray(ratings)
    if ratings.ndim != 2 or ratings.shape[0] == 0 or ratings.shape[1] < 2:
        return float("nan")
    if ratings.dtype.kind not in "iuf":
        ratings = ratings.astype(str)
    categories, codes = np.unique(ratings, return_inverse=True)
    if categories.size < 2:
        return float("nan")
    codes = codes.reshape(ratings.shape)
    subject = np.repeat(np.arange(ratings.shape[0]), ratings.shape[1])
    counts = np.zeros((ratings.shape[0], categories.size))
    np.add.at(counts, (subject, codes.ravel()), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(sm_fleiss_kappa(counts, method="fleiss"))


def _pairable_counts(reliability_data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per unit, how often each value occurs; only units with two or more values.

    ``reliability_data`` is (coders x units) with NaN for a missing value.
    Returns (counts: units x values, sorted distinct values).
    """
    data = np.asarray(reliability_data, dtype=float)
    if data.ndim != 2:
        raise ValueError("reliability data must be a 2-d array (coders x units)")
    present = ~np.isnan(data)
    values = np.unique(data[present])
    counts = np.zeros((data.shape[1], values.size))
    if values.size:
        coder_idx, unit_idx = np.nonzero(present)
        value_idx = np.searchsorted(values, data[coder_idx, unit_idx])
        np.add.at(counts, (unit_idx, value_idx), 1.0)
    pairable = counts.sum(axis=1) >= 2
    return counts[pairable], values


def coincidence_matrix(reliability_data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Krippendorff's coincidence matrix o_ck and its sorted values.

    Each unit with m >= 2 values contributes every ordered pair of its values
    (from different coders) with weight 1/(m - 1).
    """
    counts, values = _pairable_counts(reliability_data)
    m = counts.sum(axis=1)
    weights = 1.0 / (m - 1.0)
    coincidences = (counts * weights[:, None]).T @ counts - np.diag((counts * weights[:, None]).sum(axis=0))
    return coincidences, values


def _squared_distances(values: np.ndarray, marginals: np.ndarray, level: str) -> np.ndarray:
    if level == "nominal":
        return 1.0 - np.eye(values.size)
    if level == "interval":
        return (values[:, None] - values[None, :]) ** 2
    if level == "ordinal":
        # Distance between ranks c < k: the number of pairable values from c
        # to k inclusive, less half of the two end categories.
        cumulative = np.concatenate([[0.0], np.cumsum(marginals)])
        c, k = np.meshgrid(np.arange(values.size), np.arange(values.size), indexing="ij")
        lo, hi = np.minimum(c, k), np.maximum(c, k)
        between = cumulative[hi + 1] - cumulative[lo]
        return (between - (marginals[c] + marginals[k]) / 2.0) ** 2
    raise ValueError(f"level must be one of {', '.join(ALPHA_LEVELS)}, not {level!r}")


def krippendorff_alpha(reliability_data: np.ndarray, level: str = "nominal") -> float:
    """Krippendorff's alpha from a (coders x units) array, NaN marking missing values.

    alpha = 1 - (n - 1) * sum(o_ck d_ck) / sum(n_c n_k d_ck), with o the
    coincidence matrix, n_c its margins, n the number of pairable values and d
    the squared distance of the chosen ``level`` (nominal, ordinal, interval).
    Category labels must be coded as numbers; for nominal data any coding works.
    """
    if level not in ALPHA_LEVELS:
        raise ValueError(f"level must be one of {', '.join(ALPHA_LEVELS)}, not {level!r}")
    coincidences, values = coincidence_matrix(reliability_data)
    marginals = coincidences.sum(axis=1)
    n = marginals.sum()
    if n < 2 or values.size < 2:
        return float("nan")
    distances = _squared_distances(values, marginals, level)
    observed = float(np.sum(coincidences * distances))
    expected = float(marginals @ distances @ marginals)
    if expected == 0:
        return float("nan")
    return 1.0 - (n - 1.0) * observed / expected


# Whole items are drawn by the shared cluster resampler; the old name stays for callers.
resample_rows = resample_clusters


def bootstrap_over_items(
    items: Sequence[Any],
    statistic: Callable[[np.ndarray], Mapping[str, float]],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Estimate]:
    """Percentile bootstrap of several statistics, resampling whole items.

    ``items`` gives the item of each row; ``statistic(rows)`` computes a dict
    of named values from the rows with those indices (duplicates included).
    Replicates where a statistic is undefined (NaN) are left out of that
    statistic's interval.
    """
    item_arr = np.asarray(items, dtype=object)
    codes = cluster_codes(item_arr)
    n_items = int(codes.max()) + 1 if codes.size else 0
    point = dict(statistic(np.arange(item_arr.size)))
    replicates: dict[str, list[float]] = {name: [] for name in point}
    if n_items > 0 and n_boot > 0:
        rng = rng_for(seed)
        for _ in range(n_boot):
            rows, _ = resample_clusters(codes, rng)
            for name, value in statistic(rows).items():
                replicates[name].append(value)
    out: dict[str, Estimate] = {}
    for name, value in point.items():
        draws = np.asarray(replicates[name], dtype=float)
        draws = draws[np.isfinite(draws)]
        if draws.size >= 2 and np.isfinite(value):
            low, high = percentile_bounds(draws, level)
        else:
            low = high = float("nan")
        out[name] = Estimate(
            value=float(value),
            low=float(low),
            high=float(high),
            method="bootstrap percentile over items",
            n_items=n_items,
            n_boot=n_boot,
            level=level,
        )
    return out


def pairwise_kappas(verdicts, judges: Sequence[str], n_boot: int, seed: int, level: float) -> dict:
    """Cohen's κ between every two judges on the verdicts both gave (same unit, order and item).

    ``verdicts`` has columns unit, order, item, judge, verdict; returns
    ``{(a, b): Estimate.to_dict()}`` with a percentile bootstrap over items.
    """
    from itertools import combinations

    valid = verdicts[verdicts["verdict"].notna()]
    wide = valid.pivot_table(index=["unit", "order", "item"], columns="judge", values="verdict", aggfunc="first")
    out = {}
    for a, b in combinations(judges, 2):
        if a not in wide.columns or b not in wide.columns:
            continue
        both = wide[[a, b]].dropna()
        if len(both) < 2:
            continue
        va, vb = both[a].to_numpy(object), both[b].to_numpy(object)
        items = both.index.get_level_values("item").to_numpy(object)

        def statistic(rows, va=va, vb=vb):
            table, _ = confusion_matrix(va[rows], vb[rows])
            return {"kappa": cohens_kappa_from_table(table)}

        est = bootstrap_over_items(items, statistic, n_boot=n_boot, seed=seed, level=level)["kappa"]
        out[(a, b)] = est.to_dict()
    return out
