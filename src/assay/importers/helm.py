"""HELM run directories (``benchmark_output/runs/<suite>/<run>/``).

``per_instance_stats.json`` lists, per instance and train trial, HELM's
``Stat`` objects (``name: {name, split, perturbation?}``, ``count``, ``sum``,
``mean`` ...); ``run_spec.json`` names the model (``adapter_spec.model``);
``stats.json`` holds the aggregates the import is checked against;
``instances.json`` and ``display_predictions.json``, when present, give the
inputs, references and predictions.

Instances of the test split are imported (the split HELM reports), or of the
only split there is. A perturbed variant of an instance (HELM's robustness and
fairness augmentations) is a separate item, and its metrics are named with the
perturbation (``exact_match~typos``), so the default score is that of the
unperturbed instances, as HELM's headline number is. The train trial is the
sample index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assay.errors import DataError
from assay.importers.common import ImportedLog, ImportedSample, finite_number, read_json, require

FORMAT = "helm"
PRIMARY = "exact_match"
# Fields of a perturbation description that say what kind it is rather than which variant.
PERTURBATION_FLAGS = {"name", "robustness", "fairness", "computed_on"}


def run_dir(path: Path) -> Path:
    return path.parent if path.name == "per_instance_stats.json" else path


def sniff(path: Path) -> str | None:
    directory = run_dir(path)
    if not directory.is_dir():
        return "not a HELM run directory (nor its per_instance_stats.json)"
    missing = [n for n in ("per_instance_stats.json", "run_spec.json") if not (directory / n).is_file()]
    if missing:
        return f"a directory without {' and '.join(missing)}"
    return None


def perturbation_tag(perturbation: dict[str, Any] | None) -> str | None:
    """``typos`` or ``typos(prob=0.1)``: which variant of an instance this is."""
    if not perturbation:
        return None
    name = str(perturbation.get("name", "perturbed"))
    params = {k: v for k, v in perturbation.items() if k not in PERTURBATION_FLAGS}
    return name if not params else name + "(" + ",".join(f"{k}={params[k]}" for k in sorted(params)) + ")"


def task_name(run_spec: dict[str, Any]) -> str:
    """The run's name without its model, so two models' runs of one scenario share it."""
    name = str(run_spec.get("name", "helm"))
    scenario, _, args = name.partition(":")
    kept = [a for a in args.split(",") if a and not a.startswith(("model=", "model_deployment="))]
    return scenario + (":" + ",".join(kept) if kept else "")


def _instances(directory: Path) -> dict[tuple[str, str | None], dict[str, Any]]:
    path = directory / "instances.json"
    if not path.is_file():
        return {}
    found = {}
    for instance in read_json(path, "HELM instances"):
        if isinstance(instance, dict) and "id" in instance:
            found[(str(instance["id"]), perturbation_tag(instance.get("perturbation")))] = instance
    return found


def _predictions(directory: Path) -> dict[tuple[str, str | None, int], dict[str, Any]]:
    path = directory / "display_predictions.json"
    if not path.is_file():
        return {}
    return {
        (str(p["instance_id"]), perturbation_tag(p.get("perturbation")), int(p.get("train_trial_index", 0))): p
        for p in read_json(path, "HELM display predictions")
        if isinstance(p, dict) and "instance_id" in p
    }


def read(path: Path) -> ImportedLog:
    directory = run_dir(path)
    run_spec = read_json(directory / "run_spec.json", "HELM's run spec")
    adapter = require(run_spec, "adapter_spec", f"{directory / 'run_spec.json'}", "the adapter, naming the model")
    model = require(adapter, "model", f"{directory / 'run_spec.json'} adapter_spec", "the model evaluated")
    stats_path = directory / "per_instance_stats.json"
    records = read_json(stats_path, "HELM per-instance stats")
    if not isinstance(records, list):
        raise DataError(f"{stats_path}: expected a JSON list of per-instance stats, found {type(records).__name__}")
    instances = _instances(directory)
    predictions = _predictions(directory)
    parsed = []
    for index, record in enumerate(records):
        where = f"{stats_path} [{index}]"
        instance_id = require(record, "instance_id", where, "the instance's id")
        trial = record.get("train_trial_index", 0)
        if not isinstance(trial, int) or trial < 0:
            raise DataError(f"{where}: field 'train_trial_index' is {trial!r}; expected an integer from 0")
        stats = require(record, "stats", where, "the instance's statistics")
        perturbation = record.get("perturbation")
        split = None
        values: dict[str, float] = {}
        for position, stat in enumerate(stats):
            name = require(stat, "name", f"{where} stats[{position}]", "the statistic's name")
            metric = require(name, "name", f"{where} stats[{position}].name", "the metric's name")
            split = name.get("split", split)
            perturbation = perturbation or name.get("perturbation")
            mean = finite_number(stat.get("mean"))
            if mean is None and finite_number(stat.get("sum")) is not None and stat.get("count"):
                mean = float(stat["sum"]) / float(stat["count"])
            if mean is not None:
                values[str(metric)] = mean
        parsed.append((where, str(instance_id), trial, perturbation_tag(perturbation), split, values))
    splits = sorted({p[4] for p in parsed if p[4] is not None})
    chosen_split = "test" if "test" in splits else (splits[0] if len(splits) == 1 else None)
    notes = []
    if len(splits) > 1:
        left = sum(1 for p in parsed if p[4] != chosen_split)
        others = ", ".join(s for s in splits if s != chosen_split)
        notes.append(
            f"{stats_path}: {left} record(s) of split(s) {others} left out; the {chosen_split} split is imported"
        )
    samples = []
    for where, instance_id, trial, tag, split, values in parsed:
        if chosen_split is not None and split != chosen_split:
            continue
        instance = instances.get((instance_id, tag)) or instances.get((instance_id, None)) or {}
        prediction = predictions.get((instance_id, tag, trial)) or {}
        references = [
            r.get("output", {}).get("text")
            for r in instance.get("references") or []
            if "correct" in (r.get("tags") or [])
        ]
        text = (instance.get("input") or {}).get("text")
        suffix = f"~{tag}" if tag else ""
        samples.append(
            ImportedSample(
                key=instance_id + suffix,
                sample=trial,
                input={"input": text} if text is not None else {},
                target=references[0] if len(references) == 1 else (None if not references else str(references)),
                output=prediction.get("predicted_text"),
                scores={f"{m}{suffix}": v for m, v in values.items()},
                fields={"instance_id": instance_id, "input": text, "perturbation": tag},
                meta={"source_id": instance_id, "split": split, "perturbation": tag},
                where=where,
            )
        )
    if not samples:
        raise DataError(f"{stats_path}: no per-instance stats")
    seen = list(dict.fromkeys(m for s in samples for m in s.scores))
    metrics = ([PRIMARY] if PRIMARY in seen else []) + [m for m in seen if m != PRIMARY]
    return ImportedLog(
        path=str(directory),
        format=FORMAT,
        model=str(model),
        task=task_name(run_spec),
        metrics=metrics,
        samples=samples,
        aggregates=_aggregates(directory, chosen_split, metrics),
        provenance={
            k: v
            for k, v in {
                "tool": "helm",
                "run_spec": run_spec.get("name"),
                "split": chosen_split,
                "model_deployment": adapter.get("model_deployment"),
                "adapter_method": adapter.get("method"),
                "max_tokens": adapter.get("max_tokens"),
                "temperature": adapter.get("temperature"),
                "num_train_trials": adapter.get("num_train_trials"),
                "groups": run_spec.get("groups"),
            }.items()
            if v is not None
        },
        sources=[
            str(directory / n)
            for n in ("run_spec.json", "per_instance_stats.json", "stats.json")
            if (directory / n).is_file()
        ],
        notes=notes,
    )


def _aggregates(directory: Path, split: str | None, metrics: list[str]) -> dict[str, float]:
    """HELM's own means (stats.json) of each metric on the imported split: unperturbed ones
    for plain metrics, those computed on the perturbed instances for ``metric~tag``."""
    path = directory / "stats.json"
    if not path.is_file():
        return {}
    found: dict[str, float] = {}
    for stat in read_json(path, "HELM aggregate stats"):
        name = stat.get("name") if isinstance(stat, dict) else None
        if not isinstance(name, dict) or name.get("split") != split or name.get("sub_split"):
            continue
        perturbation = name.get("perturbation")
        if perturbation and perturbation.get("computed_on", "perturbed") != "perturbed":
            continue
        tag = perturbation_tag(perturbation)
        metric = f"{name.get('name')}~{tag}" if tag else str(name.get("name"))
        mean = finite_number(stat.get("mean"))
        if metric in metrics and mean is not None:
            found[metric] = mean
    return found
