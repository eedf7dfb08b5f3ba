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
    frame = _read_plain_csv(path, kind) if kind in ("csv", "tsv") else None
    if frame is None:
        frame = read_frame(path, what="scaling table")
    locations = list(frame.attrs.get("locations") or [])
    # pandas deep-copies attrs into every intermediate result: set them once the columns are typed.
    trimmed = frame.attrs.get("trimmed") or [False] * frame.shape[1]
    frame.attrs = {}
    if kind in ("csv", "tsv"):
        frame = pd.DataFrame(
            {name: _typed(frame[name], trimmed=done) for name, done in zip(frame.columns, trimmed)}, index=frame.index
        )
    frame.attrs["source"] = str(path)
    frame.attrs.pop("locations", None)
    if len(locations) == len(frame):
        frame.attrs[LOCATIONS] = dict(zip(frame.index, locations))
    return frame


def _read_plain_csv(path: Path, kind: str) -> pd.DataFrame | None:
    """A CSV/TSV file read by pyarrow, every cell as text, when each record is one line:
    record i is then on line i + 2 and the frame can say so. None (read it the careful
    way, which names the line of any problem) for anything else: quoted line breaks,
    blank lines, a ragged row, a compressed file, an unusual header."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    if path.name.lower().endswith(".gz"):
        return None
    delimiter = "\t" if kind == "tsv" else ","
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle, delimiter=delimiter), None)
        data = path.read_bytes()
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not header or len({h.strip() for h in header}) != len(header):
        return None
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException, ValueError):
        return None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines != table.num_rows + 1:
        return None  # blank lines or line breaks inside quotes: positions would not be lines
    import pyarrow.compute as pc

    # Cells without surrounding blanks (the usual case) need no stripping when typed.
    frame = table.to_pandas()
    frame.columns = [h.strip() for h in header]
    frame.attrs["trimmed"] = [
        bool(pc.all(pc.equal(column, pc.utf8_trim_whitespace(column))).as_py() is not False) for column in table.columns
    ]
    frame.attrs["source"] = str(path)
    frame.attrs["locations"] = [f"line {i + 2}" for i in range(len(frame))]
    return frame


def _typed(column: pd.Series, trimmed: bool = False) -> pd.Series:
    """A CSV column of text as numbers or booleans when every value is one (missing values allowed).
    ``trimmed``: no value has blanks around it, so none needs stripping."""
    values = column.astype(object)
    stripped = values if trimmed else values.map(lambda v: v.strip() if isinstance(v, str) else v)
    missing = values.isna() | stripped.isin(NA_STRINGS)
    text = values.where(~missing, None)
    present = stripped[~missing]
    # A text column usually shows itself in its first values; parsing them first spares
    # converting every value of it (most of the time a large table takes).
    if pd.to_numeric(present.head(32), errors="coerce").notna().all():
        numbers = pd.to_numeric(stripped.where(~missing, None), errors="coerce")
        if (numbers.notna() | missing).all():
            return numbers
    lowered = present.str.lower()
    if present.size and present.size == len(text) and lowered.isin(("true", "false")).all():
        return lowered == "true"
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
    # pandas deep-copies attrs (the row locations) into every intermediate result.
    frame = frame.copy(deep=False)
    frame.attrs = {}
    label = frame[keys[0]].astype(str)
    for key in keys[1:]:
        label = label + "/" + frame[key].astype(str)
    index = [c for c in frame.columns if c not in (*keys, values, *drop)]
    wide = (
        frame.assign(_label=label.rename("_label"))
        .groupby([*index, "_label"], dropna=False)[values]
        .first()
        .unstack("_label")
    )
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
