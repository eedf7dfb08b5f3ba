"""The lexical protocols: the gold answer found in the output (``contains``) or equal to it (``exact``).

They ask no judge model: each verdict is the task scorer of the same name
applied to the output, "1" or "0" with that value, and is free and exact.
They sit beside the model judges so that a model judge's verdicts can be
held against a rule that cannot be talked round.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from assay.judge.protocols.base import CORRECTNESS_KIND, LexicalVerdict, Protocol

if TYPE_CHECKING:
    from assay.records import Item


def _scored_by(scorer: str, found: str, not_found: str) -> Callable[[str, Item], LexicalVerdict]:
    def judge(output: str, item: Item) -> LexicalVerdict:
        from assay.tasks.scorers import get_scorer

        value = float(get_scorer(scorer)(output, item).value)
        return LexicalVerdict(str(int(value)), value, found if value else not_found)

    return judge


CONTAINS = Protocol(
    "contains",
    CORRECTNESS_KIND,
    "share correct",
    needs_target=True,
    lexical=_scored_by("contains", "gold answer found in the output", "gold answer not in the output"),
)
EXACT = Protocol(
    "exact",
    CORRECTNESS_KIND,
    "share correct",
    needs_target=True,
    lexical=_scored_by("exact", "gold answer equals the output", "gold answer differs from the output"),
)
