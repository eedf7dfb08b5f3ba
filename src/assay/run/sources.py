"""Run directories as the data the statistics take.

``assay.stats`` computes from score files and data frames and never opens a run;
this module reads a run's scores from its store in the shapes ``stats`` takes
(``ScoreSource`` for compare and its kin, ``MultiverseSource`` for the
multiverse) and says which task a run holds, and gives the statistics under
their own names for sources that may be run directories (``compare``,
``multiverse``, ...; ``assay.api`` exports them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import ConfigError, DataError
from assay.stats.multiverse import CHOICE_METRICS, MultiverseSource
from assay.stats.scores import ScoreSource


def is_run_dir(source: Any) -> bool:
    """A path to a directory (a run); a score file, a DataFrame or a record is not one."""
    return isinstance(source, (str, Path)) and Path(source).is_dir()


def _as_list(sources: Any) -> list[Any]:
    if isinstance(sources, (str, Path, pd.DataFrame, ScoreSource, MultiverseSource)):
        return [sources]
    return list(sources)


def run_scores(path: str | Path, *, metric: str | None = None, across: str | None = None) -> ScoreSource:
    """A run's per-sample scores on ``metric`` (the run's default when None), with the ``across``
    item field (``variant``: then ``item`` is the base item, the same question under each variant)."""
    from assay.run.store import scores_frame

    path = Path(path)
    fields = () if across is None else (across, "base_item")
    frame = scores_frame(path, metric=metric, fields=fields)
    if across is not None:
        if frame[across].isna().all():
            raise ConfigError(
                f"--across {across}: {path} has no item field '{across}'"
                + ("; run with --prompt-variants N or several --template options" if across == "variant" else "")
            )
        frame["item"] = frame["base_item"].where(frame["base_item"].notna(), frame["item"])
        frame = frame.drop(columns=["base_item"]) if across != "base_item" else frame
    return ScoreSource(str(path), frame)


def score_sources(sources: Any, *, metric: str | None = None, across: str | None = None) -> list[Any]:
    """The sources with every run directory read (``run_scores``); files and frames as they are."""
    return [run_scores(s, metric=metric, across=across) if is_run_dir(s) else s for s in _as_list(sources)]


def _run_fewshot(config: dict) -> int | None:
    """The run's few-shot count: what it asked for, or (runs made before that was kept) the most
    examples any model was shown."""
    if config.get("fewshot") is not None:
        return int(config["fewshot"])
    shown = [p["fewshot"] for p in (config.get("prompts") or {}).values() if isinstance(p, dict) and "fewshot" in p]
    return max(shown) if shown else None


def multiverse_source(path: str | Path) -> MultiverseSource:
    """A run's scores under every metric that could be the one compared (its default first), its
    failed samples, its few-shot count and its task, for ``stats.multiverse``."""
    from assay.run.store import failed_samples_frame, open_run, read_config, scores_frame

    path = Path(path)
    config = read_config(path)
    with open_run(path) as store:
        available = store.scorers()
    if not available:
        raise DataError(f"{path}: no scores in this run; run it with a scorer (or judge its outputs) first")
    default = (config.get("scorers") or available)[0]
    if default not in available:
        default = available[0]
    mode = config.get("mode", "generate")
    if mode == "choices":
        candidates = [m for m in CHOICE_METRICS if m in available]
    elif mode == "generate":
        candidates = list(available)
    else:
        candidates = []  # a perplexity run's per-document sums are not alternatives to one another
    metrics = [default] + [m for m in candidates if m != default]
    fields = ("variant", "base_item")
    frames = [
        scores_frame(path, metric=metric, fields=fields).drop(columns=["answer"]).assign(metric=metric, error=False)
        for metric in metrics
    ]
    failed = failed_samples_frame(path, fields=fields).drop(columns=["error"])
    frames += [failed.assign(score=np.nan, metric=metric, error=True) for metric in metrics]
    frame = pd.concat(frames, ignore_index=True)
    # A variant's item is its base item: the same question under each variant.
    frame["item"] = frame["base_item"].where(frame["base_item"].notna(), frame["item"])
    frame["fewshot"] = _run_fewshot(config)
    return MultiverseSource(str(path), frame, metrics, config.get("task_name"))


def multiverse_sources(sources: Any) -> list[Any]:
    """The sources with every run directory read (``multiverse_source``); files and frames as they are."""
    return [multiverse_source(s) if is_run_dir(s) else s for s in _as_list(sources)]


def source_task(source: Any) -> str | None:
    """The task a source holds: a run directory's task name (``--name``, or the
    task's own); None for a score file or a table, which say nothing of it."""
    from assay.run.store import read_config

    if is_run_dir(source):
        return read_config(source).get("task_name")
    return None


def is_suite(sources: list[Any]) -> bool:
    """Sources that are runs of two or more tasks."""
    tasks = [source_task(s) for s in sources]
    return all(t is not None for t in tasks) and len(set(tasks)) >= 2


def suite_tasks(sources: list[Any], *, metric: str | None = None) -> dict[str, list[ScoreSource]]:
    """Each task's runs, read: what ``stats.suite.compare_suite`` takes."""
    by_task: dict[str, list[Any]] = {}
    for source in _as_list(sources):
        task = source_task(source)
        if task is None:
            raise ConfigError(
                f"{source}: a suite compares run directories (each knows its task); a score file "
                "does not say which task it holds"
            )
        by_task.setdefault(task, []).append(source)
    return {task: [run_scores(run, metric=metric) for run in runs] for task, runs in by_task.items()}


# ---- the statistics over run directories, score files and DataFrames --------------------------------


def load_scores(source, *, metric: str | None = None, across: str | None = None):
    """Per-sample scores of a run directory, a score file or a DataFrame (``assay.stats.load_scores``)."""
    from assay.stats.scores import load_scores as load

    [data] = score_sources([source], metric=metric, across=across)
    return load(data, metric=metric, across=across)


def compare(sources, *, metric: str | None = None, **options):
    """``assay compare``: ``assay.stats.compare.compare`` over run directories, score files or DataFrames."""
    from assay.stats.compare import compare as compare_scores

    return compare_scores(score_sources(sources, metric=metric), metric=metric, **options)


def compare_across(sources, column: str = "variant", *, metric: str | None = None, **options):
    """``assay compare --across COLUMN``: ``assay.stats.compare.compare_across`` over run directories,
    score files or DataFrames."""
    from assay.stats.compare import compare_across as across_scores

    return across_scores(score_sources(sources, metric=metric, across=column), column, metric=metric, **options)


def compare_suite(sources, *, metric: str | None = None, **options):
    """Runs of several tasks: ``assay.stats.suite.compare_suite`` over the runs grouped by task."""
    from assay.stats.suite import compare_suite as suite_of

    return suite_of(suite_tasks(sources, metric=metric), metric=metric, **options)


def multiverse(sources, **options):
    """``assay compare --multiverse``: ``assay.stats.multiverse.multiverse`` over run directories,
    score files or DataFrames."""
    from assay.stats.multiverse import multiverse as multiverse_of

    return multiverse_of(multiverse_sources(sources), **options)


def score_matrix(sources, *, metric: str | None = None):
    """A models x items frame of mean scores (``assay.stats.irt.score_matrix``) from run directories,
    score files or DataFrames."""
    from assay.stats.irt import score_matrix as matrix_of

    return matrix_of(score_sources(sources, metric=metric), metric=metric)


def irt_fit(sources, out, *, metric: str | None = None, **options):
    """``assay irt fit``: ``assay.stats.irt.irt_fit`` over run directories, score files or DataFrames."""
    from assay.stats.irt import irt_fit as fit_of

    return fit_of(score_sources(sources, metric=metric), out, metric=metric, **options)


def irt_estimate(fit_path, sources, *, metric: str | None = None, **options):
    """``assay irt estimate``: ``assay.stats.irt.irt_estimate`` over run directories, score files or
    DataFrames."""
    from assay.stats.irt import irt_estimate as estimate_of

    return estimate_of(fit_path, score_sources(sources, metric=metric), metric=metric, **options)
