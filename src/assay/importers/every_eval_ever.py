"""Every Eval Ever: an aggregate ``{uuid}.json`` and its instance-level JSONL.

The aggregate (schema ``eval.schema.json``) names the model (``model_info``),
the evaluation library, and one entry per result in ``evaluation_results``
(``evaluation_name``, optional ``evaluation_result_id``, ``score_details.score``);
``detailed_evaluation_results.file_path`` points to the JSONL whose records
(schema ``instance_level_eval.schema.json``) give, per sample and result,
``sample_id``, ``input.raw``/``input.reference``, ``output.raw`` and
``evaluation.score``. A record links to its result by ``evaluation_result_id``,
else by ``evaluation_name``; each result is a metric of the import, its
aggregate score the number the import is checked against. Records of the same
sample and result after the first are further samples (repeats) of it.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import DataError
from assay.importers.common import (
    ImportedLog,
    ImportedSample,
    as_text,
    file_sha256,
    finite_number,
    flat_fields,
    iter_jsonl,
    read_json,
    require,
)

FORMAT = "every-eval-ever"


def sniff(path: Path) -> str | None:
    if path.is_dir():
        return "a directory, not an Every Eval Ever aggregate file"
    if path.suffix != ".json":
        return f"suffix {path.suffix or '(none)'} is not .json (give the aggregate .json, not the instance .jsonl)"
    with open(path, "rb") as handle:
        head = handle.read(8192).decode("utf-8", "replace")
    if all(f'"{name}"' in head for name in ("schema_version", "evaluation_id")) and (
        '"model_info"' in head or '"evaluation_results"' in head
    ):
        return None
    return "a .json file without schema_version, evaluation_id and model_info"


def instance_file(path: Path, aggregate: dict[str, Any]) -> Path:
    detailed = aggregate.get("detailed_evaluation_results") or {}
    named = detailed.get("file_path")
    candidates = []
    if named:
        candidates += (
            [Path(named)] if Path(named).is_absolute() else [path.parent / named, path.parent / Path(named).name]
        )
    candidates += [path.with_suffix(".jsonl"), path.with_name(path.stem + "_samples.jsonl")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{path}: its instance-level JSONL ({named or path.with_suffix('.jsonl').name}) is not "
        "there; assay imports per-item records, which the aggregate alone does not hold"
    )


def read(path: Path) -> ImportedLog:
    aggregate = read_json(path, "an Every Eval Ever aggregate")
    model_info = require(aggregate, "model_info", str(path), "the model evaluated")
    model = model_info.get("id") or require(model_info, "name", f"{path} model_info", "the model's name")
    results = require(aggregate, "evaluation_results", str(path), "the evaluation results")
    if not isinstance(results, list) or not results:
        raise DataError(f"{path}: evaluation_results is empty; expected one entry per evaluation result")
    metric_of: dict[str, str] = {}
    metrics: list[str] = []
    aggregates: dict[str, float] = {}
    lower: dict[str, bool] = {}
    for index, result in enumerate(results):
        where = f"{path} evaluation_results[{index}]"
        name = str(require(result, "evaluation_name", where, "the result's name"))
        metric = str(result.get("evaluation_result_id") or name)
        metric_of.setdefault(metric, metric)
        metric_of.setdefault(name, metric)
        metrics.append(metric)
        score = finite_number((result.get("score_details") or {}).get("score"))
        if score is not None:
            aggregates[metric] = score
        config = result.get("metric_config") or {}
        if isinstance(config.get("lower_is_better"), bool):
            lower[metric] = config["lower_is_better"]
    jsonl = instance_file(path, aggregate)
    samples: dict[tuple[str, int], ImportedSample] = {}
    repeats: dict[tuple[str, str], int] = {}
    for number, record in iter_jsonl(jsonl):
        where = f"{jsonl} line {number}"
        sample_id = str(require(record, "sample_id", where, "the sample's id"))
        link = record.get("evaluation_result_id") or require(
            record, "evaluation_name", where, "the result it belongs to"
        )
        if str(link) not in metric_of:
            raise DataError(
                f"{where}: result '{link}' is not among the aggregate's evaluation_results ({', '.join(metrics)})"
            )
        metric = metric_of[str(link)]
        evaluation = require(record, "evaluation", where, "the instance's score")
        score = finite_number(require(evaluation, "score", f"{where} evaluation", "the instance's score"))
        error = record.get("error")
        if score is None and not error:
            raise DataError(f"{where}: evaluation.score is {evaluation.get('score')!r}, not a number")
        index = repeats.get((sample_id, metric), 0)
        repeats[(sample_id, metric)] = index + 1
        inputs = record.get("input") or {}
        references = inputs.get("reference") or []
        sample = samples.get((sample_id, index))
        if sample is None:
            output = record.get("output") or {}
            raw_output = output.get("raw") if isinstance(output, dict) else None
            usage = record.get("token_usage") or {}
            latency = (record.get("performance") or {}).get("latency_ms")
            sample = samples[(sample_id, index)] = ImportedSample(
                key=sample_id,
                sample=index,
                input={"input": inputs.get("raw")},
                target=references[0] if len(references) == 1 else (as_text(references) if references else None),
                output=(
                    raw_output[0] if isinstance(raw_output, list) and len(raw_output) == 1 else as_text(raw_output)
                ),
                prompt=inputs.get("formatted") or inputs.get("raw") or "",
                error=as_text(error) if error else None,
                fields={
                    "sample_id": sample_id,
                    "sample_hash": record.get("sample_hash"),
                    "input": inputs.get("raw"),
                    **{f"metadata.{k}": v for k, v in flat_fields(record.get("metadata") or {}).items()},
                },
                meta={"source_id": sample_id, **({"metadata": record["metadata"]} if record.get("metadata") else {})},
                tokens_in=int(usage.get("input_tokens") or 0),
                tokens_out=int(usage.get("output_tokens") or 0),
                latency=float(latency) / 1000 if finite_number(latency) is not None else 0.0,
                where=where,
            )
        if score is not None and not error:
            sample.scores[metric] = score
            attributions = record.get("answer_attribution") or []
            if attributions and isinstance(attributions[-1], dict):
                sample.answers[metric] = as_text(attributions[-1].get("extracted_value"))
    first = results[0].get("source_data") or {}
    library = aggregate.get("eval_library") or {}
    return ImportedLog(
        path=str(path),
        format=FORMAT,
        model=str(model),
        task=str(first.get("dataset_name") or str(aggregate.get("evaluation_id", "eval")).split("/")[0]),
        metrics=[m for m in dict.fromkeys(metrics) if any(m in s.scores for s in samples.values())],
        samples=list(samples.values()),
        aggregates=aggregates,
        lower_is_better=lower,
        provenance={
            k: v
            for k, v in {
                "tool": library.get("name"),
                "tool_version": library.get("version"),
                "schema_version": aggregate.get("schema_version"),
                "evaluation_id": aggregate.get("evaluation_id"),
                "evaluation_timestamp": aggregate.get("evaluation_timestamp"),
                "source_metadata": aggregate.get("source_metadata"),
                "model_info": model_info,
            }.items()
            if v is not None
        },
        sources=[str(jsonl)],
    )


# -- export ------------------------------------------------------------------------------------------
# The schema version written: that of the published schemas the export was checked against
# (every_eval_ever/schemas/*.json, whose "version" fields read 0.2.2 and instance_level_eval_0.2.2).
SCHEMA_VERSION = "0.2.2"


@dataclass
class EveryEvalEverExport:
    """What ``assay export RUN --format every-eval-ever -o DIR`` wrote: per model, an aggregate
    ``{uuid}.json`` and its instance-level ``{uuid}.jsonl``."""

    out_dir: str
    files: dict[str, list[str]]
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": self.out_dir,
            "files": self.files,
            "rows": self.rows,
            "format": "every-eval-ever",
            "schema_version": SCHEMA_VERSION,
        }

    def render(self) -> str:
        lines = [
            f"wrote Every Eval Ever (schema {SCHEMA_VERSION}) files for {len(self.files)} models, "
            f"{self.rows} instance rows, to {self.out_dir}"
        ]
        lines += [f"  {model}: {', '.join(Path(p).name for p in paths)}" for model, paths in self.files.items()]
        from rich.text import Text

        return Text("\n".join(lines))


def _strings(mapping: dict[str, Any]) -> dict[str, str]:
    """The schema's additional_details hold strings only."""
    return {
        str(k): v if isinstance(v, str) else json.dumps(v, default=str) for k, v in mapping.items() if v is not None
    }


def export_run(run_dir: str | Path, out_dir: str | Path, *, confidence: float = 0.95) -> EveryEvalEverExport:
    """Write the run's scores in the Every Eval Ever schema, with assay's intervals in the aggregate."""
    from assay.errors import ConfigError
    from assay.run.sources import compare
    from assay.run.store import open_run, read_config, samples_frame, scores_frame

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"-o {out_dir}: an existing file; the Every Eval Ever export writes a directory")
    config = read_config(run_dir)
    with open_run(run_dir) as store:
        items = store.items()
        metrics = [
            m for m in dict.fromkeys(list(config.get("scorers") or []) + store.scorers()) if m in store.scorers()
        ]
    if not metrics:
        raise DataError(f"{run_dir}: no scores to export; Every Eval Ever records a score per instance")
    task = str(config.get("task_name") or run_dir.name)
    frame = samples_frame(run_dir)
    imports = {entry["model"]: entry for entry in config.get("imports", [])}
    summaries = {m: compare(run_dir, metric=m, confidence=confidence).models for m in metrics}
    answers = {
        m: {(r.model, r.item, r.sample): r.answer for r in scores_frame(run_dir, m).itertuples()} for m in metrics
    }
    lower = {m: v for entry in imports.values() for m, v in (entry.get("lower_is_better") or {}).items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    retrieved = f"{time.time():.0f}"
    files: dict[str, list[str]] = {}
    total = 0
    for model, rows in frame.groupby("model", sort=True):
        identity = uuid.uuid5(uuid.NAMESPACE_URL, f"assay:{task}:{model}:{file_sha256(run_dir / 'assay.db')}")
        evaluation_id = f"{task}/{model}/{retrieved}"
        lines = []
        results = []
        errors = int(rows["error"].notna().sum())
        for metric in metrics:
            column = f"score_{metric}"
            scored = rows[rows["error"].isna() & rows[column].notna()] if column in rows else rows.iloc[0:0]
            if scored.empty:
                continue
            values = scored[column].astype(float)
            binary = bool(values.isin([0.0, 1.0]).all())
            low, high = min(0.0, float(values.min())), max(1.0, float(values.max()))
            result_id = f"{task}/{metric}"
            summary = summaries[metric].get(model)
            uncertainty: dict[str, Any] = {"num_samples": int(len(values))}
            if summary is not None and summary.ci.low is not None and math.isfinite(summary.ci.low):
                uncertainty["confidence_interval"] = {
                    "lower": float(summary.ci.low),
                    "upper": float(summary.ci.high),
                    "confidence_level": confidence,
                    "method": summary.ci.method,
                }
                if summary.ci.se is not None and math.isfinite(summary.ci.se):
                    uncertainty["standard_error"] = {
                        "value": float(summary.ci.se),
                        "method": _se_method(summary.ci.method),
                    }
                uncertainty["num_samples"] = int(summary.ci.n)
            metric_config: dict[str, Any] = {
                "metric_id": metric,
                "metric_name": metric,
                "lower_is_better": bool(lower.get(metric, False)),
                "score_type": "binary" if binary else "continuous",
            }
            if not binary:
                metric_config.update(min_score=low, max_score=high)
            results.append(
                {
                    "evaluation_result_id": result_id,
                    "evaluation_name": task,
                    "source_data": {
                        "dataset_name": task,
                        "source_type": "other",
                        "additional_details": _strings({"task": config.get("task")}),
                    },
                    "metric_config": metric_config,
                    "score_details": {
                        "score": float(summary.ci.mean) if summary is not None else float(values.mean()),
                        "uncertainty": uncertainty,
                        "details": _strings(
                            {
                                "items": int(scored["item"].nunique()),
                                "samples": int(len(values)),
                                "failed_samples": errors,
                                "score": "mean over items of each item's mean over samples",
                            }
                        ),
                    },
                    **(
                        {
                            "generation_config": {
                                "generation_args": {
                                    k: config[k] for k in ("temperature", "max_tokens") if config.get(k) is not None
                                }
                            }
                        }
                        if "imports" not in config
                        else {}
                    ),
                }
            )
            for row in scored.itertuples():
                item = items.get(row.item)
                raw_input = (
                    item.input.get("input")
                    if item and isinstance(item.input.get("input"), str)
                    else json.dumps(item.input if item else {}, ensure_ascii=False)
                )
                reference = [row.target] if row.target is not None else []
                value = float(getattr(row, column))
                answer = answers[metric].get((model, row.item, row.sample))
                lines.append(
                    {
                        "schema_version": SCHEMA_VERSION,
                        "evaluation_id": evaluation_id,
                        "model_id": str(model),
                        "evaluation_name": task,
                        "evaluation_result_id": result_id,
                        "sample_id": str(row.item),
                        "sample_hash": hashlib.sha256((raw_input + json.dumps(reference)).encode()).hexdigest(),
                        "interaction_type": "single_turn",
                        "input": {"raw": raw_input, "formatted": row.prompt, "reference": reference},
                        "output": {"raw": [row.output or ""]},
                        "answer_attribution": [
                            {
                                "turn_idx": 0,
                                "source": "output.raw",
                                "extracted_value": str(answer if answer is not None else row.output or ""),
                                "extraction_method": metric,
                                "is_terminal": True,
                            }
                        ],
                        "evaluation": {"score": value, "is_correct": bool(value >= high)},
                        "token_usage": {
                            "input_tokens": int(row.tokens_in or 0),
                            "output_tokens": int(row.tokens_out or 0),
                            "total_tokens": int((row.tokens_in or 0) + (row.tokens_out or 0)),
                        },
                        "performance": {"latency_ms": float(row.latency or 0.0) * 1000},
                        "metadata": {"sample_index": str(row.sample)},
                    }
                )
        if not results:
            continue
        jsonl = out_dir / f"{identity}.jsonl"
        jsonl.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
        source = imports.get(model)
        provenance = source.get("provenance", {}) if source else {}
        library = (
            {
                "name": str(provenance.get("tool") or source["format"]),
                "version": str(provenance.get("tool_version") or "unknown"),
                "additional_details": _strings(
                    {
                        "imported_by": f"assay {_assay_version()}",
                        "source": source["path"],
                        "source_sha256": source["sha256"],
                    }
                ),
            }
            if source
            else {"name": "assay", "version": _assay_version()}
        )
        aggregate = {
            "schema_version": SCHEMA_VERSION,
            "evaluation_id": evaluation_id,
            "retrieved_timestamp": retrieved,
            "source_metadata": {
                "source_name": "assay",
                "source_type": "evaluation_run",
                "source_organization_name": "unknown",
                "evaluator_relationship": "other",
            },
            "model_info": {"name": str(model), "id": str(model)},
            "eval_library": library,
            "evaluation_results": results,
            "detailed_evaluation_results": {
                "format": "jsonl",
                "file_path": jsonl.name,
                "hash_algorithm": "sha256",
                "checksum": file_sha256(jsonl),
                "total_rows": len(lines),
            },
        }
        aggregate_path = out_dir / f"{identity}.json"
        aggregate_path.write_text(json.dumps(aggregate, indent=2, ensure_ascii=False), encoding="utf-8")
        files[str(model)] = [str(aggregate_path), str(jsonl)]
        total += len(lines)
    return EveryEvalEverExport(str(out_dir), files, total)


def _se_method(ci_method: str) -> str:
    if "bootstrap" in ci_method:
        return "bootstrap"
    return "cluster-robust" if "clustered" in ci_method else "analytic"


def _assay_version() -> str:
    from assay import __version__

    return __version__
