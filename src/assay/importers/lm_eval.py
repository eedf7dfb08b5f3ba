"""lm-evaluation-harness ``--log_samples`` output.

The harness writes, per task, ``samples_<task>_<date>.jsonl`` (one line per
document and filter: ``doc_id``, ``doc``, ``target``, ``arguments``,
``resps``, ``filtered_resps``, ``filter``, ``metrics`` and each metric's
value as a top-level key) and, beside it, ``results_<date>.json`` with the
aggregates (``results[task]["<metric>,<filter>"]``), the model
(``model_name``, or ``pretrained=``/``model=`` in ``config.model_args``) and
the harness's version.

Metrics are named as the harness names them in its results, without the
filter when it is ``none``: ``exact_match`` and ``exact_match,flexible-extract``.
A task whose per-document values are not numbers (corpus-level metrics such
as BLEU keep the reference and prediction per document) has those metrics
left out, with a note.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from assay.errors import DataError
from assay.importers.common import (
    ImportedLog,
    ImportedSample,
    as_text,
    finite_number,
    flat_fields,
    iter_jsonl,
    read_json,
    require,
)

FORMAT = "lm-eval"
SAMPLES_NAME = re.compile(r"^samples_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.jsonl$")
RESULTS_NAME = re.compile(r"^results_(?P<date>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.json$")
# Keys of a sample line that are not metric values.
LINE_FIELDS = {
    "doc_id",
    "doc",
    "target",
    "arguments",
    "resps",
    "filtered_resps",
    "filter",
    "metrics",
    "doc_hash",
    "prompt_hash",
    "target_hash",
}


def sniff(path: Path) -> str | None:
    if path.is_dir():
        return "a directory, not an lm-eval samples file"
    if SAMPLES_NAME.match(path.name):
        return None
    if RESULTS_NAME.match(path.name):
        return None
    return "name is not samples_<task>_<date>.jsonl or results_<date>.json"


def metric_name(metric: str, filter_name: str) -> str:
    return metric if filter_name in ("none", "", None) else f"{metric},{filter_name}"


def _model_from(results: dict[str, Any]) -> str | None:
    if results.get("model_name"):
        return str(results["model_name"])
    config = results.get("config") or {}
    args = config.get("model_args")
    if isinstance(args, str):
        args = dict(part.split("=", 1) for part in args.split(",") if "=" in part)
    if isinstance(args, dict):
        for name in ("pretrained", "model", "path", "engine"):
            if args.get(name):
                return str(args[name])
    return str(config["model"]) if config.get("model") else None


def results_beside(samples_path: Path, task: str, date: str) -> Path | None:
    """The results file of the same run: same directory and date, else the newest naming the task."""
    same = samples_path.with_name(f"results_{date}.json")
    if same.is_file():
        return same
    candidates = sorted(p for p in samples_path.parent.glob("results_*.json") if RESULTS_NAME.match(p.name))
    for candidate in reversed(candidates):
        try:
            if task in (json.loads(candidate.read_text()).get("results") or {}):
                return candidate
        except (OSError, json.JSONDecodeError):
            continue
    return None


def samples_of_results(results_path: Path) -> list[Path]:
    """The samples files written with a results file (same directory and date)."""
    date = RESULTS_NAME.match(results_path.name)["date"]
    return sorted(p for p in results_path.parent.glob(f"samples_*_{date}.jsonl"))


def _prompt(arguments: Any) -> Any:
    """The first request's context, from either layout of ``arguments``; chat messages that
    the harness serialised to a JSON string (``--apply_chat_template``) come back as a list."""
    context = None
    if isinstance(arguments, dict) and arguments:
        first = next(iter(arguments.values()))
        if isinstance(first, dict):
            context = first.get("arg_0")
    elif isinstance(arguments, list) and arguments and isinstance(arguments[0], list) and arguments[0]:
        context = arguments[0][0]
    if isinstance(context, list) and len(context) == 1:
        context = context[0]
    if isinstance(context, str) and context.startswith("[{"):
        try:
            return json.loads(context)
        except json.JSONDecodeError:
            return context
    return context


def _output(line: dict[str, Any]) -> str | None:
    resps = line.get("resps")
    # Generation: [[text, ...repeats]]; log-likelihood: [[[logprob, is_greedy]] per choice].
    if isinstance(resps, list) and resps and isinstance(resps[0], list) and resps[0] and isinstance(resps[0][0], str):
        return resps[0][0]
    return as_text(line.get("filtered_resps"))


def read(path: Path) -> list[ImportedLog]:
    """The log(s) at ``path``: a samples file, or every samples file of a results file."""
    if RESULTS_NAME.match(path.name):
        files = samples_of_results(path)
        if not files:
            raise DataError(
                f"{path}: an lm-eval results file with no samples_<task>_{path.stem[8:]}.jsonl "
                "beside it; run the harness with --log_samples to get per-item records"
            )
        return [read_samples(p) for p in files]
    return [read_samples(path)]


def read_samples(path: Path) -> ImportedLog:
    match = SAMPLES_NAME.match(path.name)
    if match is None:
        raise DataError(f"{path}: an lm-eval samples file is named samples_<task>_<date>.jsonl")
    task, date = match["task"], match["date"]
    results_path = results_beside(path, task, date)
    if results_path is None:
        raise DataError(
            f"{path}: no results_{date}.json beside it; the harness writes the model's name and "
            "the aggregates there, so keep the two files together"
        )
    results = read_json(results_path, "an lm-eval results file")
    model = _model_from(results)
    if model is None:
        raise DataError(
            f"{results_path}: neither 'model_name' nor a model in config.model_args; "
            "cannot tell which model the samples are of"
        )
    task_results = (results.get("results") or {}).get(task) or {}
    notes: list[str] = []
    by_doc: dict[str, ImportedSample] = {}
    metrics: list[str] = []
    skipped: set[str] = set()
    repeats: set[int] = set()
    for number, line in iter_jsonl(path):
        where = f"{path} line {number}"
        doc_id = require(line, "doc_id", where, "the document's index in the task")
        filter_name = line.get("filter", "none")
        names = line.get("metrics")
        if not isinstance(names, list):
            names = [k for k in line if k not in LINE_FIELDS]
        key = str(doc_id)
        record = by_doc.get(key)
        if record is None:
            doc = line.get("doc") if isinstance(line.get("doc"), dict) else {"doc": line.get("doc")}
            fields = {"doc_id": doc_id, **{f"doc.{k}": v for k, v in flat_fields(doc).items()}, **flat_fields(doc)}
            record = by_doc[key] = ImportedSample(
                key=key,
                sample=0,
                input=doc,
                target=as_text(line.get("target")),
                output=_output(line),
                prompt=_prompt(line.get("arguments")),
                fields=fields,
                meta={"source_id": doc_id, "doc_hash": line.get("doc_hash")},
                where=where,
            )
        resps = line.get("resps")
        if isinstance(resps, list) and resps and isinstance(resps[0], list):
            repeats.add(len(resps[0]))
        for metric in names:
            if metric not in line:
                raise DataError(f"{where}: metric '{metric}' is listed in 'metrics' but has no value on the line")
            name = metric_name(metric, filter_name)
            value = finite_number(line[metric])
            if value is None:
                skipped.add(name)
                continue
            if name in record.scores and record.scores[name] != value:
                raise DataError(
                    f"{where}: document {doc_id} has a second value for '{name}' ({record.scores[name]} and {value})"
                )
            record.scores[name] = value
            if isinstance(line.get("filtered_resps"), list) and line["filtered_resps"]:
                record.answers[name] = as_text(line["filtered_resps"][0])
            if name not in metrics:
                metrics.append(name)
    if not by_doc:
        raise DataError(f"{path}: no samples in the file")
    for name in sorted(skipped):
        notes.append(f"{path}: metric '{name}' has no per-document number (a corpus-level metric); left out")
    metrics = [m for m in metrics if m not in skipped]
    aggregates = {}
    for name in metrics:
        metric, _, filter_name = name.partition(",")
        value = finite_number(task_results.get(f"{metric},{filter_name or 'none'}"))
        if value is not None:
            aggregates[name] = value
    higher = (results.get("higher_is_better") or {}).get(task) or {}
    config = results.get("config") or {}
    task_config = (results.get("configs") or {}).get(task) or {}
    provenance = {
        "tool": "lm_eval",
        "tool_version": results.get("lm_eval_version"),
        "git_hash": results.get("git_hash"),
        "results_file": str(results_path),
        "task_version": (results.get("versions") or {}).get(task),
        "n_shot": (results.get("n-shot") or {}).get(task),
        "model_args": config.get("model_args"),
        "model_type": config.get("model"),
        "generation_kwargs": task_config.get("generation_kwargs"),
        "repeats": task_config.get("repeats") or (max(repeats) if repeats else None),
        "n_samples": (results.get("n-samples") or {}).get(task),
        "date": results.get("date"),
        "chat_template": bool(results.get("chat_template")) if "chat_template" in results else None,
        "metrics": metrics,
    }
    return ImportedLog(
        path=str(path),
        format=FORMAT,
        model=model,
        task=task,
        metrics=metrics,
        samples=sorted(by_doc.values(), key=lambda s: _doc_order(s.key)),
        aggregates=aggregates,
        provenance={k: v for k, v in provenance.items() if v is not None},
        lower_is_better={
            m: not higher[m.partition(",")[0]] for m in metrics if isinstance(higher.get(m.partition(",")[0]), bool)
        },
        sources=[str(results_path)],
        notes=notes,
    )


def _doc_order(key: str) -> tuple[int, Any]:
    return (0, int(key)) if key.lstrip("-").isdigit() else (1, key)
