"""The one resampler and the one interval type every statistic in assay uses.

Every bootstrap in assay draws its replicates here, so that "resample whole
items", "resample whole clusters" and "resample pairs together" mean the same
thing (and use the same random stream for a given seed) wherever they appear:

- ``resample_index_matrix``: plain bootstrap, all replicates at once
  (n_boot × n row indices), for statistics that vectorise (pass@k, PassUntil).
- ``resample_clusters``: one replicate that draws whole clusters with
  replacement and returns their rows; with one row per cluster it is the plain
  bootstrap of one replicate. Judge agreement, scaling-law refits and IRT
  refits draw through it.
- ``scipy_bootstrap``: scipy's bootstrap (BCa or percentile; ``paired`` keeps
  the columns of a unit together, as numerator and denominator sums of a
  document, or cluster sums and cluster sizes).
- ``percentile_bounds``: the percentile interval of a set of replicates.

``Interval`` is the shape of every interval: estimate, low, high, level,
method, n and n_clusters. Result types keep the JSON keys users read
(``ci_low``/``ci_high`` or ``low``/``high``) and give the same numbers as an
``Interval`` through their ``to_interval()`` method.

numpy is imported inside the functions, so that ``check_level`` and
``Interval`` stay importable from the numpy-free ``assay.stats.binary``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from assay.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Interval:
    """A point estimate with its interval: the numbers, how they were made and on how much data.

    ``low``/``high`` are None (or NaN) when no interval could be computed;
    ``n`` counts the units resampled or averaged (items, documents, verdicts),
    ``n_clusters`` the clusters when the interval respects them.
    """

    estimate: float | None
    low: float | None
    high: float | None
    level: float
    method: str
    n: int | None = None
    n_clusters: int | None = None

    def to_dict(self) -> dict[str, Any]:
        from assay.jsonable import jsonable

        return jsonable(asdict(self))


def check_level(level: float, *, name: str = "confidence", what: str = "a level", example: float = 0.95) -> None:
    """Raise ``ConfigError`` unless 0 < level < 1 (a bool is not a level); error rates use ``what``/``example``."""
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ConfigError(f"{name}={level!r}; give {what} strictly between 0 and 1, e.g. {example:g}")


def percentile_bounds(draws, level: float, *, axis: int = 0, skip_nan: bool = False):
    """The equal-tailed percentile interval (low, high) of bootstrap replicates along ``axis``.

    ``skip_nan`` leaves out failed replicates (NaN). Returns numpy scalars for
    1-d draws, arrays (the shape of one replicate) otherwise.
    """
    import numpy as np

    tail = (1 - level) / 2
    quantile = np.nanquantile if skip_nan else np.quantile
    low, high = quantile(np.asarray(draws, dtype=float), [tail, 1 - tail], axis=axis)
    return low, high


def rng_for(seed) -> np.random.Generator:
    """The generator every resampler draws from: ``numpy.random.default_rng(seed)``."""
    import numpy as np

    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def resample_index_matrix(n: int, n_boot: int, seed) -> np.ndarray:
    """Plain bootstrap: ``n_boot`` rows of ``n`` indices drawn with replacement from range(n)."""
    return rng_for(seed).integers(0, n, size=(n_boot, n))


def bootstrap_means(per_item: np.ndarray, n_boot: int, seed) -> np.ndarray:
    """Column means of ``per_item`` (items × columns) over plain item resamples: n_boot × columns.

    Counting how often each item is drawn keeps memory at n_boot × items.
    """
    import numpy as np

    m = per_item.shape[0]
    idx = resample_index_matrix(m, n_boot, seed)
    flat = (idx + (np.arange(n_boot) * m)[:, None]).ravel()
    weights = np.bincount(flat, minlength=n_boot * m).reshape(n_boot, m).astype(float)
    return weights @ per_item / m


def cluster_codes(labels: Sequence[Any], *, order: str = "sorted") -> np.ndarray:
    """Integer cluster codes 0..G-1 for ``labels``: by sorted label (``sorted``) or first appearance."""
    import numpy as np

    if order == "appearance":
        import pandas as pd

        return pd.factorize(pd.Series(list(labels), dtype=object))[0].astype(np.int64)
    _, codes = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    return codes.ravel().astype(np.int64)


def resample_clusters(codes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw clusters with replacement; return the rows of the drawn clusters.

    ``codes`` gives each row's cluster (0..G-1). Returns (row indices, draw
    number of each row), rows of one drawn cluster in their original order, so
    a cluster drawn twice counts as two distinct clusters. One row per cluster
    gives the plain bootstrap: the rows are then the G draws themselves.
    """
    import numpy as np

    codes = np.asarray(codes, dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    drawn = rng.integers(0, sizes.size, size=sizes.size)
    lengths = sizes[drawn]
    total = int(lengths.sum())
    # Row k of the output belongs to draw j; its offset within the cluster is
    # k minus the first output position of draw j.
    draw_of_row = np.repeat(np.arange(drawn.size), lengths)
    first_position = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    offsets = np.arange(total) - first_position[draw_of_row]
    rows = order[starts[drawn][draw_of_row] + offsets]
    return rows, draw_of_row


def scipy_bootstrap(
    data: tuple,
    statistic: Callable,
    *,
    level: float,
    n_resamples: int,
    seed,
    method: str = "percentile",
    paired: bool = False,
) -> tuple[float, float, float]:
    """(standard error, low, high) from ``scipy.stats.bootstrap``.

    ``statistic`` must be vectorised (take ``axis``); ``method`` is
    ``percentile`` or ``BCa``; ``paired`` resamples the arrays of ``data``
    together, unit by unit.
    """
    from scipy import stats

    result = stats.bootstrap(
        data,
        statistic,
        n_resamples=n_resamples,
        paired=paired,
        vectorized=True,
        confidence_level=level,
        method=method,
        rng=rng_for(seed),
    )
    ci = result.confidence_interval
    return float(result.standard_error), float(ci.low), float(ci.high)
