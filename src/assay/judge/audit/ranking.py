"""How a judge ranks the evaluated models, against how the humans rank them.

Each judged unit credits its model (and, in a pair, the second model gets
the complement); per-model means from the judge and from the labels are
compared by rank correlation, with a bootstrap interval over items. This is
separate from item-level agreement: a judge can disagree on items and still
rank the models as the humans do.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from assay.jsonable import jsonable
from assay.judge.agreement import Estimate, bootstrap_over_items
from assay.judge.audit.agreement import UnitTable
from assay.judge.audit.labels import INVALID
from assay.judge.protocols import VerdictKind


@dataclass
class ModelRanking:
    """A judge's ranking of the evaluated models against the human ranking."""

    judge: str
    models: list[str]
    judge_scores: dict[str, float]
    human_scores: dict[str, float]
    spearman: Estimate
    kendall: Estimate
    score_meaning: str

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "judge": self.judge,
                "models": list(self.models),
                "judge_scores": dict(self.judge_scores),
                "human_scores": dict(self.human_scores),
                "spearman": self.spearman.to_dict(),
                "kendall": self.kendall.to_dict(),
                "score_meaning": self.score_meaning,
            }
        )

    def render(self) -> str:
        lines = [
            f"{self.judge}: ranking of {len(self.models)} models ({self.score_meaning})",
            f"  Spearman {self.spearman.render()}  Kendall {self.kendall.render()}",
        ]
        for model in sorted(self.models, key=lambda m: -self.human_scores[m]):
            lines.append(f"    {model:<30} judge {self.judge_scores[model]:.3f}  human {self.human_scores[model]:.3f}")
        return "\n".join(lines)


def rank_models(
    name: str, table: UnitTable, kind: VerdictKind, codes: dict[str, int], *, seed: int, n_boot: int, level: float
) -> ModelRanking | None:
    """Per-model scores from the judge and from the humans, and their rank correlation."""
    from scipy import stats

    if kind.credit is not None:
        # Value of output 1: its credit (a win 1, a tie 0.5, a loss 0).
        value_of = np.full(len(codes), np.nan)
        for verdict, credit in kind.credit.items():
            value_of[codes[verdict]] = credit
        judge_value = np.where(table.verdict >= 0, value_of[np.maximum(table.verdict, 0)], np.nan)
        human_value = value_of[table.label]
    elif not kind.numeric:
        judged = (table.verdict >= 0) & (table.verdict != codes[INVALID])
        judge_value = np.where(judged, (table.verdict == codes["1"]).astype(float), np.nan)
        human_value = table.label_number
    else:
        judge_value = table.number
        human_value = table.label_number
    meaning = kind.ranking_meaning
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a unit whose every verdict is invalid: NaN
        unit_judge = np.nanmean(np.where(np.isfinite(judge_value), judge_value, np.nan), axis=1)
    # Each unit credits its model; in a pairwise comparison with model_b, the
    # second output's model gets the complement.
    credit_items, credit_models, credit_judge, credit_human = [], [], [], []
    for side in ("model", "model_b"):
        models = getattr(table, side)
        has = models != ""
        if not has.any():
            continue
        flip = side == "model_b"
        credit_items.append(table.item[has])
        credit_models.append(models[has])
        credit_judge.append(1.0 - unit_judge[has] if flip else unit_judge[has])
        credit_human.append(1.0 - human_value[has] if flip else human_value[has])
    if not credit_models:
        return None
    items = np.concatenate(credit_items)
    model_names, model_codes = np.unique(np.concatenate(credit_models).astype(str), return_inverse=True)
    if model_names.size < 2:
        return None
    judge_credit, human_credit = np.concatenate(credit_judge), np.concatenate(credit_human)

    def per_model(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        keep = rows[np.isfinite(values[rows])]
        sums = np.bincount(model_codes[keep], weights=values[keep], minlength=model_names.size)
        counts = np.bincount(model_codes[keep], minlength=model_names.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            return sums / counts

    def statistic(rows: np.ndarray) -> dict[str, float]:
        j, h = per_model(rows, judge_credit), per_model(rows, human_credit)
        keep = np.isfinite(j) & np.isfinite(h)
        if keep.sum() < 2 or np.ptp(j[keep]) == 0 or np.ptp(h[keep]) == 0:
            return {"spearman": float("nan"), "kendall": float("nan")}
        return {
            "spearman": float(stats.spearmanr(j[keep], h[keep]).statistic),
            "kendall": float(stats.kendalltau(j[keep], h[keep]).statistic),
        }

    est = bootstrap_over_items(items, statistic, n_boot=n_boot, seed=seed, level=level)
    every_row = np.arange(items.size)
    judge_scores = dict(zip(model_names.tolist(), per_model(every_row, judge_credit).tolist()))
    human_scores = dict(zip(model_names.tolist(), per_model(every_row, human_credit).tolist()))
    return ModelRanking(
        judge=name,
        models=model_names.tolist(),
        judge_scores=judge_scores,
        human_scores=human_scores,
        spearman=est["spearman"],
        kendall=est["kendall"],
        score_meaning=meaning,
    )
