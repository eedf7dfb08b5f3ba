"""What a judge protocol is: one record that says everything the rest of assay asks about it.

A ``Protocol`` names its default template and rubric, the JSON schema a
judge's reply must follow, the grammar that reads a reply, what kind of value
its verdict is (``VerdictKind``) and so how a verdict turns into credit, how a
jury pools it, whether it needs the gold answer and whether it judges pairs.
Code elsewhere asks these questions of the record; it never compares a
protocol's name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from assay.judge.protocols.reading import Grammar, Parsed, read_reply

if TYPE_CHECKING:
    from assay.records import Item

# The shipped Jinja templates, one per model protocol, and their rubrics.
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
# The two presentation orders of a pair; a verdict in the swapped order is
# mapped back, so that "1" always means the first model of the pair.
ORIGINAL, SWAPPED = "original", "swapped"
POOLS = ("majority", "mean", "median", "weighted")
VOTE_POOLS = ("majority", "weighted")


@dataclass(frozen=True)
class VerdictKind:
    """What values a verdict takes, and what they are worth.

    The audit reads human labels as one of these kinds. ``values`` are the
    categories (None: any number, a score). ``credit`` is what each verdict is
    worth to the first model of a pair (a win 1, a tie half, a loss 0); only
    pairwise verdicts carry one. ``positional``: the verdict names a
    presentation position, so position bias can be measured. ``leniency``:
    the verdict says correct or not, so a judge's leniency (calling wrong
    answers right) can be. ``correlates``: the verdict reads as a number on
    the labels' scale (a rating, 0/1), so correlations with them apply.
    """

    name: str
    values: tuple[str, ...] | None
    allowed: str
    ranking_meaning: str
    credit: Mapping[str, float] | None = None
    positional: bool = False
    leniency: bool = False
    correlates: bool = True

    @property
    def numeric(self) -> bool:
        """Verdicts are numbers (ratings), not categories."""
        return self.values is None

    def fits(self, value: str) -> bool:
        """``value`` (canonical text) is a verdict of this kind."""
        if self.values is not None:
            return value in self.values
        try:
            return math.isfinite(float(value))
        except ValueError:
            return False


PAIRWISE_KIND = VerdictKind(
    "pairwise",
    ("1", "2", "tie"),
    "1, 2 or tie",
    "win rate, ties counting half",
    credit=MappingProxyType({"1": 1.0, "2": 0.0, "tie": 0.5}),
    positional=True,
    correlates=False,
)
CORRECTNESS_KIND = VerdictKind("correctness", ("0", "1"), "0 or 1", "share judged correct", leniency=True)
SCORE_KIND = VerdictKind("score", None, "a number", "mean score")
# In this order: where labels fit several kinds equally, the first wins.
KINDS = (PAIRWISE_KIND, CORRECTNESS_KIND, SCORE_KIND)


def verdict_kind(name: str) -> VerdictKind:
    for kind in KINDS:
        if kind.name == name:
            return kind
    raise KeyError(name)


@dataclass(frozen=True)
class LexicalVerdict:
    """A verdict computed without a judge model: the text, its value, why."""

    verdict: str
    score: float
    explanation: str


@dataclass(frozen=True)
class Protocol:
    """One judge protocol.

    ``template`` is the default prompt: a ``Path`` to a Jinja file, or the
    Jinja source itself as a string; None for a lexical protocol, which asks
    no model and instead computes each verdict with ``lexical(output, item)``.
    ``schema(scale)`` is the JSON schema of a reply (explanation first, then
    the verdict field) and ``grammar`` reads a reply (see ``reading``).
    ``summary`` says what the per-model number of a summary is. ``pairs``: the
    protocol judges two outputs at once, in both orders, and ``map_back``
    turns a verdict on the presented order into the original numbering.
    ``needs_target``: the prompt shows the gold answer (``reference``).
    ``rated``: the verdict is a rating on ``--scale`` points. ``pools`` are
    the ways a jury may pool its verdicts, ``default_pool`` the one used when
    none is asked for.
    """

    name: str
    kind: VerdictKind
    summary: str
    template: Path | str | None = None
    rubric: str = "helpfulness"
    schema: Callable[[int], dict[str, Any]] | None = None
    grammar: Grammar | None = None
    pairs: bool = False
    map_back: Callable[[str, str], str] | None = None
    needs_target: bool = False
    rated: bool = False
    default_pool: str = "majority"
    pools: tuple[str, ...] = VOTE_POOLS
    lexical: Callable[[str, Item], LexicalVerdict] | None = None

    @property
    def needs_judge(self) -> bool:
        """A model protocol asks judge models; a lexical one takes none."""
        return self.lexical is None

    @property
    def pools_scores(self) -> bool:
        """A jury pools the verdicts as numbers (a mean), not as votes."""
        return self.kind.numeric

    def verdict_schema(self, scale: int = 10) -> dict[str, Any]:
        if self.schema is None:
            raise ValueError(f"no schema for protocol {self.name!r}")
        return self.schema(scale)

    def parse(self, text: str | None, scale: int = 10, finish_reason: str | None = None) -> Parsed:
        """A judge's reply, read; see ``assay.judge.protocols.reading``."""
        if self.grammar is None:
            raise ValueError(f"no parser for protocol {self.name!r}")
        return read_reply(text, self.grammar, scale, finish_reason)

    def in_original_order(self, verdict: str, order: str) -> str:
        """A verdict on the units as presented, in the original numbering."""
        return verdict if self.map_back is None else self.map_back(verdict, order)

    def credit(self, verdict: str, score: float | None) -> float | None:
        """What a valid verdict counts for in a summary: the first model's credit
        for a pair, the verdict's score otherwise (a rating, 1 for correct)."""
        if self.kind.credit is not None:
            return self.kind.credit[verdict]
        return score
