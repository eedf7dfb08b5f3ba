"""The shared reader for JSONL, JSON, CSV/TSV and Parquet files."""

import gzip
import json
import subprocess
import sys

import pandas as pd
import pytest

from assay.errors import DataError
from assay.tables import read_frame, read_records

ROWS = [{"item": "a", "score": 1}, {"item": "b", "score": 0}]


def test_jsonl_skips_blank_lines_and_counts_them(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n\n" + json.dumps(ROWS[1]) + "\n")
    assert read_records(path) == (ROWS, ["line 1", "line 3"])
    ndjson = tmp_path / "s.ndjson"
    ndjson.write_text(path.read_text())
    assert read_records(ndjson) == (ROWS, ["line 1", "line 3"])


def test_jsonl_gz(tmp_path):
    path = tmp_path / "s.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in ROWS))
    assert read_records(path) == (ROWS, ["line 1", "line 2"])


def test_damaged_gz_is_a_data_error(tmp_path):
    good = tmp_path / "good.jsonl.gz"
    with gzip.open(good, "wt", encoding="utf-8") as handle:
        handle.write("".join(json.dumps({"input": f"q{i}", "target": str(i)}) + "\n" for i in range(200)))
    packed = good.read_bytes()
    damaged = {
        # Compressed data overwritten (zlib.error from the deflate stream), cut short (EOFError), bad header (OSError).
        "middle": packed[:20] + b"\xff" * 16 + packed[36:],
        "truncated": packed[: len(packed) // 2],
        "header": b"\x1f\x8b\x99" + packed[3:],
    }
    for name, data in damaged.items():
        for suffix, kind in ((".jsonl.gz", "JSONL"), (".csv.gz", "CSV")):
            path = tmp_path / f"{name}{suffix}"
            path.write_bytes(data)
            with pytest.raises(
                DataError, match=rf"{name}{suffix.replace('.', '[.]')}: cannot read as {kind} compressed"
            ):
                read_records(path)
    with pytest.raises(DataError, match=r"middle\.jsonl\.gz: cannot read as JSONL compressed with gzip .*damaged"):
        read_frame(tmp_path / "middle.jsonl.gz")


def test_json_array(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(ROWS, indent=2))
    assert read_records(path) == (ROWS, ["record 1", "record 2"])
    path.write_text(json.dumps({"rows": ROWS}))
    with pytest.raises(DataError, match=r"s\.json: expected a JSON array of objects, got dict"):
        read_records(path)
    path.write_text(json.dumps([ROWS[0], [1, 2]]))
    with pytest.raises(DataError, match=r"s\.json record 2: expected a JSON object, got list"):
        read_records(path)
    path.write_text('[\n  {"item": "a"},\n  {"item": }\n]\n')
    with pytest.raises(DataError, match=r"s\.json line 3: invalid JSON at column 12: Expecting value"):
        read_records(path)


def test_csv_and_tsv_are_text_with_blank_cells_as_none(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("item,score,note\na,1,\nb,0,  \n")
    records, locations = read_records(path)
    assert records == [{"item": "a", "score": "1", "note": None}, {"item": "b", "score": "0", "note": None}]
    assert locations == ["line 2", "line 3"]
    tsv = tmp_path / "s.tsv"
    tsv.write_text("item\tscore\na\t1\n")
    assert read_records(tsv) == ([{"item": "a", "score": "1"}], ["line 2"])
    packed = tmp_path / "s.csv.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as handle:
        handle.write("item,score\na,1\n")
    assert read_records(packed) == ([{"item": "a", "score": "1"}], ["line 2"])


def test_csv_line_numbers_stay_right_after_multi_line_cells(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text('item,text\na,"one\ntwo\nthree"\n\nb,plain\nc,"x\ny"\nd,last\n')
    records, locations = read_records(path)
    assert [r["item"] for r in records] == ["a", "b", "c", "d"]
    assert records[0]["text"] == "one\ntwo\nthree"
    assert locations == ["line 2", "line 6", "line 7", "line 9"]


def test_csv_field_count_and_header_errors(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text('item,score\na,1\nb,"2\n3",extra\n')
    with pytest.raises(DataError, match=r"s\.csv line 3: 3 fields, but the header has 2 \(item, score\)"):
        read_records(path)
    path.write_text("item,score,item\na,1,2\n")
    with pytest.raises(DataError, match=r"s\.csv line 1: column name\(s\) item appear more than once"):
        read_records(path)
    path.write_text("")
    with pytest.raises(DataError, match=r"s\.csv: the file is empty; expected a header line"):
        read_records(path)


def test_jsonl_errors_name_file_and_line(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"item": "a"}\n{"item": }\n')
    with pytest.raises(DataError, match=r"data\.jsonl line 2: invalid JSON at column 10: Expecting value"):
        read_records(path)
    path.write_text('{"item": "a"}\n\n["item", "b"]\n')
    with pytest.raises(DataError, match=r"data\.jsonl line 3: expected a JSON object, got list"):
        read_records(path)


def test_parquet(tmp_path):
    path = tmp_path / "s.parquet"
    pd.DataFrame(ROWS).to_parquet(path)
    assert read_records(path) == (ROWS, ["row 1", "row 2"])
    frame = read_frame(path)
    assert frame["score"].dtype.kind == "i"
    assert frame.attrs == {"source": str(path), "locations": ["row 1", "row 2"]}
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(DataError, match=r"bad\.parquet: cannot read as Parquet"):
        read_records(bad)


def test_read_frame_carries_source_and_locations(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text('item,text\na,"x\ny"\nb,z\n')
    frame = read_frame(path)
    assert list(frame.columns) == ["item", "text"]
    assert frame.attrs == {"source": str(path), "locations": ["line 2", "line 4"]}
    path.write_text("item,text\n")
    assert list(read_frame(path).columns) == ["item", "text"]  # the header's columns even without rows


def test_unsupported_missing_and_directory(tmp_path):
    path = tmp_path / "s.xyz"
    path.write_text("a")
    message = r"s\.xyz: unsupported file type '\.xyz'; use \.jsonl, \.jsonl\.gz, \.json, \.csv, \.tsv or \.parquet"
    with pytest.raises(DataError, match=message):
        read_records(path)
    with pytest.raises(DataError, match=r"unsupported file type '\.txt\.gz'"):
        (tmp_path / "s.txt.gz").write_text("a")
        read_records(tmp_path / "s.txt.gz")
    with pytest.raises(DataError, match=r"verdicts file .*nope\.csv does not exist"):
        read_records(tmp_path / "nope.csv", what="verdicts")
    with pytest.raises(DataError, match=r"is a directory, not a table"):
        read_records(tmp_path)


def test_not_utf8_is_a_data_error(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b"item\n\xff\xfe\n")
    with pytest.raises(DataError, match=r"s\.csv: cannot read as CSV"):
        read_records(path)


def test_text_formats_do_not_import_pandas(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("item\na\n")
    code = (
        "import sys; from assay.tables import read_records; "
        f"read_records({str(path)!r}); import assay.tasks.loaders; "
        "print([m for m in ('pandas', 'pyarrow') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
