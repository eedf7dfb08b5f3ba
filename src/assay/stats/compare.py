"""Compare models on per-item scores: a leaderboard with intervals, tied groups, every pairwise difference.

Sources are score files (CSV/TSV, JSONL, JSON, Parquet) or DataFrames with columns
``model, item, score`` and optional ``cluster`` and ``sample``, or a run's scores
as ``assay.run.sources`` reads them (``assay.api.compare`` takes run directories). Several
samples of one item are averaged first; pairs are compared on their common
items; p-values are adjusted over all pairs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import ConfigError, DataError
from assay.jsonable import jsonable
from assay.stats._inputs import check_confidence, warn
from assay.stats.bootstrap import Interval
from assay.stats.intervals import METHODS, MeanCI, mean_ci
from assay.stats.multiplicity import CORRECTIONS, adjust_pvalues
from assay.stats.paired import PairedDiff, paired_diff
from assay.stats.scores import load_sources
from assay.stats.sequential import SequentialTest, check_alpha, sequential_test
from assay.stats.variance import VarianceComponents, variance_components

# ---- results --------------------------------------------------------------------------------------


@dataclass
class ModelSummary:
    """One leaderboard row: the model's mean over items, with its interval."""

    name: str
    source: str
    ci: MeanCI
    n_samples: int  # scored samples (n_items when one sample per item)
    samples_per_item: float

    def to_dict(self) -> dict:
        return jsonable(
            {
                "n": self.ci.n,
                "mean": self.ci.mean,
                "se": self.ci.se,
                "ci_low": self.ci.low,
                "ci_high": self.ci.high,
                "ci_method": self.ci.method,
                "reason": self.ci.reason,
                "n_clusters": self.ci.n_clusters,
                "n_samples": self.n_samples,
                "samples_per_item": self.samples_per_item,
                "source": self.source,
            }
        )

    def to_interval(self) -> Interval:
        return self.ci.to_interval()


@dataclass
class PairComparison:
    """mean(a) - mean(b) on common items; ``result`` is None when no test was possible (see ``error``)."""

    a: str
    b: str
    result: PairedDiff | None
    p_adjusted: float
    error: str | None = None
    sequential: SequentialTest | None = None  # with ``compare(..., sequential=True)``
    confidence: float = 0.95  # of the difference's interval

    def to_interval(self) -> Interval:
        """mean(a) - mean(b) and its interval; all None when the pair could not be compared (``error`` says why)."""
        if self.result is None:
            return Interval(None, None, None, self.confidence, f"not compared: {self.error}")
        return self.result.to_interval()

    def to_dict(self) -> dict:
        r = self.result
        extra = {"sequential": self.sequential.to_dict()} if self.sequential is not None else {}
        return jsonable(
            {
                "a": self.a,
                "b": self.b,
                "n": r.n if r else 0,
                "diff": r.diff if r else None,
                "se": r.se if r else None,
                "ci_low": r.low if r else None,
                "ci_high": r.high if r else None,
                "ci_method": r.ci_method if r else None,
                "p_value": r.p_value if r else None,
                "p_adjusted": self.p_adjusted,
                "test": r.test if r else None,
                "effect_size": r.effect_size if r else None,
                "effect_size_name": r.effect_size_name if r else None,
                "correlation": r.correlation if r else None,
                "n_dropped_a": r.n_dropped_a if r else None,
                "n_dropped_b": r.n_dropped_b if r else None,
                "mcnemar_p": r.mcnemar_p if r else None,
                "error": self.error,
                **extra,
            }
        )


@dataclass
class CompareResult:
    """Leaderboard (best first), pairwise differences, groups of statistically tied models."""

    models: dict[str, ModelSummary]
    pairs: list[PairComparison]
    tied_groups: list[list[str]]
    correction: str
    confidence: float
    variance: dict[str, VarianceComponents] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return jsonable(
            {
                "models": {name: m.to_dict() for name, m in self.models.items()},
                "pairs": [p.to_dict() for p in self.pairs],
                "tied_groups": self.tied_groups,
                "correction": self.correction,
                "confidence": self.confidence,
                "variance_components": {name: v.to_dict() for name, v in self.variance.items()},
                "warnings": list(self.warnings),
            }
        )

    def render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        pct = f"{self.confidence:.0%}"
        board = Table(title="Leaderboard")
        for column in ("rank", "model", "n", "mean", "SE", f"{pct} CI", "method"):
            board.add_column(column, justify="right" if column in ("rank", "n", "mean", "SE") else "left")
        for rank, (name, m) in enumerate(self.models.items(), start=1):
            ci = m.ci
            n = f"{ci.n}" + (f" ({ci.n_clusters} clusters)" if ci.n_clusters else "")
            board.add_row(
                str(rank), name, n, f"{ci.mean:.4f}", f"{ci.se:.4f}", f"[{ci.low:.4f}, {ci.high:.4f}]", ci.method
            )
        parts = [board]
        reasons = {m.ci.method: m.ci.reason for m in self.models.values()}
        parts.append(Text("\n".join(f"{method}: {reason}" for method, reason in reasons.items()), style="dim"))
        if self.tied_groups:
            tied = "; ".join("{" + ", ".join(g) + "}" for g in self.tied_groups)
            parts.append(
                Text(f"Statistically tied groups (adjusted p >= {1 - self.confidence:g} with the group's top): {tied}")
            )
        if self.pairs:
            table = Table(title=f"Pairwise differences ({self.correction}-adjusted p)")
            for column in ("a - b", "n", "diff", f"{pct} CI", "p", "p adj", "test", "effect"):
                table.add_column(column)
            for p in self.pairs:
                r = p.result
                if r is None:
                    table.add_row(f"{p.a} - {p.b}", "0", "-", "-", "-", "-", "-", p.error or "")
                    continue
                table.add_row(
                    f"{p.a} - {p.b}",
                    str(r.n),
                    f"{r.diff:+.4f}",
                    f"[{r.low:+.4f}, {r.high:+.4f}]",
                    f"{r.p_value:.3g}",
                    f"{p.p_adjusted:.3g}",
                    r.test,
                    f"{r.effect_size_name} {r.effect_size:.3f}",
                )
            parts.append(table)
        sequential = [p for p in self.pairs if p.sequential is not None]
        if sequential:
            first = sequential[0].sequential
            table = Table(
                title=f"Sequential: items replayed in a seeded random order (seed {first.order_seed}), "
                f"looked at every {first.batch} item(s); {first.method}, alpha {first.alpha:.3g} per pair"
            )
            for column in ("a - b", "decision", "items used", "diff", "confidence sequence at stop"):
                table.add_column(column)
            for p in sequential:
                s = p.sequential
                table.add_row(
                    f"{p.a} - {p.b}",
                    s.decision,
                    f"{s.n_used} of {s.n_available}",
                    f"{s.diff_at_stop:+.4f}",
                    f"[{s.low_at_stop:+.4f}, {s.high_at_stop:+.4f}]",
                )
            parts.append(table)
        for name, v in self.variance.items():
            parts.append(Text(f"{name}: {v.render()}", style="dim"))
        for message in self.warnings:
            parts.append(Text(f"warning: {message}", style="yellow"))
        return Group(*parts)


# ---- comparison -----------------------------------------------------------------------------------


@dataclass
class LevelMean:
    """A model's mean score over one level's items (a difficulty level), with its interval."""

    level: Any
    ci: MeanCI

    def to_interval(self) -> Interval:
        """The mean at this level and its interval (``level`` here is the difficulty, not the confidence)."""
        return self.ci.to_interval()


def means_by_level(
    scores: pd.DataFrame, levels: list, *, confidence: float = 0.95, seed: int | None = 0, notes: list[str]
) -> dict[str, list[LevelMean]]:
    """Each model's mean at each of ``levels`` (the ``difficulty`` column; ``model, item, score`` as
    ``load_scores`` gives them) over that level's items, samples of an item averaged first, with
    ``mean_ci``'s interval (2,000 resamples where it bootstraps). Every model is a key, in the order
    it first appears; a level it was not scored on is left out, and one where ``mean_ci`` gives no
    interval (too few items) too, with a note."""
    by_model: dict[str, list[LevelMean]] = {}
    for model, rows in scores.groupby("model", sort=False):
        item_means = rows.groupby(["difficulty", "item"], sort=False)["score"].mean()
        points = by_model[model] = []
        for level in levels:
            if level not in item_means.index.get_level_values(0):
                continue
            try:
                ci = mean_ci(item_means.loc[level].to_numpy(), confidence=confidence, seed=seed, n_resamples=2000)
            except DataError as exc:
                notes.append(f"{model} at {level}: no interval ({exc})")
                continue
            points.append(LevelMean(level, ci))
    return by_model


def tied_groups(order: list[str], adjusted: dict[frozenset, float], alpha: float) -> list[list[str]]:
    """Partition models (best first) into groups statistically tied with each group's top model.

    Greedy: the best model not yet placed starts a group; every other unplaced
    model whose adjusted p-value against it is >= alpha (or could not be
    tested) joins it. Repeat until all are placed.
    """
    remaining = list(order)
    groups = []
    while remaining:
        top = remaining.pop(0)
        group = [top]
        for other in list(remaining):
            p = adjusted.get(frozenset((top, other)), np.nan)
            if not p < alpha:  # NaN (untestable) counts as tied: no evidence of a difference
                group.append(other)
                remaining.remove(other)
        groups.append(group)
    return groups


def compare(
    sources,
    *,
    metric: str | None = None,
    ci_method: str = "auto",
    correction: str = "holm",
    confidence: float = 0.95,
    seed: int | None = 0,
    sequential: bool = False,
    alpha: float | None = None,
    batch: int = 1,
    margin: float | None = None,
) -> CompareResult:
    """Leaderboard with intervals, tied groups and every pairwise difference.

    ``sources``: one or several score files, DataFrames or ``ScoreSource``s
    (``assay.api.compare`` takes run directories too).
    ``ci_method``: see ``assay.stats.intervals.METHODS``; ``correction``: holm,
    bh, bonferroni or none.

    ``sequential``: also replay each pair's common items in a random order
    (seeded by ``seed``; one order of all items, shared by every pair) and report
    where a confidence sequence at error rate ``alpha`` (default 1 - confidence)
    would have stopped, looked at every ``batch`` items; ``margin`` adds an
    equivalence stop. With several pairs and a correction other than ``none``,
    alpha is split evenly over the pairs (Bonferroni), so that no pair's sequence
    misleads with probability above alpha in all.
    """
    if ci_method not in METHODS:
        raise ConfigError(f"ci method {ci_method!r} is not known; choose one of {', '.join(METHODS)}")
    if correction not in CORRECTIONS:
        raise ConfigError(f"correction {correction!r} is not known; choose one of {', '.join(CORRECTIONS)}")
    check_confidence(confidence)
    if sequential:
        alpha = 1 - confidence if alpha is None else alpha
        check_alpha(alpha)
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ConfigError(f"--batch {batch!r}: give a whole number of items, 1 or more")
        if margin is not None and not (np.isfinite(margin) and 0 < margin <= 1):
            raise ConfigError(f"--margin {margin!r}: give a score difference in (0, 1], e.g. 0.02")
    notes: list[str] = []
    scores, origin = load_sources(sources, metric, notes)

    clusters = _item_clusters(scores, notes)
    all_items = scores["item"].nunique()
    models: dict[str, ModelSummary] = {}
    means: dict[str, pd.Series] = {}
    multi_sample: dict[str, bool] = {}
    variance: dict[str, VarianceComponents] = {}
    for model, rows in scores.groupby("model", sort=False):
        item_means = rows.groupby("item", sort=False)["score"].mean()
        counts = rows.groupby("item", sort=False)["score"].count()
        if len(item_means) < all_items:
            warn(f"{model}: scores for {len(item_means)} of the {all_items} items seen across models", notes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # collected below, with the model's name
            try:
                ci = mean_ci(
                    item_means.to_numpy(),
                    clusters=None if clusters is None else clusters.loc[item_means.index].to_numpy(dtype=object),
                    method=ci_method,
                    confidence=confidence,
                    seed=seed,
                )
            except DataError as exc:
                raise DataError(f"model {model!r} ({origin[model]}): {exc}") from None
        for message in ci.warnings:
            warn(f"{model}: {message}", notes)
        models[model] = ModelSummary(model, origin[model], ci, int(len(rows)), float(counts.mean()))
        means[model] = item_means
        multi_sample[model] = bool(counts.max() > 1)
        if multi_sample[model] and len(item_means) >= 2:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                variance[model] = variance_components(rows["score"].to_numpy(), rows["item"].to_numpy(dtype=object))
            for message in variance[model].warnings:
                warn(f"{model}: {message}", notes)

    order = sorted(models, key=lambda m: -models[m].ci.mean)
    models = {m: models[m] for m in order}
    pairs: list[PairComparison] = []
    for a, b in combinations(order, 2):
        test = "paired-t" if multi_sample[a] or multi_sample[b] else "auto"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                result = paired_diff(means[a], means[b], clusters=clusters, confidence=confidence, test=test)
            except DataError as exc:
                warn(f"{a} vs {b}: not compared ({exc})", notes)
                pairs.append(PairComparison(a, b, None, np.nan, str(exc), confidence=confidence))
                continue
        for message in result.warnings:
            if "single cluster" not in message:  # already reported once for the whole comparison
                warn(f"{a} vs {b}: {message}", notes)
        pairs.append(PairComparison(a, b, result, np.nan, confidence=confidence))
    raw = [p.result.p_value if p.result else np.nan for p in pairs]
    for pair, adj in zip(pairs, adjust_pvalues(raw, correction)):
        pair.p_adjusted = float(adj)
    adjusted = {frozenset((p.a, p.b)): p.p_adjusted for p in pairs}
    groups = tied_groups(order, adjusted, 1 - confidence)
    if sequential:
        _add_sequential(
            pairs,
            means,
            scores,
            alpha=alpha,
            batch=batch,
            margin=margin,
            seed=seed,
            split=len(pairs) if correction != "none" else 1,
        )
    return CompareResult(models, pairs, groups, correction, confidence, variance, notes)


def compare_across(
    sources,
    column: str = "variant",
    *,
    metric: str | None = None,
    ci_method: str = "auto",
    correction: str = "holm",
    confidence: float = 0.95,
    seed: int | None = 0,
):
    """``compare --across COLUMN``: each model's score under every value of the
    column (a run's prompt variants, or a score file's column crossed with its
    items), the spread and variance components, and for every pair whether its
    conclusion holds under every value (``stats.across``)."""
    from assay.stats.across import across

    scores, _ = load_sources(sources, metric, [], column)
    values = sorted(scores[column].unique())
    if len(values) < 2:
        raise ConfigError(
            f"--across {column}: every score has the same {column} ({values[0]}); it needs two values or more"
        )
    return across(
        scores[["model", "item", "sample", "score", column]],
        column=column,
        confidence=confidence,
        correction=correction,
        ci_method=ci_method,
        seed=seed,
    )


def _add_sequential(
    pairs: list[PairComparison],
    means: dict[str, pd.Series],
    scores: pd.DataFrame,
    *,
    alpha: float,
    batch: int,
    margin: float | None,
    seed: int | None,
    split: int,
) -> None:
    """Attach to each pair the sequential test on its common items, replayed in one seeded order."""
    if not pairs:
        found = ", ".join(sorted(means)) or "none"
        raise DataError(f"--sequential compares pairs of models; the sources hold one model ({found})")
    outside = scores[(scores["score"] < 0) | (scores["score"] > 1)]
    if not outside.empty:
        row = outside.iloc[0]
        raise DataError(
            f"model {row['model']!r} item {row['item']!r} ({row['_where']}): score {row['score']:g} is outside [0, 1]; "
            f"--sequential needs bounded scores ({len(outside)} row(s) outside), so rescale them to [0, 1]"
        )
    # One random order of every item, shared by all pairs, as a run that stops early would draw its items.
    items = np.array(sorted(scores["item"].unique()), dtype=object)
    rank = pd.Series(np.arange(len(items)), index=np.random.default_rng(seed).permutation(items))
    for pair in pairs:
        a, b = means[pair.a], means[pair.b]
        common = a.index.intersection(b.index)
        if len(common) < 2:
            raise DataError(
                f"--sequential: {pair.a} and {pair.b} share {len(common)} item(s) (of {len(a)} and {len(b)}); "
                "a paired replay needs both models scored on the same items"
            )
        ordered = common[np.argsort(rank.loc[common].to_numpy(), kind="stable")]
        pair.sequential = sequential_test(
            a.loc[ordered].to_numpy(),
            b.loc[ordered].to_numpy(),
            alpha=alpha / split,
            batch=batch,
            margin=margin,
            order_seed=seed,
        )


def _item_clusters(scores: pd.DataFrame, notes: list[str]) -> pd.Series | None:
    """item -> cluster, checked for consistency; None when no clusters (or a single one) are given."""
    labelled = scores["cluster"].notna()
    if not labelled.any():
        return None
    if not labelled.all():
        row = scores[~labelled].iloc[0]
        raise DataError(
            f"item {row['item']!r} (model {row['model']!r}, {row['_where']}) has no cluster while other rows do; "
            "give every item a cluster or none"
        )
    per_item = scores.groupby("item")["cluster"].nunique()
    if (per_item > 1).any():
        item = per_item[per_item > 1].index[0]
        found = sorted(scores.loc[scores["item"] == item, "cluster"].unique())
        raise DataError(f"item {item!r} is given clusters {', '.join(found)}; an item belongs to one cluster")
    clusters = scores.groupby("item")["cluster"].first()
    if clusters.nunique() < 2:
        warn(f"cluster column has the single value {clusters.iloc[0]!r}; clusters are ignored", notes)
        return None
    return clusters
