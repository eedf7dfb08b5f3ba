"""Checks shared by the stats functions: turn user input into clean arrays or fail loudly.

numpy is imported inside the array checks, so that ``check_confidence`` and
the numpy-free ``assay.stats.binary`` behind every run summary stay light.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from assay.errors import ConfigError, DataError

if TYPE_CHECKING:
    import numpy as np


def as_scores(values, *, name: str = "scores", min_n: int = 2) -> np.ndarray:
    """Return ``values`` as a 1-d float array, or raise ``DataError`` naming the bad entry.

    Non-numeric entries, NaN and infinities are errors: a silently dropped or
    propagated value would give a number that looks fine and is not.
    """
    import numpy as np

    raw = np.asarray(values, dtype=object).ravel() if not isinstance(values, np.ndarray) else values.ravel()
    if raw.dtype.kind in "biuf":
        arr = raw.astype(float)
    else:
        arr = np.empty(len(raw), dtype=float)
        for i, v in enumerate(raw):
            if isinstance(v, (bool, np.bool_)):
                arr[i] = float(v)
                continue
            try:
                arr[i] = float(v)
            except (TypeError, ValueError):
                raise DataError(
                    f"{name}: non-numeric value {v!r} at position {i}; scores must be numbers (e.g. 0/1 or 0.0-1.0)"
                ) from None
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{name}: {int(bad.sum())} missing or non-finite value(s) (first {arr[first]!r} at position {first}); "
            "remove those items or score them explicitly"
        )
    if len(arr) < min_n:
        raise DataError(f"{name}: {len(arr)} item(s); at least {min_n} are needed for an interval")
    return arr


def as_labels(values, n: int, *, name: str = "clusters") -> np.ndarray:
    """Return cluster labels as a 1-d array of length ``n`` (missing labels are an error)."""
    import numpy as np

    labels = np.asarray(values, dtype=object).ravel()
    if len(labels) != n:
        raise DataError(f"{name}: {len(labels)} labels for {n} scores; give one label per score")
    missing = [i for i, v in enumerate(labels) if v is None or (isinstance(v, float) and np.isnan(v))]
    if missing:
        raise DataError(
            f"{name}: missing label at position {missing[0]} ({len(missing)} in all); every item needs a cluster"
        )
    return labels


def is_binary(arr: np.ndarray) -> bool:
    """True when every score is exactly 0 or 1."""
    import numpy as np

    return bool(np.all((arr == 0) | (arr == 1)))


def warn(message: str, sink: list[str]) -> None:
    """Emit a warning and record it for the result's ``warnings`` list."""
    sink.append(message)
    warnings.warn(message, stacklevel=3)


def check_confidence(confidence: float) -> None:
    """Raise ``ConfigError`` unless 0 < confidence < 1."""
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ConfigError(f"confidence={confidence!r}; give a level strictly between 0 and 1, e.g. 0.95")
