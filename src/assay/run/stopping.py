"""Stop a run as soon as its comparisons are decided (``assay run --stop-when-decided``).

The items are run in a seeded random order, ``batch`` items at a time for
every model. Between batches the paired per-item scores seen so far go to
``stats.sequential.sequential_pairs``, whose confidence sequences stay valid
however often they are looked at; the run stops once every pair (or every
pair with ``against``) is decided or shown equivalent within the margin.

The order is ``numpy.random.default_rng(seed).permutation`` of the sorted item
ids: the order ``assay compare --sequential --seed S`` replays, so a run that is
later completed and compared with the same seed and batch stops at the same
item. What the rule decided is written to ``sequential.json`` in the run
directory; the samples themselves are in the store like any run's, so running
the same command without the flag completes the rest with no model call for
what is already there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from assay.errors import ConfigError
from assay.jsonable import jsonable
from assay.records import Item
from assay.stats.sequential import SequentialPairs, check_alpha, sequential_pairs

SEQUENTIAL_FILE = "sequential.json"
ORDER = "numpy.random.default_rng(seed).permutation(sorted item ids)"


@dataclass
class StopRule:
    """What ``--stop-when-decided`` asks: the error rate, the equivalence margin, the pairs, the look interval."""

    alpha: float = 0.05
    margin: float | None = None
    against: str | None = None
    batch: int = 8

    def check(self, models: list[str]) -> None:
        """Raise ``ConfigError`` for settings the rule cannot work with."""
        check_alpha(self.alpha)
        if self.margin is not None and not (np.isfinite(self.margin) and 0 < self.margin <= 1):
            raise ConfigError(
                f"--margin {self.margin}: give an equivalence margin on the score difference in (0, 1], e.g. 0.02"
            )
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise ConfigError(f"--batch {self.batch}: give a whole number of items per look, 1 or more")
        if len(models) < 2:
            raise ConfigError(
                f"--stop-when-decided compares models; give at least two with -m (got {', '.join(models) or 'none'})"
            )
        if self.against is not None and self.against not in models:
            raise ConfigError(f"--against {self.against!r} is not among the models ({', '.join(models)})")

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "margin": self.margin, "against": self.against, "batch": self.batch}


@dataclass
class RunSequential:
    """Where a ``--stop-when-decided`` run stopped, what it decided, and each pair's confidence sequence.

    ``n_run`` items (the first of the seeded order) were run of ``n_items``;
    ``pairs`` is the rule's last look (None when no item was scored by every
    model). A pair's ``n_used`` is where it was decided; the run goes on until
    the last pair is.
    """

    rule: StopRule
    seed: int
    metric: str
    n_items: int
    n_run: int
    n_paired: int
    pairs: SequentialPairs | None
    looks: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def all_decided(self) -> bool:
        return self.pairs is not None and self.pairs.all_decided

    @property
    def stopped_early(self) -> bool:
        return self.n_run < self.n_items

    def to_dict(self) -> dict[str, Any]:
        pairs = self.pairs.to_dict() if self.pairs is not None else {"alpha_per_pair": None, "pairs": []}
        return jsonable(
            {
                "metric": self.metric,
                "n_items": self.n_items,
                "n_run": self.n_run,
                "n_paired": self.n_paired,
                "looks": self.looks,
                "stopped_early": self.stopped_early,
                "all_decided": self.all_decided,
                **self.rule.to_dict(),
                "seed": self.seed,
                "order": ORDER,
                "alpha_per_pair": pairs["alpha_per_pair"],
                "pairs": pairs["pairs"],
                "notes": self.notes,
            }
        )

    def render(self):
        from rich.table import Table

        if self.stopped_early:
            why = "every pair decided" if self.all_decided else "a model could not be reached, not every pair decided"
            how = f"stopped after {self.n_run} of {self.n_items} items: {why}"
        else:
            how = f"ran all {self.n_items} items" + ("" if self.all_decided else ", not every pair decided")
        per_pair = self.pairs.alpha_per_pair if self.pairs is not None else self.rule.alpha
        table = Table(title=f"Stop when decided: {how}")
        for column in ("a - b", "decision", "items used", "diff", f"{1 - per_pair:.1%} confidence sequence"):
            table.add_column(column, justify="left" if column in ("a - b", "decision") else "right")
        for (a, b), test in self.pairs.pairs.items() if self.pairs is not None else []:
            table.add_row(
                f"{a} - {b}",
                test.decision,
                f"{test.n_used} of {self.n_paired}",
                f"{test.diff_at_stop:+.4f}",
                f"[{test.low_at_stop:+.4f}, {test.high_at_stop:+.4f}]",
            )
        table.caption = "; ".join(
            [
                f"{self.metric}, items in a seeded random order (seed {self.seed}), "
                f"a look every {self.rule.batch} items, alpha {per_pair:.3g} per pair"
                + (f", margin {self.rule.margin:g}" if self.rule.margin is not None else ""),
                *self.notes,
            ]
        )
        return table

    def write(self, run_dir: str | Path) -> Path:
        path = Path(run_dir) / SEQUENTIAL_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path


def run_order(items: list[Item], seed: int) -> list[Item]:
    """The items in the seeded random order the rule runs them in (the order of ``compare --sequential``)."""
    by_id = {item.id: item for item in items}
    ids = np.array(sorted(by_id), dtype=object)
    return [by_id[i] for i in np.random.default_rng(seed).permutation(ids)]


def item_means(outcomes, keys: set[str]) -> dict[str, float]:
    """Per item, the mean score of this call's successful samples (``store.sample_outcomes`` rows)."""
    values: dict[str, list[float]] = {}
    for row in outcomes:
        if row.key in keys and not row.failed and row.value is not None:
            values.setdefault(row.item, []).append(row.value)
    return {item: sum(v) / len(v) for item, v in values.items()}


class Rounds:
    """Hands the runner the next batch of items until the rule has decided (or the items run out).

    ``scores_of()`` returns, per model, the per-item scores of this call so far;
    ``stop_now()`` says whether the run cannot usefully go on (a model is unreachable).
    """

    def __init__(
        self,
        order: list[Item],
        rule: StopRule,
        scores_of: Callable[[], Mapping[str, dict[str, float]]],
        stop_now: Callable[[], bool] = lambda: False,
    ):
        self.order = order
        self.rule = rule
        self.scores_of = scores_of
        self.stop_now = stop_now
        self.n_run = 0
        self.n_paired = 0
        self.looks = 0
        self.last: SequentialPairs | None = None

    def first(self) -> list[Item]:
        return self._take()

    def _take(self) -> list[Item]:
        batch = self.order[self.n_run : self.n_run + self.rule.batch]
        self.n_run += len(batch)
        return batch

    def look(self) -> SequentialPairs | None:
        """The sequential test of every pair on the items every model has a score for, in run order."""
        scores = self.scores_of()
        seen = [item.id for item in self.order[: self.n_run]]
        paired = [i for i in seen if all(i in per_item for per_item in scores.values())]
        self.n_paired = len(paired)
        self.looks += 1
        if not paired:
            self.last = None
            return None
        seen_scores = {name: np.array([per_item[i] for i in paired]) for name, per_item in scores.items()}
        self.last = sequential_pairs(
            seen_scores,
            alpha=self.rule.alpha,
            margin=self.rule.margin,
            batch=self.rule.batch,
            against=self.rule.against,
        )
        return self.last

    def next(self) -> list[Item]:
        """Called when every job of the items handed out so far has finished."""
        decided = self.look()
        if self.stop_now() or (decided is not None and decided.all_decided):
            return []
        return self._take()
