"""Reading a table of models and selecting the columns a law is fitted on.

Every check here names the file, the column and the first offending row, so
that a user can find the problem in their spreadsheet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import pandas as pd

from assay.errors import ConfigError, DataError

TableLike = Union[pd.DataFrame, str, Path]


# The strings pandas' CSV reader takes for a missing value; a table written by pandas or a
# spreadsheet uses them, and a scaling table should read the same as it did with read_csv.
NA_STRINGS = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)
LOCATIONS = "row_locations"  # frame.attrs key: {row label: "line 7"}, where each row is in its file


def load_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV/TSV, JSONL/JSON or Parquet file of one row per model (or checkpoint).

    The frame remembers where it came from: ``attrs["source"]`` is the path and
    ``attrs["row_locations"]`` maps each row label to its place in the file
    ("line 7", counting the header as line 1), so that later errors name the
    file line rather than a position in the table. CSV columns whose values
    are all numbers (or missing) become numeric, as with ``pandas.read_csv``.
    """
    from assay.tables import SUFFIXES, read_frame

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file (expected a .csv or .parquet table of one row per model)")
    if path.is_dir() and (path / "assay.db").is_file():
        from assay.run.table import model_table

        return model_table(path)  # a run directory: one row per model
    if path.is_dir():
        raise DataError(f"{path} is a directory; expected a .csv or .parquet table of one row per model")
    name = path.name.lower()
    kind = next((k for suffix, k in SUFFIXES.items() if name.endswith(suffix)), None)
    if kind is None and path.suffix.lower() == ".txt":
        # Comma-separated text under another name: read as before, rows named by position.
        try:
            frame = pd.read_csv(path)
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            raise DataError(f"{path}: cannot be read as csv: {exc}") from exc
        frame.attrs["source"] = str(path)
        return frame
    if kind is None:
        suffix = path.suffix.lower()
        raise DataError(
            f"{path}: unknown table format {suffix or '(no extension)'!r}; use .csv, .tsv, .jsonl, .json or .parquet"
        )
    frame = read_frame(path, what="scaling table")
    locations = list(frame.attrs.get("locations") or [])
    if kind in ("csv", "tsv"):
        frame = frame.apply(_typed)
    frame.attrs["source"] = str(path)
    frame.attrs.pop("locations", None)
    if len(locations) == len(frame):
        frame.attrs[LOCATIONS] = dict(zip(frame.index, locations))
    return frame


def _typed(column: pd.Series) -> pd.Series:
    """A CSV column of text as numbers or booleans when every value is one (missing values allowed)."""
    text = column.map(lambda v: None if v is None or (isinstance(v, str) and v.strip() in NA_STRINGS) else v)
    present = text.dropna()
    try:
        return pd.to_numeric(text.map(lambda v: v.strip() if isinstance(v, str) else v))
    except (ValueError, TypeError):
        pass
    lowered = {str(v).strip().lower() for v in present}
    if present.size and lowered <= {"true", "false"} and present.size == len(text):
        return text.map(lambda v: str(v).strip().lower() == "true")
    return text


@dataclass
class Selection:
    """The numeric arrays a fit uses, with where they came from."""

    x: np.ndarray  # (n_x_columns, n_points)
    y: np.ndarray  # (n_y_columns, n_points)
    groups: np.ndarray | None  # cluster labels for the bootstrap, or None
    cluster: str | None
    rows: np.ndarray  # original row labels, for error messages and reports
    source: str


def table_source(frame: pd.DataFrame, default: str = "the table") -> str:
    """The file a frame was read from (``load_table`` records it), else ``default``."""
    return str(frame.attrs.get("source") or default)


def describe_row(frame: pd.DataFrame, label, source: str) -> str:
    """Where a row is, for a message: "models.csv line 7" for a row read from a file, else
    "row 3 of the table" (the row's label)."""
    location = (frame.attrs.get(LOCATIONS) or {}).get(label)
    if location is not None:
        return f"{source} {location}"
    return f"row {label} of {source}"


def query_rows(frame: pd.DataFrame, expression: str, source: str, option: str = "--where") -> pd.DataFrame:
    """The rows a pandas ``DataFrame.query`` expression selects (possibly none); a bad
    expression is an error naming ``option``, the table and its columns."""
    try:
        # The python engine allows method calls such as ``step.notna()``.
        selected = frame.query(expression, engine="python")
    except Exception as exc:  # pandas raises many types for a bad expression
        raise ConfigError(
            f"{option} {expression!r} is not a valid pandas query on {source} ({type(exc).__name__}: {exc}); "
            f"columns are {', '.join(map(str, frame.columns))}"
        ) from exc
    if not isinstance(selected, pd.DataFrame):
        raise ConfigError(f"{option} {expression!r} must be a boolean expression over the columns of {source}")
    return selected


def apply_where(frame: pd.DataFrame, where: str | None, source: str) -> pd.DataFrame:
    """Filter with a pandas ``DataFrame.query`` expression."""
    if not where:
        return frame
    selected = query_rows(frame, where, source)
    if selected.empty:
        raise DataError(f"{source}: no rows match --where {where!r} (of {len(frame)} rows)")
    return selected


def select_columns(
    data: TableLike,
    x: Sequence[str],
    y: Sequence[str],
    *,
    where: str | None = None,
    cluster: str | None = None,
    positive_x: bool = True,
) -> Selection:
    """Pick x and y columns, check them, and decide the bootstrap clusters.

    With ``cluster=None`` rows are clustered by a ``model`` column when some
    model has several rows (checkpoints); ``cluster=""`` turns clustering off.
    """
    frame = data if isinstance(data, pd.DataFrame) else load_table(data)
    source = table_source(frame)
    frame = apply_where(frame, where, source)
    for column in [*x, *y] + ([cluster] if cluster else []):
        if column not in frame.columns:
            raise DataError(f"{source}: no column {column!r}; columns are {', '.join(map(str, frame.columns))}")
    arrays = {}
    for column in [*x, *y]:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            label = bad[bad].index[0]
            raise DataError(
                f"{describe_row(frame, label, source)}: column {column!r} has a non-numeric value "
                f"{frame[column].loc[label]!r}"
            )
        array = values.to_numpy(dtype=float)
        missing = ~np.isfinite(array)
        if missing.any():
            label = frame.index[np.argmax(missing)]
            count = int(missing.sum())
            others = f" (and {count - 1} more row(s))" if count > 1 else ""
            raise DataError(
                f"{describe_row(frame, label, source)}: column {column!r} is missing or infinite{others}; "
                f'drop such rows with --where "{column}.notna()"'
            )
        arrays[column] = array
    if positive_x:
        for column in x:
            nonpositive = arrays[column] <= 0
            if nonpositive.any():
                label = frame.index[np.argmax(nonpositive)]
                raise DataError(
                    f"{describe_row(frame, label, source)}: column {column!r} must be positive "
                    f"(a size, token count or compute), but is {arrays[column][np.argmax(nonpositive)]:g}"
                )
    for column in y:
        if np.ptp(arrays[column]) == 0:
            raise DataError(
                f"{source}: column {column!r} is constant ({arrays[column][0]:g}) over the "
                f"{len(frame)} selected rows; a law cannot be fitted to it"
            )
    groups = None
    if cluster is None and "model" in frame.columns and frame["model"].duplicated().any():
        cluster = "model"
    if cluster:
        groups = pd.factorize(frame[cluster])[0]
    return Selection(
        x=np.vstack([arrays[c] for c in x]),
        y=np.vstack([arrays[c] for c in y]),
        groups=groups,
        cluster=cluster or None,
        rows=frame.index.to_numpy(),
        source=source,
    )


def widen(
    frame: pd.DataFrame,
    keys: Sequence[str],
    values: str = "value",
    drop: Sequence[str] = ("stderr",),
    source: str | None = None,
) -> pd.DataFrame:
    """Turn a long table (one row per model × task × metric) into one row per
    model, with a column ``task/metric`` per combination of ``keys``.

    The remaining columns (model, params, step, tokens, …) identify a row;
    ``drop`` names per-value columns such as a standard error, which belong to
    one value each and cannot survive the pivot. The wide table's source is
    "FILE (pivoted by KEYS)" and its rows are named by their identifying columns.
    """
    source = source or table_source(frame, "table")
    missing = [k for k in [*keys, values] if k not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: --pivot needs column(s) {', '.join(missing)}; columns are {', '.join(map(str, frame.columns))}"
        )
    label = frame[list(keys)].astype(str).agg("/".join, axis=1).rename("_label")
    index = [c for c in frame.columns if c not in (*keys, values, *drop)]
    wide = frame.assign(_label=label).groupby([*index, "_label"], dropna=False)[values].first().unstack("_label")
    wide.columns = [str(c) for c in wide.columns]
    wide = wide.reset_index()
    wide.attrs = {"source": f"{source} (pivoted by {','.join(keys)})"}
    if index:
        shown = index[:4]
        named = {
            row: ", ".join(f"{c}={wide.at[row, c]}" for c in shown if pd.notna(wide.at[row, c])) for row in wide.index
        }
        wide.attrs[LOCATIONS] = {row: f"row with {text}" for row, text in named.items() if text}
    return wide
