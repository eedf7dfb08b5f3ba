"""How far judges agree with the human labels, and with each other.

Per judge (or the majority-vote jury): accuracy in each presentation order,
percent agreement next to Cohen's kappa, score correlations, and the bias
measures of ``bias``; across judges, Fleiss' kappa and Krippendorff's alpha.
Every figure carries a percentile-bootstrap interval over items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay.jsonable import jsonable
from assay.judge.agreement import (
    Estimate,
    bootstrap_over_items,
    cohens_kappa_from_table,
    fleiss_kappa,
    krippendorff_alpha,
)
from assay.judge.audit.bias import bias_statistics
from assay.judge.audit.labels import INVALID, ORDERS
from assay.judge.pool import Vote, pool_votes
from assay.judge.protocols import VerdictKind
from assay.judge.tables import as_number

JURY_NAME = "jury (majority vote)"


@dataclass
class JudgeAgreement:
    """How one judge (or the jury) agrees with the human labels.

    Rates are shares in [0, 1] except ``percent_agreement`` (percent). Fields
    that do not apply to the data (position metrics without swapped orders,
    leniency outside correctness, correlations without numbers) are None.
    """

    judge: str
    n: int
    n_verdicts: int
    n_invalid: int
    accuracy: Estimate
    accuracy_by_order: dict[str, Estimate]
    both_orders_correct: Estimate | None
    position_consistency: Estimate | None
    first_position_rate: Estimate | None
    percent_agreement: Estimate
    cohens_kappa: Estimate
    leniency: Estimate | None
    pearson: Estimate | None
    spearman: Estimate | None
    kendall: Estimate | None
    n_vote_ties: int | None = None
    # Position consistency is computed over the units with a valid verdict in
    # both orders (``n_consistency_pairs``); units judged in both orders where
    # either verdict is invalid are left out and counted here.
    n_consistency_pairs: int | None = None
    n_consistency_invalid: int | None = None

    _SCALARS = (
        "accuracy",
        "both_orders_correct",
        "position_consistency",
        "first_position_rate",
        "percent_agreement",
        "cohens_kappa",
        "leniency",
        "pearson",
        "spearman",
        "kendall",
    )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "judge": self.judge,
            "n": self.n,
            "n_verdicts": self.n_verdicts,
            "n_invalid": self.n_invalid,
        }
        for name in self._SCALARS:
            value = getattr(self, name)
            d[name] = None if value is None else value.to_dict()
        d["accuracy_by_order"] = {k: v.to_dict() for k, v in self.accuracy_by_order.items()}
        if self.position_consistency is not None:
            d["n_consistency_pairs"] = self.n_consistency_pairs
            d["n_consistency_invalid"] = self.n_consistency_invalid
        if self.n_vote_ties is not None:
            d["n_vote_ties"] = self.n_vote_ties
        return jsonable(d)

    def render(self) -> str:
        lines = [f"{self.judge}: n={self.n} items, {self.n_verdicts} verdicts ({self.n_invalid} invalid)"]
        lines.append(f"  accuracy             {self.accuracy.render()}")
        for order, est in self.accuracy_by_order.items():
            lines.append(f"    {order:<18} {est.render()}")
        for name in self._SCALARS[1:]:
            value = getattr(self, name)
            if value is not None:
                digits = 1 if name == "percent_agreement" else 3
                line = f"  {name:<20} {value.render(digits)}"
                if name == "position_consistency":
                    line += f" ({self._consistency_basis()})"
                lines.append(line)
        if self.n_vote_ties is not None:
            lines.append(f"  vote ties            {self.n_vote_ties}")
        return "\n".join(lines)

    def _consistency_basis(self) -> str:
        pairs, invalid = self.n_consistency_pairs or 0, self.n_consistency_invalid or 0
        if pairs == 0:
            text = "no unit has a valid verdict in both orders"
        else:
            text = f"over {pairs} unit{'s' if pairs != 1 else ''} with a valid verdict in both orders"
        if invalid:
            text += f"; {invalid} with an invalid verdict left out"
        return text


@dataclass
class JuryAgreement:
    """Agreement among the judges, and the majority-vote jury against the humans."""

    judges: list[str]
    fleiss_kappa: Estimate
    n_fleiss_subjects: int
    krippendorff_alpha: Estimate
    alpha_level: str
    n_alpha_subjects: int
    majority: JudgeAgreement

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "judges": list(self.judges),
                "fleiss_kappa": self.fleiss_kappa.to_dict(),
                "n_fleiss_subjects": self.n_fleiss_subjects,
                "krippendorff_alpha": self.krippendorff_alpha.to_dict(),
                "alpha_level": self.alpha_level,
                "n_alpha_subjects": self.n_alpha_subjects,
                "majority": self.majority.to_dict(),
            }
        )

    def render(self) -> str:
        return "\n".join(
            [
                f"Across {len(self.judges)} judges ({', '.join(self.judges)}):",
                f"  Fleiss' kappa        {self.fleiss_kappa.render()} on {self.n_fleiss_subjects} verdicts rated by all",
                f"  Krippendorff's alpha {self.krippendorff_alpha.render()} ({self.alpha_level}, "
                f"{self.n_alpha_subjects} verdicts)",
                self.majority.render(),
            ]
        )


# --------------------------------------------------------------------------- per-judge statistics


@dataclass
class UnitTable:
    """One row per judged unit (item[, model, model_b]); verdicts by order in columns."""

    item: np.ndarray
    verdict: np.ndarray  # (units, 2) category codes, -1 where that order is missing
    number: np.ndarray  # (units, 2) judge numbers, NaN where missing
    label: np.ndarray
    label_number: np.ndarray
    model: np.ndarray
    model_b: np.ndarray


def unit_table(rows: pd.DataFrame, codes: dict[str, int], unit_cols: list[str]) -> UnitTable:
    rows = rows.assign(_code=rows["_cat"].map(codes), _order_idx=rows["order"].map(ORDERS.index))
    units = rows.drop_duplicates(unit_cols)[unit_cols + ["_label", "_label_num"]].reset_index(drop=True)
    unit_index = pd.MultiIndex.from_frame(units[unit_cols])
    position = unit_index.get_indexer(pd.MultiIndex.from_frame(rows[unit_cols]))
    verdict = np.full((len(units), 2), -1, dtype=int)
    number = np.full((len(units), 2), np.nan)
    verdict[position, rows["_order_idx"].to_numpy()] = rows["_code"].to_numpy()
    number[position, rows["_order_idx"].to_numpy()] = rows["_num"].to_numpy(dtype=float)
    return UnitTable(
        item=units["item"].to_numpy(dtype=object),
        verdict=verdict,
        number=number,
        label=units["_label"].map(codes).to_numpy(dtype=int),
        label_number=units["_label_num"].to_numpy(dtype=float),
        model=units["model"].to_numpy(dtype=object),
        model_b=units["model_b"].to_numpy(dtype=object),
    )


def _safe_correlations(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from scipy import stats

    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"pearson": float("nan"), "spearman": float("nan"), "kendall": float("nan")}
    return {
        "pearson": float(np.corrcoef(x, y)[0, 1]),
        "spearman": float(stats.spearmanr(x, y).statistic),
        "kendall": float(stats.kendalltau(x, y).statistic),
    }


def _judge_statistics(
    table: UnitTable, codes: dict[str, int], kind: VerdictKind, with_orders: bool, with_numbers: bool
) -> Any:
    n_codes = len(codes)

    def statistic(rows: np.ndarray) -> dict[str, float]:
        verdict, label = table.verdict[rows], table.label[rows]
        present = verdict >= 0
        correct = (verdict == label[:, None]) & present
        out: dict[str, float] = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            out["accuracy"] = float(np.mean(correct.sum(axis=1) / present.sum(axis=1)))
            for k, order in enumerate(ORDERS):
                out[f"accuracy_{order}"] = float(correct[present[:, k], k].mean()) if present[:, k].any() else np.nan
            pooled_verdict = verdict[present]
            pooled_label = np.broadcast_to(label[:, None], verdict.shape)[present]
            out["percent_agreement"] = (
                float(100.0 * np.mean(pooled_verdict == pooled_label)) if pooled_verdict.size else np.nan
            )
            contingency = np.bincount(pooled_verdict * n_codes + pooled_label, minlength=n_codes * n_codes)
            out["cohens_kappa"] = cohens_kappa_from_table(contingency.reshape(n_codes, n_codes))
            if with_numbers:
                numbers = table.number[rows]
                label_numbers = np.broadcast_to(table.label_number[rows][:, None], numbers.shape)
                out.update(_safe_correlations(numbers[present], label_numbers[present]))
        out.update(bias_statistics(verdict, label, codes, kind, with_orders))
        return out

    return statistic


def agreement_for(
    name: str,
    rows: pd.DataFrame,
    codes: dict[str, int],
    kind: VerdictKind,
    unit_cols: list[str],
    *,
    seed: int,
    n_boot: int,
    level: float,
) -> tuple[JudgeAgreement, UnitTable]:
    table = unit_table(rows, codes, unit_cols)
    with_orders = bool((table.verdict[:, 1] >= 0).any())
    with_numbers = bool(np.isfinite(table.number).any()) and kind.correlates
    statistic = _judge_statistics(table, codes, kind, with_orders, with_numbers)
    est = bootstrap_over_items(table.item, statistic, n_boot=n_boot, seed=seed, level=level)
    by_order = {o: est[f"accuracy_{o}"] for o in ORDERS if (rows["order"] == o).any()}
    n_pairs = n_pairs_invalid = None
    if with_orders:
        both = (table.verdict >= 0).all(axis=1)
        both_valid = both & (table.verdict != codes[INVALID]).all(axis=1)
        n_pairs, n_pairs_invalid = int(both_valid.sum()), int((both & ~both_valid).sum())
        # Its n_items: the items behind the pairs it is computed over.
        est["position_consistency"].n_items = len(set(table.item[both_valid].tolist()))
    result = JudgeAgreement(
        judge=name,
        n=len(table.item),
        n_verdicts=len(rows),
        n_invalid=int((rows["_cat"] == INVALID).sum()),
        accuracy=est["accuracy"],
        accuracy_by_order=by_order,
        both_orders_correct=est.get("both_orders_correct"),
        position_consistency=est.get("position_consistency"),
        first_position_rate=est.get("first_position_rate"),
        percent_agreement=est["percent_agreement"],
        cohens_kappa=est["cohens_kappa"],
        leniency=est.get("leniency"),
        pearson=est.get("pearson"),
        spearman=est.get("spearman"),
        kendall=est.get("kendall"),
        n_consistency_pairs=n_pairs,
        n_consistency_invalid=n_pairs_invalid,
    )
    return result, table


# --------------------------------------------------------------------------- jury


def majority_rows(joined: pd.DataFrame, unit_cols: list[str]) -> tuple[pd.DataFrame, int]:
    """The majority verdict over judges per (unit, order), pooled as ``assay judge`` pools a
    jury (``assay.judge.pool``): a tied vote becomes "tie"; only invalid verdicts stay invalid."""
    keys = unit_cols + ["order"]
    winners = []
    for key, group in joined.groupby(keys, dropna=False, sort=False):
        votes = [Vote(judge, cat, None, cat == INVALID) for judge, cat in zip(group["judge"], group["_cat"])]
        pooled = pool_votes(votes, "majority")
        winners.append((*key, INVALID if pooled.verdict is None else pooled.verdict, pooled.vote_tie))
    winners_frame = pd.DataFrame(winners, columns=keys + ["_cat", "_tied"])
    voting = joined[joined["_cat"] != INVALID]
    numbers = voting.groupby(keys, dropna=False)["_num"].mean().rename("_num").reset_index()
    base = joined.drop_duplicates(keys)[keys + ["_label", "_label_num"]]
    rows = base.merge(winners_frame, on=keys, how="left").merge(numbers, on=keys, how="left")
    n_vote_ties = int(rows["_tied"].astype(bool).sum())
    rows["judge"] = JURY_NAME
    return rows.drop(columns="_tied"), n_vote_ties


def alpha_level_of(kind: VerdictKind, joined: pd.DataFrame) -> str:
    """The level of measurement Krippendorff's alpha treats the verdicts at."""
    if not kind.numeric:
        return "nominal"
    values = joined.loc[joined["_cat"] != INVALID, "_cat"].map(as_number)
    values = values[np.isfinite(values)]
    integral = bool(np.all(np.equal(np.mod(values, 1), 0)))
    # Integer ratings on a short scale (Likert-like) are ordinal; anything
    # finer is treated as interval data.
    return "ordinal" if integral and values.nunique() <= 10 else "interval"


def jury_agreement(
    joined: pd.DataFrame,
    judges: list[str],
    codes: dict[str, int],
    kind: VerdictKind,
    unit_cols: list[str],
    alpha_level: str,
    *,
    seed: int,
    n_boot: int,
    level: float,
) -> JuryAgreement:
    keys = unit_cols + ["order"]
    valid = joined[joined["_cat"] != INVALID]
    subjects = valid.pivot_table(index=keys, columns="judge", values="_cat", aggfunc="first", dropna=False)
    subjects = subjects.reindex(columns=judges).dropna(how="all")
    subject_items = subjects.index.get_level_values("item").to_numpy(dtype=object)
    category_matrix = subjects.to_numpy(dtype=object)
    if alpha_level == "nominal":
        coded = np.array(
            [[np.nan if c is None or c != c else codes[c] for c in row] for row in category_matrix], dtype=float
        )
    else:
        coded = np.array([[as_number(c) if isinstance(c, str) else np.nan for c in row] for row in category_matrix])
    complete = np.isfinite(coded).all(axis=1)

    def statistic(rows: np.ndarray) -> dict[str, float]:
        full = rows[complete[rows]]
        return {
            "fleiss_kappa": fleiss_kappa(coded[full]) if full.size else float("nan"),
            "krippendorff_alpha": krippendorff_alpha(coded[rows].T, level=alpha_level),
        }

    est = bootstrap_over_items(subject_items, statistic, n_boot=n_boot, seed=seed, level=level)
    majority_verdicts, n_vote_ties = majority_rows(joined, unit_cols)
    majority, _ = agreement_for(
        JURY_NAME, majority_verdicts, codes, kind, unit_cols, seed=seed, n_boot=n_boot, level=level
    )
    majority.n_vote_ties = n_vote_ties
    return JuryAgreement(
        judges=judges,
        fleiss_kappa=est["fleiss_kappa"],
        n_fleiss_subjects=int(complete.sum()),
        krippendorff_alpha=est["krippendorff_alpha"],
        alpha_level=alpha_level,
        n_alpha_subjects=int((np.isfinite(coded).sum(axis=1) >= 2).sum()),
        majority=majority,
    )
