"""Read tabular files (JSONL, JSON, CSV/TSV, Parquet) into records that remember where they came from.

Every reader in assay goes through here, so a bad file is reported the same
way wherever it is given: ``FILE line N: ...`` (``FILE record N: ...`` for an
element of a JSON array). Each record comes with its location: ``line N`` for
JSONL and CSV/TSV (the record's first physical line, counting the header as
line 1, so quoted cells that span lines do not shift later numbers),
``record N`` for a JSON array and ``row N`` for Parquet.

CSV cells are read as text; blank cells become None. pandas and pyarrow are
imported only for Parquet files and for :func:`read_frame`.
"""

from __future__ import annotations

import csv
import gzip
import json
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

# Longest suffixes first, so that ".jsonl.gz" wins over ".gz".
SUFFIXES = {
    ".jsonl.gz": "jsonl",
    ".ndjson.gz": "jsonl",
    ".json.gz": "json",
    ".csv.gz": "csv",
    ".tsv.gz": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
SUPPORTED = ".jsonl, .jsonl.gz, .json, .csv, .tsv or .parquet"

_KIND_NAMES = {"jsonl": "JSONL", "json": "JSON", "csv": "CSV", "tsv": "TSV", "parquet": "Parquet"}


def file_kind(path: str | Path) -> str:
    """``jsonl``, ``json``, ``csv``, ``tsv`` or ``parquet`` from the file name; DataError otherwise."""
    path = Path(path)
    name = path.name.lower()
    for suffix, kind in SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    suffixes = [s.lower() for s in path.suffixes]
    shown = "".join(suffixes[-2:]) if suffixes[-1:] == [".gz"] else "".join(suffixes[-1:])
    found = f"'{shown}'" if shown else "(no suffix)"
    raise DataError(f"{path}: unsupported file type {found}; use {SUPPORTED}")


def read_records(path: str | Path, *, what: str = "table") -> tuple[list[dict[str, Any]], list[str]]:
    """The file's records and, for each, where it is in the file (``line 12``, ``record 3``, ``row 3``).

    ``what`` names the file in the messages for a missing path or a directory
    (``"verdicts file x.csv does not exist"``).
    """
    path = _checked(path, what)
    kind = file_kind(path)
    if kind == "parquet":
        return _read_parquet_records(path)
    records, locations, _ = _read_text(path, kind)
    return records, locations


def read_frame(path: str | Path, *, what: str = "table") -> pd.DataFrame:
    """The file as a DataFrame with ``attrs["source"]`` (the path) and ``attrs["locations"]`` (one per row).

    CSV/TSV keep the header's columns even without rows; Parquet keeps its
    column types.
    """
    import pandas as pd

    path = _checked(path, what)
    kind = file_kind(path)
    if kind == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise DataError(f"{path}: cannot read as Parquet ({exc})") from exc
        locations = _rows(len(frame))
    else:
        records, locations, columns = _read_text(path, kind)
        frame = pd.DataFrame.from_records(records, columns=columns)
    frame.attrs["source"] = str(path)
    frame.attrs["locations"] = locations
    return frame


# --------------------------------------------------------------------------- readers


def _checked(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{what} file {path} does not exist")
    if path.is_dir():
        raise DataError(f"{what} file {path} is a directory, not a table")
    return path


def _rows(n: int) -> list[str]:
    return [f"row {i + 1}" for i in range(n)]


def _open_text(path: Path):
    # newline="" so the csv module sees quoted line breaks as they are; utf-8-sig drops a byte-order mark.
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


def _read_text(path: Path, kind: str) -> tuple[list[dict[str, Any]], list[str], list[str] | None]:
    """Records, locations and (for CSV/TSV) the header's columns of a text file."""
    try:
        with _open_text(path) as handle:
            if kind == "jsonl":
                return (*_jsonl(path, handle), None)
            if kind == "json":
                return (*_json_array(path, handle), None)
            return _delimited(path, handle, "\t" if kind == "tsv" else ",")
    except (UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
        # zlib.error: a .gz whose compressed data is damaged (gzip raises OSError only for a bad header).
        packed = " compressed with gzip" if path.name.lower().endswith(".gz") else ""
        raise DataError(
            f"{path}: cannot read as {_KIND_NAMES[kind]}{packed} ({exc}); the file is damaged or not what its name says"
        ) from exc


def _invalid_json(path: Path, line: int, exc: json.JSONDecodeError) -> DataError:
    return DataError(f"{path} line {line}: invalid JSON at column {exc.colno}: {exc.msg}")


def _jsonl(path: Path, handle) -> tuple[list[dict[str, Any]], list[str]]:
    records: list[dict[str, Any]] = []
    locations: list[str] = []
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _invalid_json(path, number, exc) from exc
        if not isinstance(record, dict):
            raise DataError(f"{path} line {number}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
        locations.append(f"line {number}")
    return records, locations


def _json_array(path: Path, handle) -> tuple[list[dict[str, Any]], list[str]]:
    try:
        data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise _invalid_json(path, exc.lineno, exc) from exc
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON array of objects, got {type(data).__name__}")
    for number, record in enumerate(data, start=1):
        if not isinstance(record, dict):
            raise DataError(f"{path} record {number}: expected a JSON object, got {type(record).__name__}")
    return data, [f"record {i + 1}" for i in range(len(data))]


def _delimited(path: Path, handle, delimiter: str) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    # The csv module (not pandas) so that each record's first physical line is
    # known even when quoted cells span several lines.
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path}: the file is empty; expected a header line") from None
    except csv.Error as exc:
        raise DataError(f"{path} line 1: {exc}") from exc
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        dupes = sorted({h for h in header if header.count(h) > 1})
        raise DataError(f"{path} line 1: column name(s) {', '.join(dupes)} appear more than once")
    records: list[dict[str, Any]] = []
    locations: list[str] = []
    previous_end = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(f"{path} line {reader.line_num}: {exc}") from exc
        start = previous_end + 1
        previous_end = reader.line_num
        if not row or all(cell.strip() == "" for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(
                f"{path} line {start}: {len(row)} fields, but the header has {len(header)} ({', '.join(header)})"
            )
        records.append({h: (cell if cell.strip() != "" else None) for h, cell in zip(header, row)})
        locations.append(f"line {start}")
    return records, locations, header


def _read_parquet_records(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    import pyarrow.parquet as pq

    try:
        records = pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise DataError(f"{path}: cannot read as Parquet ({exc})") from exc
    return records, _rows(len(records))
