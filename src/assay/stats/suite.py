"""A suite: models compared across several tasks at once.

``assay compare`` over runs of different tasks compares the models within each
task as usual (a leaderboard and pairs per task) and adds the suite: each
model's mean over tasks (every task weighs the same, whatever its number of
items) and the difference of every pair of models on it. Items are the
independent units within a task and tasks are fixed strata, so the intervals
resample items within each task (a stratified bootstrap) and never mix one
task's items into another's. A model missing from a task has no suite score
and is left out of the suite, with a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import ConfigError
from assay.jsonable import jsonable
from assay.stats._inputs import check_confidence
from assay.stats.bootstrap import Interval
from assay.stats.multiplicity import adjust_pvalues

SUITE_METHOD = (
    "mean over tasks of each task's mean over items (tasks weigh equally); percentile interval of a "
    "stratified bootstrap that resamples items within each task"
)
PAIR_METHOD = (
    "difference of the suite means on the items both models answered in each task; percentile "
    "interval and two-sided p (twice the smaller tail share beyond 0) from the same stratified bootstrap"
)


@dataclass
class SuiteModel:
    """A model's mean over the tasks of the suite, with its stratified bootstrap interval."""

    name: str
    mean: float
    low: float
    high: float
    n_tasks: int
    n_items: int
    task_means: dict[str, float]
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "mean": self.mean,
                "ci_low": self.low,
                "ci_high": self.high,
                "ci_method": SUITE_METHOD,
                "n_tasks": self.n_tasks,
                "n_items": self.n_items,
                "task_means": self.task_means,
            }
        )

    def to_interval(self) -> Interval:
        """The suite mean and its interval; ``n`` counts the items resampled over all tasks (tasks are strata)."""
        return Interval(self.mean, self.low, self.high, self.confidence, SUITE_METHOD, self.n_items)


@dataclass
class SuitePair:
    """Suite mean of a minus suite mean of b, with its stratified bootstrap interval and p-values."""

    a: str
    b: str
    diff: float
    low: float
    high: float
    p_value: float
    p_adjusted: float
    n_items: int
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "a": self.a,
                "b": self.b,
                "diff": self.diff,
                "ci_low": self.low,
                "ci_high": self.high,
                "ci_method": PAIR_METHOD,
                "p_value": self.p_value,
                "p_adjusted": self.p_adjusted,
                "n_items": self.n_items,
            }
        )

    def to_interval(self) -> Interval:
        """The difference a - b and its interval; ``n`` counts the items both models answered, over all tasks."""
        return Interval(self.diff, self.low, self.high, self.confidence, PAIR_METHOD, self.n_items)


@dataclass
class SuiteResult:
    """Per-task comparisons (``assay.stats.compare.CompareResult``) and the suite across them."""

    tasks: dict[str, Any]
    models: dict[str, SuiteModel]
    pairs: list[SuitePair]
    correction: str
    confidence: float
    n_boot: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "tasks": {task: result.to_dict() for task, result in self.tasks.items()},
                "suite": {
                    "models": {m: s.to_dict() for m, s in self.models.items()},
                    "pairs": [p.to_dict() for p in self.pairs],
                    "correction": self.correction,
                    "confidence": self.confidence,
                    "n_boot": self.n_boot,
                },
                "warnings": list(self.warnings),
            }
        )

    def render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        parts: list[Any] = []
        for task, result in self.tasks.items():
            parts += [Text(f"Task {task}", style="bold"), result.render()]
        tasks = list(self.tasks)
        pct = f"{self.confidence:.0%}"
        board = Table(title=f"Suite: {len(tasks)} tasks, mean over tasks")
        for column in ("rank", "model", *tasks, "suite mean", f"{pct} CI"):
            board.add_column(column)
        for rank, (name, m) in enumerate(self.models.items(), start=1):
            board.add_row(
                str(rank),
                name,
                *(f"{m.task_means[t]:.4f}" for t in tasks),
                f"{m.mean:.4f}",
                f"[{m.low:.4f}, {m.high:.4f}]",
            )
        parts += [board, Text(SUITE_METHOD, style="dim")]
        if self.pairs:
            table = Table(title=f"Suite differences ({self.correction}-adjusted p)")
            for column in ("a - b", "diff", f"{pct} CI", "p", "p adj"):
                table.add_column(column)
            for p in self.pairs:
                table.add_row(
                    f"{p.a} - {p.b}",
                    f"{p.diff:+.4f}",
                    f"[{p.low:+.4f}, {p.high:+.4f}]",
                    f"{p.p_value:.3g}",
                    f"{p.p_adjusted:.3g}",
                )
            parts += [table, Text(PAIR_METHOD, style="dim")]
        for message in self.warnings:
            parts.append(Text(f"warning: {message}", style="yellow"))
        return Group(*parts)


def _resample_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of n items is drawn in each of n_boot resamples (n_boot × n)."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)


def _weighted_means(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per resample, the mean of the values present (NaN: absent) under the draw counts."""
    present = ~np.isnan(values)
    totals = weights @ np.where(present, values, 0.0)
    counts = weights @ present.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return totals / counts


def compare_suite(
    tasks: Mapping[str, list[Any]],
    *,
    metric: str | None = None,
    ci_method: str = "auto",
    correction: str = "holm",
    confidence: float = 0.95,
    seed: int | None = 0,
    n_boot: int = 2000,
) -> SuiteResult:
    """Compare models within each task and across the suite of tasks (see the module's docstring).

    ``tasks``: each task's sources (score files, DataFrames or ``ScoreSource``s, as
    ``compare`` takes them). ``assay.api.compare_suite`` groups run directories by
    the task each holds.
    """
    from assay.stats.compare import compare
    from assay.stats.scores import load_scores

    check_confidence(confidence)
    if n_boot < 100:
        raise ConfigError(f"n_boot {n_boot}: give at least 100 resamples")
    if not isinstance(tasks, Mapping) or not tasks:
        raise ConfigError("a suite is each task's sources, e.g. {'gsm8k': [...], 'humaneval': [...]}")
    by_task = {task: list(group) for task, group in tasks.items()}
    results = {
        task: compare(
            group, metric=metric, ci_method=ci_method, correction=correction, confidence=confidence, seed=seed
        )
        for task, group in by_task.items()
    }
    notes: list[str] = []
    # Item means per task: a table of items × models (NaN where a model has no score).
    tables: dict[str, pd.DataFrame] = {}
    for task, group in by_task.items():
        scores = pd.concat([load_scores(s, metric=metric) for s in group], ignore_index=True)
        tables[task] = scores.groupby(["item", "model"])["score"].mean().unstack("model")
    everywhere = set.intersection(*(set(t.columns) for t in tables.values()))
    for task, table in tables.items():
        missing = sorted(set(table.columns) - everywhere)
        if missing:
            notes.append(f"{', '.join(missing)}: not in every task, so not in the suite (have {task})")
    order = sorted(everywhere)
    rng = np.random.default_rng(seed)
    alpha = 1 - confidence
    task_weights = {task: _resample_weights(len(table), n_boot, rng) for task, table in tables.items()}
    n_tasks = len(tables)
    models: dict[str, SuiteModel] = {}
    for model in order:
        task_means = {task: float(table[model].mean()) for task, table in tables.items()}
        boot = (
            sum(
                _weighted_means(task_weights[task], table[model].to_numpy(dtype=float))
                for task, table in tables.items()
            )
            / n_tasks
        )
        boot = boot[np.isfinite(boot)]
        low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
        models[model] = SuiteModel(
            model,
            float(np.mean(list(task_means.values()))),
            float(low),
            float(high),
            n_tasks,
            int(sum(table[model].notna().sum() for table in tables.values())),
            task_means,
            confidence,
        )
    models = dict(sorted(models.items(), key=lambda kv: -kv[1].mean))
    pairs: list[SuitePair] = []
    for a, b in combinations(list(models), 2):
        diffs = {task: (table[a] - table[b]).to_numpy(dtype=float) for task, table in tables.items()}
        estimate = float(np.mean([np.nanmean(d) for d in diffs.values()]))
        boot = sum(_weighted_means(task_weights[task], d) for task, d in diffs.items()) / n_tasks
        boot = boot[np.isfinite(boot)]
        low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
        p = float(min(1.0, 2 * min(np.mean(boot <= 0), np.mean(boot >= 0))))
        pairs.append(
            SuitePair(
                a,
                b,
                estimate,
                float(low),
                float(high),
                p,
                np.nan,
                int(sum(np.sum(~np.isnan(d)) for d in diffs.values())),
                confidence,
            )
        )
    for pair, adjusted in zip(pairs, adjust_pvalues([p.p_value for p in pairs], correction)):
        pair.p_adjusted = float(adjusted)
    return SuiteResult(results, models, pairs, correction, confidence, n_boot, notes)
