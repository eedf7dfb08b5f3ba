"""Tables the judge analyses read (verdicts, human labels, win-rate annotations), and their cells.

Every row remembers where it came from (``WHERE``: "labels.csv line 7"), so
that a bad cell is reported with its file and line; cells are read the same
way everywhere (``canonical``: a verdict or label as text, ``flag``: a
true/false column).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from assay.errors import DataError
from assay.tables import read_frame

# The column that says where each row came from.
WHERE = "__where__"


def load_table(source: str | Path | pd.DataFrame, *, name: str = "table") -> pd.DataFrame:
    """Read a CSV/TSV, JSONL, JSON (array of objects) or Parquet file into a DataFrame.

    The result's ``attrs["source"]`` names the file and ``attrs["locations"]``
    gives, per row, where it came from ("line 7" for CSV and JSONL, counting
    the header as line 1; "record 3" for JSON; "row 3" for Parquet and
    DataFrames), so later errors can point at the row. CSV cells are read as
    text with empty cells as missing. A DataFrame is passed through with
    locations "row 1", "row 2", ...
    """
    if isinstance(source, pd.DataFrame):
        frame = source.reset_index(drop=True).copy()
        frame.attrs["source"] = f"{name} table"
        frame.attrs["locations"] = [f"row {i + 1}" for i in range(len(frame))]
        return frame
    frame = read_frame(source, what=name)
    if len(frame) == 0:
        raise DataError(f"{name} file {source} has no rows")
    return frame


def located(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``frame`` with a column saying where each row came from."""
    out = frame.copy()
    source = frame.attrs.get("source", "table")
    locations = frame.attrs.get("locations") or [f"row {i + 1}" for i in range(len(frame))]
    out[WHERE] = [f"{source} {loc}" for loc in locations]
    return out


def called(what: str, source: str) -> str:
    """How messages name a table: "labels FILE" for a file, "labels table" (not
    "labels labels table") for an in-memory one."""
    return source if source.startswith(what) else f"{what} {source}"


def require_columns(frame: pd.DataFrame, required: Sequence[str], what: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        found = ", ".join(str(c) for c in frame.columns if c != WHERE) or "none"
        raise DataError(
            f"{called(what, str(frame.attrs.get('source', 'table')))} lacks column(s) {', '.join(missing)}; "
            f"required: {', '.join(required)}; found: {found}"
        )


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def canonical(value: Any) -> str | None:
    """A verdict or label as text: integral numbers without decimals, words lower-case."""
    if is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip().lower()
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return repr(number) if math.isfinite(number) else text


def as_number(text: str | None) -> float:
    if text is None:
        return float("nan")
    try:
        number = float(text)
    except ValueError:
        return float("nan")
    return number if math.isfinite(number) else float("nan")


def flag(value: Any, where: str, column: str) -> bool:
    if is_missing(value):
        return False
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "1.0"):
        return True
    if text in ("0", "false", "no", "0.0"):
        return False
    raise DataError(f"{where}, column {column}: {value!r} is not a true/false value (use true/false or 1/0)")
