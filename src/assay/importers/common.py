"""What every importer produces, and the helpers they share.

An importer reads one tool's file (or run directory) and returns an
:class:`ImportedLog`: the model, the task, the metrics in the tool's order
(first is its primary one), one :class:`ImportedSample` per item and repeat,
the tool's own aggregate per metric (so the import can be checked against it)
and the provenance the file records. Writing the log into a run directory is
the same for every format (``assay.importers.write``).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from assay.errors import DataError


@dataclass
class ImportedSample:
    """One item's response (one repeat of it) as the tool recorded it.

    ``key`` is the item's key in its source (sample id, doc id, instance id);
    ``fields`` are the values ``--key-field`` may name instead. ``scores``
    holds every numeric metric; ``answers`` what a scorer extracted, when the
    tool says. ``error`` marks a sample that failed: it is stored but never
    scored, so it cannot count as a wrong answer.
    """

    key: str
    sample: int
    input: dict[str, Any]
    target: str | None
    output: str | None
    scores: dict[str, float] = field(default_factory=dict)
    answers: dict[str, str | None] = field(default_factory=dict)
    prompt: Any = None
    error: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    latency: float = 0.0
    finish_reason: str | None = None
    where: str = ""


@dataclass
class ImportedVerdict:
    """A judge's pairwise preference between a model's output and a baseline's."""

    key: str
    model: str
    baseline: str
    judge: str
    verdict: str | None
    score: float
    raw: str | None = None


@dataclass
class ImportedLog:
    """One source file's results, in the tool's own terms."""

    path: str
    format: str
    model: str
    task: str
    metrics: list[str]
    samples: list[ImportedSample]
    aggregates: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    lower_is_better: dict[str, bool] = field(default_factory=dict)
    verdicts: list[ImportedVerdict] = field(default_factory=list)
    # Outputs of the other side of a pairwise comparison (AlpacaEval's baseline).
    extra_samples: dict[str, list[ImportedSample]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file; of a directory (a HELM run), of its files' names and digests."""
    if Path(path).is_dir():
        listing = "".join(f"{p.name}\t{file_sha256(p)}\n" for p in sorted(Path(path).iterdir()) if p.is_file())
        return hashlib.sha256(listing.encode("utf-8")).hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: Path, what: str) -> Any:
    """A whole JSON file, or DataError naming the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); expected {what}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        ending = " (the file ends early: truncated?)" if exc.pos >= len(text.rstrip()) else ""
        raise DataError(
            f"{path} line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}{ending}; expected {what}"
        ) from exc


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; DataError at the first bad line."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                truncated = " (the last line ends early: truncated file?)" if not line.endswith("\n") else ""
                raise DataError(f"{path} line {number}: not valid JSON: {exc.msg}{truncated}") from exc
            if not isinstance(value, dict):
                raise DataError(f"{path} line {number}: expected a JSON object, found {type(value).__name__}")
            yield number, value


def as_text(value: Any) -> str | None:
    """A target or output as text: strings as they are, lists joined, others as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value[0] if len(value) == 1 else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, default=str)


def finite_number(value: Any) -> float | None:
    """A real number (bools count as 0/1), or None for anything else or NaN."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(float(value)):
        return float(value)
    return None


def require(mapping: Any, key: str, where: str, what: str) -> Any:
    """``mapping[key]``, or DataError saying which field is missing where."""
    if not isinstance(mapping, dict):
        raise DataError(f"{where}: expected a JSON object with '{key}', found {type(mapping).__name__}")
    if key not in mapping:
        found = ", ".join(list(mapping)[:12]) or "none"
        raise DataError(f"{where}: no '{key}' field ({what}); fields found: {found}")
    return mapping[key]


def flat_fields(value: Any, prefix: str = "") -> dict[str, Any]:
    """Scalars of a nested dict under dotted names, for ``--key-field``."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, inner in value.items():
            name = f"{prefix}{key}"
            if isinstance(inner, dict):
                out.update(flat_fields(inner, name + "."))
            elif isinstance(inner, (str, int, float, bool)) or inner is None:
                out[name] = inner
    return out
