"""Inspect AI logs: ``.eval`` (a zip archive) and ``.json``, read directly.

An ``.eval`` archive holds ``header.json`` (the log without its samples:
spec, plan, results, stats), one ``samples/<id>_epoch_<n>.json`` per sample
and epoch, and ``_journal/start.json`` (spec and plan, written first, so a log
cut short still says what ran). A ``.json`` log is the same object in one
file with a ``samples`` list. Reading them with the standard library keeps
assay free of a dependency on ``inspect_ai``.

Score values follow Inspect's own conversion to numbers (``value_to_float``):
C/I/P/N are 1/0/0.5/0, "yes"/"true" 1, "no"/"false" 0, numeric strings and
numbers as they are; a dict value gives one metric per key. With those
values, the mean over samples reproduces Inspect's ``accuracy`` and ``mean``
metrics, which the import checks.
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

from assay.errors import DataError
from assay.importers.common import ImportedLog, ImportedSample, as_text, finite_number, flat_fields, read_json, require

FORMAT = "inspect"
# Inspect's letter grades (CORRECT, INCORRECT, PARTIAL, NOANSWER) as numbers.
GRADES = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}
AGGREGATE_METRICS = ("accuracy", "mean")


def sniff(path: Path) -> str | None:
    """None when ``path`` looks like an Inspect log, else why it does not."""
    if path.is_dir():
        return "a directory, not an Inspect log file"
    if path.suffix == ".eval":
        return None if zipfile.is_zipfile(path) or path.stat().st_size > 0 else "an empty file"
    if path.suffix != ".json":
        return f"suffix {path.suffix or '(none)'} is neither .eval nor .json"
    with open(path, "rb") as handle:
        head = handle.read(4096).decode("utf-8", "replace")
    if '"eval"' in head and ('"version"' in head or '"status"' in head):
        return None
    return "a .json file without Inspect's 'version', 'status' and 'eval' fields at its top"


def score_value(value: Any) -> float | None:
    """Inspect's ``value_to_float``: None where it would warn and count 0."""
    number = finite_number(value)
    if number is not None:
        return number
    if isinstance(value, str):
        if value in GRADES:
            return GRADES[value]
        lowered = value.strip().lower()
        if lowered in ("yes", "true"):
            return 1.0
        if lowered in ("no", "false"):
            return 0.0
        try:
            return float(lowered)
        except ValueError:
            return None
    return None


def _content_text(content: Any) -> str | None:
    """A message's content as text (a list of parts keeps its text parts)."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            part.get("text") or part.get("reasoning") or ""
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", None)
        ]
        return "".join(parts)
    return as_text(content)


def _resolve(value: Any, attachments: dict[str, str]) -> Any:
    """Replace ``attachment://HASH`` references (Inspect moves long texts there)."""
    if isinstance(value, str) and value.startswith("attachment://"):
        return attachments.get(value[len("attachment://") :], value)
    if isinstance(value, list):
        return [_resolve(v, attachments) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, attachments) for k, v in value.items()}
    return value


def _output_text(output: Any) -> str | None:
    if not isinstance(output, dict):
        return None
    if isinstance(output.get("completion"), str):
        return output["completion"]
    choices = output.get("choices") or []
    if choices and isinstance(choices[0], dict):
        return _content_text((choices[0].get("message") or {}).get("content"))
    return None


def _sample(raw: dict[str, Any], where: str, notes: list[str]) -> ImportedSample:
    raw = _resolve(raw, raw.get("attachments") or {})
    key = require(raw, "id", where, "the sample's id")
    epoch = raw.get("epoch", 1)
    if not isinstance(epoch, int) or epoch < 1:
        raise DataError(f"{where}: field 'epoch' is {epoch!r}; expected an integer from 1")
    prompt = raw.get("input")
    text_input = (
        prompt
        if isinstance(prompt, str)
        else _content_text(
            next(
                (m.get("content") for m in reversed(prompt or []) if isinstance(m, dict) and m.get("role") == "user"),
                None,
            )
        )
    )
    output = raw.get("output") or {}
    usage = output.get("usage") or {} if isinstance(output, dict) else {}
    error = raw.get("error")
    if isinstance(error, dict):
        error = error.get("message") or json.dumps(error)
    scores: dict[str, float] = {}
    answers: dict[str, str | None] = {}
    if not error:
        for scorer, score in (raw.get("scores") or {}).items():
            if not isinstance(score, dict) or "value" not in score:
                raise DataError(f"{where}: score '{scorer}' has no 'value' field")
            value = score["value"]
            named = value.items() if isinstance(value, dict) else [(None, value)]
            for part, part_value in named:
                metric = scorer if part is None else f"{scorer}.{part}"
                number = score_value(part_value)
                if number is None:
                    # Inspect warns and counts such a value as 0; so do we, and say so.
                    notes.append(
                        f"{where}: score '{metric}' value {part_value!r} is not a grade or number; "
                        "counted as 0, as Inspect does"
                    )
                    number = 0.0
                scores[metric] = number
                answers[metric] = as_text(score.get("answer"))
    fields = {"id": key, "input": text_input, "target": as_text(raw.get("target"))}
    fields.update({f"metadata.{k}": v for k, v in flat_fields(raw.get("metadata") or {}).items()})
    meta = {"source_id": key}
    if raw.get("metadata"):
        meta["metadata"] = raw["metadata"]
    return ImportedSample(
        key=str(key),
        sample=epoch - 1,
        input={"input": text_input} if text_input is not None else {},
        target=as_text(raw.get("target")),
        output=_output_text(output),
        scores=scores,
        answers=answers,
        prompt=prompt,
        error=str(error) if error else None,
        fields=fields,
        meta=meta,
        tokens_in=int(usage.get("input_tokens") or 0),
        tokens_out=int(usage.get("output_tokens") or 0),
        latency=float(output.get("time") or raw.get("total_time") or 0.0) if isinstance(output, dict) else 0.0,
        finish_reason=((output.get("choices") or [{}])[0] or {}).get("stop_reason")
        if isinstance(output, dict)
        else None,
        where=where,
    )


ZSTD = 93  # the zip method number of Zstandard, which recent Inspect versions write


def _zstd_decompress(data: bytes, size: int) -> bytes:
    try:
        from compression import zstd  # Python 3.14 and later

        return zstd.decompress(data)
    except ImportError:
        import zstandard

        return zstandard.ZstdDecompressor().decompress(data, max_output_size=max(size, 1))


def _member_bytes(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes; zstd members (which zipfile reads only from Python 3.14) are
    read from their local header and checked against their CRC as zipfile would."""
    if info.compress_type != ZSTD:
        return archive.read(info)
    handle = archive.fp
    handle.seek(info.header_offset)
    header = handle.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    handle.seek(info.header_offset + 30 + name_length + extra_length)
    data = handle.read(info.compress_size)
    if len(data) < info.compress_size:
        raise zipfile.BadZipFile(f"{info.filename} ends early")
    try:
        content = _zstd_decompress(data, info.file_size)
    except ImportError as exc:
        raise DataError(
            f"{info.filename} is zstd-compressed and neither Python's compression.zstd nor the "
            "zstandard package is here; pip install zstandard"
        ) from exc
    except Exception as exc:  # zstandard.ZstdError and compression.zstd.ZstdError share no public base
        raise zipfile.BadZipFile(f"{info.filename}: {exc}") from exc
    if zlib.crc32(content) != info.CRC:
        raise zipfile.BadZipFile(f"CRC check failed for {info.filename}")
    return content


def _read_eval_archive(path: Path) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """(header, [(member name, sample)]) of a ``.eval`` zip archive."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise DataError(
            f"{path}: not a complete zip archive ({exc}); an Inspect .eval log is a zip file, "
            "and this one is truncated or damaged"
        ) from exc
    with archive:
        names = archive.namelist()

        def member(name: str) -> Any:
            try:
                data = _member_bytes(archive, archive.getinfo(name))
            except NotImplementedError as exc:
                raise DataError(
                    f"{path}: member {name} uses a compression this Python cannot read ({exc}); "
                    "convert it with `inspect log convert --to json`"
                ) from exc
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
                raise DataError(f"{path}: member {name} is damaged ({exc}); the archive is truncated?") from exc
            try:
                return json.loads(data)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path}: member {name} line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}"
                ) from exc

        if "header.json" in names:
            header = member("header.json")
        elif "_journal/start.json" in names:
            # The run stopped before Inspect wrote its header: spec and plan only.
            header = member("_journal/start.json")
            header.setdefault("status", "started")
        else:
            raise DataError(
                f"{path}: a zip archive without header.json or _journal/start.json; not an Inspect .eval log"
            )
        samples = [
            (name, member(name)) for name in sorted(names) if name.startswith("samples/") and name.endswith(".json")
        ]
    return header, samples


def read(path: Path) -> ImportedLog:
    """The log at ``path`` as an :class:`ImportedLog`."""
    if path.suffix == ".eval":
        header, raw_samples = _read_eval_archive(path)
        located = [(f"{path} member {name}", sample) for name, sample in raw_samples]
    else:
        header = read_json(path, "an Inspect log")
        located = [(f"{path} samples[{i}]", sample) for i, sample in enumerate(header.get("samples") or [])]
    eval_spec = require(header, "eval", str(path), "the log's spec")
    model = require(eval_spec, "model", f"{path} eval", "the model evaluated")
    task = require(eval_spec, "task", f"{path} eval", "the task's name")
    results = header.get("results") or {}
    scorer_names = [s.get("name") for s in eval_spec.get("scorers") or [] if isinstance(s, dict)]
    result_scores = [s for s in results.get("scores") or [] if isinstance(s, dict)]
    notes: list[str] = []
    samples = [_sample(raw, where, notes) for where, raw in located]
    if not samples:
        raise DataError(
            f"{path}: an Inspect log without samples (status {header.get('status')}); "
            "per-item records need a log written with samples (not --no-log-samples)"
        )
    if header.get("status") not in (None, "success"):
        notes.append(
            f"{path}: the log's status is '{header.get('status')}', not 'success'"
            + (f" ({header['error'].get('message')})" if isinstance(header.get("error"), dict) else "")
        )
    seen = list(dict.fromkeys(metric for s in samples for metric in s.scores))
    # The first scorer is Inspect's primary one; metrics of dict-valued scorers follow their scorer.
    order = [
        m
        for name in scorer_names + [s.get("name") for s in result_scores]
        for m in seen
        if m == name or m.startswith(f"{name}.")
    ]
    metrics = list(dict.fromkeys(order + seen))
    aggregates: dict[str, float] = {}
    for score in result_scores:
        for metric_name in AGGREGATE_METRICS:
            value = ((score.get("metrics") or {}).get(metric_name) or {}).get("value")
            if score.get("name") in metrics and finite_number(value) is not None:
                aggregates.setdefault(score["name"], float(value))
    if len({s.sample for s in samples}) > 1:
        # With epochs, Inspect reduces each sample's epochs first (mean by default), then averages;
        # that equals the plain mean only when every sample has every epoch.
        reducers = {s.get("reducer") for s in result_scores}
        if reducers - {None, "mean"}:
            aggregates = {}
            notes.append(
                f"{path}: epochs are reduced with {', '.join(sorted(r for r in reducers if r))}; "
                "the per-epoch values are imported, the aggregate check is skipped"
            )
    provenance = {
        "tool": "inspect_ai",
        "tool_version": (eval_spec.get("packages") or {}).get("inspect_ai"),
        "log_version": header.get("version"),
        "status": header.get("status"),
        "task_version": eval_spec.get("task_version"),
        "task_file": eval_spec.get("task_file"),
        "task_args": eval_spec.get("task_args"),
        "created": eval_spec.get("created"),
        "eval_id": eval_spec.get("eval_id"),
        "run_id": eval_spec.get("run_id"),
        "dataset": eval_spec.get("dataset"),
        "model_base_url": eval_spec.get("model_base_url"),
        "generate_config": eval_spec.get("model_generate_config") or (header.get("plan") or {}).get("config"),
        "epochs": (eval_spec.get("config") or {}).get("epochs"),
        "scorers": scorer_names,
        "revision": eval_spec.get("revision"),
    }
    return ImportedLog(
        path=str(path),
        format=FORMAT,
        model=str(model),
        task=str(task),
        metrics=metrics,
        samples=samples,
        aggregates=aggregates,
        provenance={k: v for k, v in provenance.items() if v is not None},
        notes=notes,
    )
