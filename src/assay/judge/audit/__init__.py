"""Audit a judge against human labels: agreement, position bias, jury, model ranking.

``audit(verdicts, labels)`` joins a judge's verdicts with human labels and
reports, per judge, accuracy in each presentation order, position consistency,
percent agreement next to Cohen's kappa (percent agreement alone hides
disagreement that kappa reveals), leniency and score correlations, each with
a bootstrap interval over items; across judges, Fleiss' kappa, Krippendorff's
alpha and the majority-vote jury; and, when several evaluated models are
covered, how the judge ranks them against how the humans do.

See docs/judge-audit.md for the definitions.

The work is split by question: ``labels`` reads and joins the two tables,
``agreement`` measures agreement per judge and across a jury, ``bias`` the
position and leniency biases, ``ranking`` how the judge ranks the models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from assay.errors import ConfigError
from assay.jsonable import jsonable
from assay.judge.agreement import ALPHA_LEVELS
from assay.judge.audit.agreement import (
    JURY_NAME,
    JudgeAgreement,
    JuryAgreement,
    agreement_for,
    alpha_level_of,
    jury_agreement,
    majority_rows,
    unit_table,
)
from assay.judge.audit.labels import (
    INVALID,
    MIN_LABELLED_ITEMS,
    ORDERS,
    Coverage,
    human_pairs_to_labels,
    prepare,
)
from assay.judge.audit.ranking import ModelRanking, rank_models
from assay.judge.pool import VOTE_TIE
from assay.judge.protocols.base import CORRECTNESS_KIND, KINDS as VERDICT_KINDS, PAIRWISE_KIND
from assay.judge.tables import WHERE, load_table

KINDS = tuple(kind.name for kind in VERDICT_KINDS)
PAIRWISE_VALUES = PAIRWISE_KIND.values
CORRECTNESS_VALUES = CORRECTNESS_KIND.values

__all__ = [
    "CORRECTNESS_VALUES",
    "INVALID",
    "JURY_NAME",
    "KINDS",
    "MIN_LABELLED_ITEMS",
    "ORDERS",
    "PAIRWISE_VALUES",
    "VOTE_TIE",
    "WHERE",
    "AuditResult",
    "Coverage",
    "JudgeAgreement",
    "JuryAgreement",
    "ModelRanking",
    "audit",
    "human_pairs_to_labels",
    "load_table",
]


@dataclass
class AuditResult:
    """Everything ``audit`` found. ``probes`` holds bias-probe results attached
    later (each with ``to_dict()`` and ``render()``, or a plain dict)."""

    kind: str
    verdicts_source: str
    labels_source: str
    coverage: Coverage
    judges: list[JudgeAgreement]
    jury: JuryAgreement | None
    rankings: list[ModelRanking]
    seed: int
    n_boot: int
    level: float
    probes: list[Any] = field(default_factory=list)

    def judge(self, name: str) -> JudgeAgreement:
        for result in self.judges:
            if result.judge == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "kind": self.kind,
                "verdicts": self.verdicts_source,
                "labels": self.labels_source,
                "coverage": self.coverage.to_dict(),
                "judges": [j.to_dict() for j in self.judges],
                "jury": None if self.jury is None else self.jury.to_dict(),
                "rankings": [r.to_dict() for r in self.rankings],
                "probes": [p.to_dict() if hasattr(p, "to_dict") else p for p in self.probes],
                "seed": self.seed,
                "n_boot": self.n_boot,
                "level": self.level,
            }
        )

    def render(self) -> str:
        parts = [
            f"Judge audit ({self.kind} verdicts; {self.verdicts_source} against {self.labels_source})",
            self.coverage.render(),
            f"Intervals: {round(100 * self.level)}% percentile bootstrap over items, {self.n_boot} resamples, seed {self.seed}",
            "",
        ]
        parts += [j.render() for j in self.judges]
        if self.jury is not None:
            parts += ["", self.jury.render()]
        if self.rankings:
            parts += ["", "Ranking of the evaluated models (separate from item-level agreement):"]
            parts += [r.render() for r in self.rankings]
        for probe in self.probes:
            parts += ["", probe.render() if hasattr(probe, "render") else json.dumps(jsonable(probe))]
        return "\n".join(parts)


def audit(
    verdicts: str | Path | pd.DataFrame,
    labels: str | Path | pd.DataFrame,
    *,
    seed: int = 0,
    n_boot: int = 1000,
    level: float = 0.95,
    kind: str | None = None,
    alpha_level: str | None = None,
) -> AuditResult:
    """Audit judges' verdicts against human labels.

    ``verdicts`` has columns ``item, judge, verdict`` and optionally ``order``
    (original/swapped; swapped verdicts already mapped back), ``model``,
    ``model_b``, ``score`` and ``invalid``; ``labels`` has ``item, label`` and
    optionally ``model``/``model_b``. Either may be a path or a DataFrame.
    ``kind`` (pairwise, correctness, score) is inferred from the labels unless
    given; ``alpha_level`` (nominal, ordinal, interval) from the kind and values.
    """
    if n_boot < 0:
        raise ConfigError(f"n_boot must be 0 or more, not {n_boot}")
    if not 0 < level < 1:
        raise ConfigError(f"level must be between 0 and 1, not {level}")
    if alpha_level is not None and alpha_level not in ALPHA_LEVELS:
        raise ConfigError(f"alpha_level must be one of {', '.join(ALPHA_LEVELS)}, not {alpha_level!r}")
    joined, spec, coverage, v_source, l_source = prepare(verdicts, labels, kind)
    unit_cols = ["item", "model", "model_b"]
    categories = sorted(set(joined["_cat"]) | set(joined["_label"]) | {INVALID, VOTE_TIE})
    if spec.credit is not None:
        # Every credited verdict needs a code, seen or not, for the ranking.
        categories = sorted(set(categories) | set(spec.credit))
    codes = {c: i for i, c in enumerate(categories)}
    opts = {"seed": seed, "n_boot": n_boot, "level": level}

    judges = list(dict.fromkeys(joined["judge"]))
    judge_results, rankings = [], []
    for name in judges:
        result, table = agreement_for(name, joined[joined["judge"] == name], codes, spec, unit_cols, **opts)
        judge_results.append(result)
        ranking = rank_models(name, table, spec, codes, **opts)
        if ranking is not None:
            rankings.append(ranking)
    jury = None
    if len(judges) >= 2:
        jury = jury_agreement(
            joined, judges, codes, spec, unit_cols, alpha_level or alpha_level_of(spec, joined), **opts
        )
        if rankings:
            majority, _ = majority_rows(joined, unit_cols)
            table = unit_table(majority, codes, unit_cols)
            ranking = rank_models(JURY_NAME, table, spec, codes, **opts)
            if ranking is not None:
                rankings.append(ranking)
    return AuditResult(
        kind=spec.name,
        verdicts_source=v_source,
        labels_source=l_source,
        coverage=coverage,
        judges=judge_results,
        jury=jury,
        rankings=rankings,
        seed=seed,
        n_boot=n_boot,
        level=level,
    )
