"""The pointwise protocol: one output rated on a scale of 1 to ``--scale`` (default 10).

A jury pools ratings as numbers (mean by default, or median, or weighted by
each judge's agreement with human labels).
"""

from __future__ import annotations

import re
from typing import Any

from assay.judge.protocols.base import POOLS, SCORE_KIND, TEMPLATE_DIR, Protocol
from assay.judge.protocols.reading import Grammar, Parsed, cut_off, invalid, plain, valid, verdict_schema

# A reply cut off by the token limit counts only if it *starts* with its
# verdict, followed by something that shows the verdict itself is complete
# ("Rating: 7" at the very end might have been "Rating: 7/100" or "Rating: 75").
_COMPLETE = r"(?=[ \t]*(?:[,;!)\]\n]|\.\s))"
_START = (
    re.compile(r"\s*\[\[\s*(?P<n>-?\d+(?:\.\d+)?)\s*\]\](?:\s*/\s*(?P<of>\d+))?", re.I),
    re.compile(
        r"\s*(?:rating|score|grade)\s*[:=]\s*\[*\s*(?P<n>-?\d+(?:\.\d+)?)\s*\]*"
        r"(?:\s*(?:/|out\s+of)\s*(?P<of>\d+))?" + _COMPLETE,
        re.I,
    ),
)


def _schema(scale: int) -> dict[str, Any]:
    return verdict_schema("rating", {"type": "integer", "enum": list(range(1, scale + 1))})


def _json_rating(value: Any, scale: int) -> Parsed:
    if isinstance(value, bool):
        return invalid(f"rating {value!r} is not a number")
    if isinstance(value, (int, float)):
        return _rating(float(value), None, scale, None)
    match = re.fullmatch(r"\[*\s*" + _NUMBER + r"\s*\]*" + _OUT_OF + r"\s*\.?", plain(str(value)).strip(), re.I)
    if match is None:
        return invalid(f"rating {value!r} is not a number")
    return _rating(float(match["n"]), match["of"], scale, None)


def _from_start(text: str, scale: int) -> Parsed:
    for pattern in _START:
        match = pattern.match(text)
        if match is not None:
            return _rating(float(match["n"]), match["of"], scale, text.strip())
    return cut_off()


# A number not followed by more digits (so that "10-20" cannot be read as "1").
_NUMBER = r"(?P<n>-?\d+(?:\.\d+)?)(?!\.?\d)"
# "/ 10" or "out of 10"; a fraction of something else ("3/10 of the facts",
# "30/100%") is not a rating.
_OUT_OF = r"(?:\s*(?:/|out\s+of)\s*(?P<of>\d+)(?!\s*(?:%|of\b)))?"
_NOT_A_RANGE = r"(?!\s*(?:-|\u2013|to)\s*\d)"
# Explicit markers first; numbers in prose only when there is no marker.
# A marker word right before "score" that names an aspect ("the accuracy score is 8")
# makes it a sub-score, read only when there is no overall rating.
_MARKER = r"\b(?:rating|score|grade)\s*(?:is|of)?\s*[:=]?\s*\[*\s*" + _NUMBER + r"\s*\]*" + _NOT_A_RANGE + _OUT_OF
_NOT_ASPECTS = {
    "the",
    "my",
    "final",
    "overall",
    "total",
    "a",
    "an",
    "its",
    "this",
    "our",
    "your",
    "and",
    "i",
    "general",
    "global",
    "their",
    "his",
    "her",
    "is",
    "was",
    "would",
    "be",
    "with",
    "of",
}


class _SubScore:
    """``pattern`` read only where the word before it is (``aspect``) or is not an aspect."""

    def __init__(self, pattern: str, aspect: bool) -> None:
        self.pattern, self.aspect = re.compile(pattern, re.I), aspect

    def finditer(self, text: str) -> list[re.Match[str]]:
        return [m for m in self.pattern.finditer(text) if self._is_aspect(text, m.start()) == self.aspect]

    @staticmethod
    def _is_aspect(text: str, at: int) -> bool:
        word = re.search(r"([A-Za-z]+)[ \t]+$", text[:at])
        return word is not None and word[1].lower() not in _NOT_ASPECTS


_RATING_TIERS = (
    (re.compile(r"\[\[\s*" + _NUMBER + r"\s*\]\]" + _OUT_OF, re.I), _SubScore(_MARKER, False)),
    (_SubScore(_MARKER, True),),
    (
        re.compile(r"(?<![\d.])" + _NUMBER + r"\s*(?:/|out\s+of)\s*(?P<of>\d+)(?!\s*(?:%|of\b))", re.I),
        re.compile(
            r"\b(?:rate|rated|give|gave|giving|award|assign)\s+(?:it|this(?:\s+response)?|the\s+response)?\s*"
            r"(?:an?\s+|at\s+)?" + _NUMBER + _NOT_A_RANGE + _OUT_OF + r"(?=\s*(?:[.,;!)\n]|$))",
            re.I,
        ),
    ),
)


# "Not a 10/10", "far from a 10/10", "the reference answer deserves 10/10".
_RATING_NEGATED = re.compile(
    r"(?:\bnot|n't|\bnever|\bfar\s+from|\bhardly|\bshort\s+of|\bno)(?:\s+\w+){0,2}\s+$"
    r"|^\s*(?:not|never|far\s+from)\b",
    re.I,
)
_ABOUT_REFERENCE = re.compile(
    r"\b(?:reference|gold|ideal|expected|model\s+answer|ground[\s-]*truth|perfect\s+answer)\b", re.I
)


def _not_the_rating(text: str, at: int) -> bool:
    """A number that is negated or about the reference is not the response's rating."""
    clause = re.split(r"[.!?;,\n](?!\d)", text[:at])[-1]
    return bool(_RATING_NEGATED.search(clause) or _ABOUT_REFERENCE.search(clause))


def _rating(number: float, out_of: str | None, scale: int, explanation: str | None) -> Parsed:
    # A rating on another scale is not rescaled: the judge was asked for 1..scale,
    # and a "4/5" says it followed a different instruction.
    if out_of is not None and int(out_of) != scale:
        return invalid(f"rating {number:g}/{out_of} is on a different scale than 1-{scale}", explanation)
    if not number.is_integer() or not 1 <= number <= scale:
        return invalid(f"rating {number:g} is not an integer from 1 to {scale}", explanation)
    return valid(str(int(number)), float(number), explanation)


# "on a 5-point scale", "on a scale of 1 to 5", "(1-5 scale)".
_SCALE_MENTION = re.compile(
    r"\b(?P<a>\d+)[- ]point\s+scale|\bscale\s+(?:of|from)\s+[01]\s*(?:-|\u2013|to)\s*(?P<b>\d+)"
    r"|\b[01]\s*(?:-|\u2013|to)\s*(?P<c>\d+)\s+scale",
    re.I,
)


def _rating_from_text(text: str, scale: int) -> Parsed:
    stripped = text.strip()
    for m in _SCALE_MENTION.finditer(text):
        if int(m["a"] or m["b"] or m["c"]) != scale:
            # "It would score 3 on a 5-point scale": the rating is on another scale.
            return invalid(f"the reply rates on a scale other than 1-{scale}", stripped)
    bare = re.fullmatch(_NUMBER + r"\s*\.?", stripped)
    if bare:
        return _rating(float(bare["n"]), None, scale, None)
    for tier in _RATING_TIERS:
        found = [
            (m["n"], m["of"])
            for pattern in tier
            for m in pattern.finditer(text)
            if not _not_the_rating(text, m.start())
        ]
        if not found:
            continue
        for number, out_of in found:
            if out_of is not None and int(out_of) != scale:
                return _rating(float(number), out_of, scale, stripped)
        numbers = list(dict.fromkeys(float(n) for n, _ in found))
        # Several different ratings in one reply: which one is meant is a guess.
        if len(numbers) > 1:
            return invalid("several ratings: " + ", ".join(f"{n:g}" for n in numbers), stripped)
        return _rating(numbers[0], None, scale, stripped)
    return invalid("no rating found")


GRAMMAR = Grammar(("rating", "score", "grade", "verdict"), _json_rating, _from_start, _rating_from_text)
POINTWISE = Protocol(
    "pointwise",
    SCORE_KIND,
    "mean rating",
    template=TEMPLATE_DIR / "pointwise.jinja",
    rubric="helpfulness",
    schema=_schema,
    grammar=GRAMMAR,
    rated=True,
    default_pool="mean",
    pools=POOLS,
)
