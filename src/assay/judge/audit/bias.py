"""A judge's biases as its verdicts against the human labels show them.

Position: whether a pair judged in both orders gets the same verdict
(position consistency), whether the judge is right in both orders, and how
often the output shown first wins. Leniency: how often the judge calls
correct what the humans call wrong. The bias probes (``assay.judge.probes``)
measure biases on test cases made for it; these come from the audit's own
verdicts.
"""

from __future__ import annotations

import numpy as np

from assay.judge.audit.labels import INVALID
from assay.judge.protocols import VerdictKind


def bias_statistics(
    verdict: np.ndarray, label: np.ndarray, codes: dict[str, int], kind: VerdictKind, with_orders: bool
) -> dict[str, float]:
    """The bias measures on one (re)sample of units.

    ``verdict`` holds the category codes of each unit's verdicts, one column
    per order (-1 where that order is missing); ``label`` the human label's
    code per unit.
    """
    first, second = codes.get("1", -9), codes.get("2", -9)
    wrong, right = codes.get("0", -9), codes.get("1", -9)
    present = verdict >= 0
    valid = present & (verdict != codes[INVALID])
    correct = (verdict == label[:, None]) & present
    out: dict[str, float] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        if with_orders:
            both = present.all(axis=1)
            out["both_orders_correct"] = float(correct[both].all(axis=1).mean()) if both.any() else np.nan
            # Two invalid verdicts are not a consistent judgement: only units
            # with a valid verdict in both orders count.
            both_valid = valid.all(axis=1)
            out["position_consistency"] = (
                float(np.mean(verdict[both_valid, 0] == verdict[both_valid, 1])) if both_valid.any() else np.nan
            )
        if kind.positional:
            # The output shown first is output 1 in the original order and
            # output 2 in the swapped one (verdicts are mapped back).
            decisive = np.isin(verdict, [first, second])
            first_wins = (verdict[:, 0] == first) & decisive[:, 0], (verdict[:, 1] == second) & decisive[:, 1]
            n_decisive = decisive.sum()
            out["first_position_rate"] = (
                float((first_wins[0].sum() + first_wins[1].sum()) / n_decisive) if n_decisive else np.nan
            )
        if kind.leniency:
            pooled_verdict = verdict[present]
            humans_wrong = np.broadcast_to(label[:, None], verdict.shape)[present] == wrong
            out["leniency"] = float(np.mean(pooled_verdict[humans_wrong] == right)) if humans_wrong.any() else np.nan
    return out
