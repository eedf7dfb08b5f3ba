"""Write imported logs into a run directory, checked before anything is written.

Every record is keyed on (model, item, sample) with a deterministic hash, so
importing a file again finds its records already there and adds nothing. A
record that would change what is stored (the same model, item and repeat
with other scores) is refused with both sources named: two logs that
disagree are a question for the user, not something to overwrite silently.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import ConfigError, DataError
from assay.importers.common import ImportedLog, ImportedSample, file_sha256
from assay.jsonable import jsonable
from assay.records import Item, Sample, Verdict, stable_hash

# Relative tolerance for "the imported mean equals the tool's aggregate": the
# same mean summed in another order differs in the last bits, nothing more.
MATCH_TOLERANCE = 1e-9
KEY_VALUE_MAX = 80


@dataclass
class AggregateCheck:
    """The mean of the imported per-item values against the tool's own aggregate."""

    metric: str
    imported: float | None
    reported: float | None
    n: int

    @property
    def matches(self) -> bool | None:
        if self.imported is None or self.reported is None:
            return None
        return math.isclose(self.imported, self.reported, rel_tol=MATCH_TOLERANCE, abs_tol=MATCH_TOLERANCE)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "metric": self.metric,
                "imported": self.imported,
                "reported": self.reported,
                "n": self.n,
                "matches": self.matches,
            }
        )


@dataclass
class ImportedFile:
    """What one source file contributed."""

    path: str
    format: str
    model: str
    task: str
    sha256: str
    tool_version: str | None
    metrics: list[str]
    n_items: int
    n_samples: int
    n_errors: int
    n_added: int
    n_present: int
    checks: list[AggregateCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "path": self.path,
                "format": self.format,
                "model": self.model,
                "task": self.task,
                "sha256": self.sha256,
                "tool_version": self.tool_version,
                "metrics": self.metrics,
                "n_items": self.n_items,
                "n_samples": self.n_samples,
                "n_errors": self.n_errors,
                "n_added": self.n_added,
                "n_present": self.n_present,
                "checks": [c.to_dict() for c in self.checks],
                "notes": self.notes,
            }
        )


@dataclass
class ImportResult:
    """The result of ``assay import``: the run directory and what each file added."""

    run_dir: str
    metric: str | None
    key_field: str | None
    files: list[ImportedFile]
    models: list[str]
    warnings: list[str] = field(default_factory=list)

    @property
    def n_added(self) -> int:
        return sum(f.n_added for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "run_dir": self.run_dir,
                "metric": self.metric,
                "key_field": self.key_field,
                "models": self.models,
                "n_added": self.n_added,
                "files": [f.to_dict() for f in self.files],
                "warnings": self.warnings,
            }
        )

    def render(self) -> str:
        lines = [
            f"imported into {self.run_dir} (score: {self.metric or 'none'}; items keyed on "
            f"{self.key_field or 'their key in the source'})"
        ]
        for f in self.files:
            added = f"{f.n_added} added" + (f", {f.n_present} already there" if f.n_present else "")
            errors = f", {f.n_errors} failed (stored as errors, not scored)" if f.n_errors else ""
            version = f" {f.tool_version}" if f.tool_version else ""
            lines.append(
                f"  {f.path} ({f.format}{version}) model {f.model}, task {f.task}: {f.n_items} items, "
                f"{f.n_samples} samples ({added}){errors}"
            )
            for check in f.checks:
                if check.matches is None:
                    lines.append(
                        f"    {check.metric}: mean {_fmt(check.imported)} over {check.n} "
                        "(the file reports no aggregate to check it against)"
                    )
                else:
                    verdict = (
                        "matches the tool's aggregate"
                        if check.matches
                        else f"DIFFERS from the tool's aggregate {_fmt(check.reported)}"
                    )
                    lines.append(f"    {check.metric}: mean {_fmt(check.imported)} over {check.n}, {verdict}")
        for warning in self.warnings:
            lines.append(f"  warning: {warning}")
        lines.append(f"next: assay compare {self.run_dir}")
        from rich.text import Text

        # Text, not markup: paths, model names and metrics may hold square brackets.
        return Text("\n".join(lines))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def canonical_metric(name: str) -> str:
    """lm-eval writes the default filter as ``metric,none``; the import names it ``metric``."""
    return name[:-5] if name.endswith(",none") else name


def item_id(log: ImportedLog, sample: ImportedSample, key_field: str | None) -> str:
    """The item a sample is of: its key in the source, scoped to the tool and task so that
    two tools' keys never pair by accident; with ``key_field``, that field's value."""
    if key_field is None:
        return f"{log.format}:{log.task}:{sample.key}"
    if key_field not in sample.fields:
        available = ", ".join(sorted(sample.fields)) or "none"
        raise DataError(
            f"{sample.where or log.path}: no field '{key_field}' for --key-field; fields there: {available}"
        )
    value = sample.fields[key_field]
    text = value if isinstance(value, str) else json.dumps(value)
    return (
        f"{key_field}={text}" if len(text) <= KEY_VALUE_MAX and "\n" not in text else f"{key_field}#{stable_hash(text)}"
    )


def _primary(logs: list[ImportedLog], metric: str | None, previous: dict[str, Any]) -> str | None:
    scored = [log for log in logs if log.metrics]
    if metric is not None:
        metric = canonical_metric(metric)
        for log in scored:
            if metric not in log.metrics:
                raise DataError(f"{log.path}: no metric '{metric}'; metrics in the file: {', '.join(log.metrics)}")
        if not scored:
            raise DataError(f"--metric {metric}: the files hold no per-item scores")
        return metric
    chosen = (previous.get("scorers") or [None])[0] or (scored[0].metrics[0] if scored else None)
    for log in scored:
        if chosen not in log.metrics:
            raise DataError(
                f"{log.path}: its primary metric is '{log.metrics[0]}', not '{chosen}' as for the rest of "
                f"{'the run' if previous else 'the import'}; give --metric with one all files have (this one "
                f"has {', '.join(log.metrics)}), or import it into its own directory and compare the two"
            )
    return chosen


def _check_previous(out: Path, previous: dict[str, Any], key_field: str | None) -> None:
    if previous and "imports" not in previous:
        raise ConfigError(
            f"{out} holds a run made by assay run ({previous.get('task_name')}); import into "
            "another directory and give both to assay compare"
        )
    if previous and previous.get("item_key", "source") != (key_field or "source"):
        was = previous.get("item_key", "source")
        raise ConfigError(
            f"{out} keys its items on {'--key-field ' + was if was != 'source' else 'their source key'}"
            f", so items keyed on {key_field or 'their source key'} would never pair with them; "
            "use the same --key-field or another directory"
        )


def _check_tasks(logs: list[ImportedLog], previous: dict[str, Any], key_field: str | None) -> None:
    """One run, one task: items of two tasks in one run would be averaged together. Across
    tools the same benchmark may go by two names, which --key-field (pairing on content) allows."""
    if key_field is not None:
        return
    tasks = {task: "the run" for task in (previous.get("task") or {}).get("import", [])}
    for log in logs:
        tasks.setdefault(log.task, log.path)
    if len(tasks) > 1:
        listed = "; ".join(f"{task} ({where})" for task, where in tasks.items())
        raise DataError(
            f"one run directory holds one task, and these are {len(tasks)}: {listed}; import each "
            "task into its own directory (or, for one benchmark under two names, pair the items "
            "with --key-field)"
        )


def _describe(scores: dict[str, float], error: str | None) -> str:
    if error:
        return f"failed ({error[:60]})"
    return ", ".join(f"{k}={v:g}" for k, v in sorted(scores.items())) or "no scores"


def write_logs(
    logs: list[ImportedLog], out: str | Path, *, metric: str | None = None, key_field: str | None = None
) -> ImportResult:
    from assay.run.lock import acquire

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: an existing file, not a directory; give a new or existing run directory")
    # The directory's writer lock (RUN_DIR/.lock, assay.run.lock) from reading its config to writing it:
    # a run or another import into the same directory waits or fails, never mixes.
    sources = sorted(str(Path(log.path).resolve()) for log in logs)
    lock = acquire(
        out,
        key=stable_hash({"import": sources, "metric": metric, "key_field": key_field}),
        description=f"an import of {', '.join(Path(p).name for p in sources)}",
    )
    try:
        return _write_logs(logs, out, metric=metric, key_field=key_field)
    finally:
        lock.release()


def _write_logs(logs: list[ImportedLog], out: Path, *, metric: str | None, key_field: str | None) -> ImportResult:
    from assay.judge.protocols.pairwise import PAIRWISE
    from assay.provenance import environment
    from assay.run.store import RunStore, read_config, write_config

    previous = read_config(out, strict=True) if out.is_dir() else {}
    _check_previous(out, previous, key_field)
    _check_tasks(logs, previous, key_field)
    primary = _primary(logs, metric, previous)
    hashes = {p: file_sha256(p) for log in logs for p in [log.path, *log.sources]}

    # Every record of every file, checked against each other before the store is touched.
    chosen: dict[tuple[str, str, int], tuple[ImportedLog, ImportedSample, str]] = {}
    duplicates: dict[str, int] = {}
    for log in logs:
        pairs = [(log.model, s, True) for s in log.samples]
        # The other side of a pairwise log (a baseline's outputs) recurs in every log against it.
        pairs += [(name, s, False) for name, extra in log.extra_samples.items() for s in extra]
        for model, sample, own in pairs:
            item = item_id(log, sample, key_field)
            unit = (model, item, sample.sample)
            if unit in chosen:
                other_log, other, _ = chosen[unit]
                if other.scores != sample.scores or bool(other.error) != bool(sample.error):
                    raise DataError(
                        f"model {model}, item {item}, sample {sample.sample}: {other.where or other_log.path} gives "
                        f"{_describe(other.scores, other.error)}, {sample.where or log.path} gives "
                        f"{_describe(sample.scores, sample.error)}; two logs of the same model disagree, "
                        "import them into separate directories"
                    )
                if own:
                    duplicates[log.path] = duplicates.get(log.path, 0) + 1
                continue
            chosen[unit] = (log, sample, item)

    stored_by_model: dict[str, dict] = {}
    present: set[tuple[str, str, int]] = set()
    with RunStore(out, use_cache=False) as store:
        existing_items = store.items()
        for (model, item, index), (log, sample, _) in chosen.items():
            if model not in stored_by_model:
                stored_by_model[model] = store.sample_scores(model)
            stored = stored_by_model[model].get((item, index))
            if stored is None:
                continue
            _, error, params, scores = stored
            if scores != sample.scores or bool(error) != bool(sample.error):
                source = json.loads(params).get("source", "an earlier run") if params else "an earlier run"
                raise DataError(
                    f"model {model}, item {item}, sample {index}: {out} already holds {_describe(scores, error)} "
                    f"from {source}; {sample.where or log.path} gives {_describe(sample.scores, sample.error)}. "
                    "Nothing was imported; import the disagreeing log into another directory"
                )
            present.add((model, item, index))

        new_items: dict[str, Item] = {}
        for (_, item, _), (log, sample, _) in chosen.items():
            if item not in existing_items and item not in new_items:
                new_items[item] = Item(
                    item,
                    sample.input,
                    sample.target,
                    {"source": log.path, "source_key": sample.key, "task": log.task, **sample.meta},
                )
        if new_items:
            store.put_items(new_items.values())
        for (model, item, index), (log, sample, _) in chosen.items():
            if (model, item, index) in present:
                continue
            params = {"source": log.path, "format": log.format, "sha256": hashes[log.path]}
            store.record(
                stable_hash({"imported": model, "item": item, "sample": index}, length=32),
                model,
                item,
                index,
                sample.prompt if sample.prompt is not None else "",
                params,
                Sample(
                    sample.output,
                    sample.tokens_in,
                    sample.tokens_out,
                    sample.latency,
                    sample.finish_reason,
                    sample.error,
                ),
                # Imported outputs are the run's own rows; record() never puts them in the shared cache.
                {} if sample.error else {m: (v, sample.answers.get(m)) for m, v in sample.scores.items()},
            )
        for log in logs:
            by_key = {s.key: s for s in log.samples}
            for verdict in log.verdicts:
                item = item_id(log, by_key[verdict.key], key_field)
                invalid = verdict.verdict is None
                store.record_verdict(
                    Verdict(
                        key=stable_hash(
                            {
                                "imported_verdict": verdict.judge,
                                "item": item,
                                "model": verdict.baseline,
                                "model_b": verdict.model,
                            },
                            length=32,
                        ),
                        item=item,
                        model=verdict.baseline,
                        model_b=verdict.model,
                        judge=verdict.judge,
                        protocol=PAIRWISE.name,
                        order="original",
                        verdict=verdict.verdict,
                        score=None if invalid else verdict.score,
                        explanation=None,
                        invalid=invalid,
                        raw=verdict.raw,
                        template_hash=stable_hash({"imported": log.format}),
                        created=_now(),
                    )
                )
        store.flush()

    files = [_summary(log, chosen, present, hashes, duplicates.get(log.path, 0)) for log in logs]
    models = sorted({m for m, _, _ in chosen} | set(previous.get("models", [])))
    config = _config(previous, logs, files, primary, key_field, models, hashes, environment())
    write_config(out, config)
    if any(log.verdicts for log in logs):
        from assay.importers.alpacaeval import write_annotations

        write_annotations(out)
    warnings = [
        f"{f.path}: {c.metric} imported mean {_fmt(c.imported)} differs from the tool's aggregate {_fmt(c.reported)}"
        for f in files
        for c in f.checks
        if c.matches is False
    ]
    warnings += [note for log in logs for note in log.notes]
    return ImportResult(str(out), primary, key_field, files, models, warnings)


def _now() -> float:
    import time

    return time.time()


def _summary(log: ImportedLog, chosen: dict, present: set, hashes: dict[str, str], n_duplicates: int) -> ImportedFile:
    mine = [(unit, sample) for unit, (owner, sample, _) in chosen.items() if owner is log and unit[0] == log.model]
    checks = []
    for metric in log.metrics:
        values = [s.scores[metric] for s in log.samples if not s.error and metric in s.scores]
        mean = sum(values) / len(values) if values else None
        checks.append(AggregateCheck(metric, mean, log.aggregates.get(metric), len(values)))
    return ImportedFile(
        path=log.path,
        format=log.format,
        model=log.model,
        task=log.task,
        sha256=hashes[log.path],
        tool_version=log.provenance.get("tool_version"),
        metrics=log.metrics,
        n_items=len({s.key for s in log.samples}),
        n_samples=len(log.samples),
        n_errors=sum(1 for s in log.samples if s.error),
        n_added=sum(1 for unit, _ in mine if unit not in present),
        n_present=sum(1 for unit, _ in mine if unit in present) + n_duplicates,
        checks=checks,
        notes=log.notes,
    )


def _config(
    previous: dict[str, Any],
    logs: list[ImportedLog],
    files: list[ImportedFile],
    primary: str | None,
    key_field: str | None,
    models: list[str],
    hashes: dict[str, str],
    env: dict[str, Any],
) -> dict[str, Any]:
    """The run's config.json: what an analysis command needs (scorers, first is the score; models)
    and where every record came from."""
    metrics = list(
        dict.fromkeys(
            [m for m in [primary] if m] + list(previous.get("scorers") or []) + [m for log in logs for m in log.metrics]
        )
    )
    imports = {(entry["sha256"], entry["path"]): entry for entry in previous.get("imports", [])}
    for log, summary in zip(logs, files):
        imports[(summary.sha256, log.path)] = {
            "path": log.path,
            "sha256": summary.sha256,
            "format": log.format,
            "model": log.model,
            "task": log.task,
            "metrics": log.metrics,
            "aggregates": log.aggregates,
            "samples": summary.n_samples,
            "errors": summary.n_errors,
            "provenance": log.provenance,
            "sources": [{"path": p, "sha256": hashes[p]} for p in log.sources],
            "lower_is_better": log.lower_is_better,
        }
    tasks = sorted({entry["task"] for entry in imports.values()})
    return {
        "task": {"import": tasks},
        "task_name": "+".join(tasks),
        "scorers": metrics,
        "models": models,
        "item_key": key_field or "source",
        "imports": list(imports.values()),
        "provenance": {**env, "imported": True},
    }
