"""Numeric answer extraction, GSM8K style.

The answer is taken, in order of preference, from after ``####``, from
"the answer is N", or else the last number in the output. A number may have
a sign (``-`` or U+2212), a currency sign, thousands commas (a comma followed
by exactly three digits), a decimal part (``.5`` is 0.5) or be a fraction
(``3/4``); a trailing period is ignored and 72.0 equals 72. The target is
read the same way.
"""

from __future__ import annotations

import re
from fractions import Fraction

from assay.records import Item, Score
from assay.tasks.scorers import NO_NUMBER, targets

_INTEGER = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)"
# (?<!\d): a number does not start inside another ("5-3" is not -3, "1.2.3" has no ".3").
_NUMBER = rf"(?<!\d)[-\u2212]?\$?(?:{_INTEGER}(?:/\d+|\.\d+)?|\.\d+)"
_AFTER_HASHES = re.compile(r"####\s*(" + _NUMBER + ")")
_ANSWER_IS = re.compile(r"answer is:?\s*\**\s*(" + _NUMBER + ")", re.IGNORECASE)
_ANY_NUMBER = re.compile(_NUMBER)


def extract_number(text: str) -> str | None:
    for pattern in (_AFTER_HASHES, _ANSWER_IS):
        match = pattern.search(text)
        if match:
            return match.group(1)
    numbers = _ANY_NUMBER.findall(text)
    return numbers[-1] if numbers else None


def to_fraction(text: str) -> Fraction | None:
    cleaned = text.replace(",", "").replace("$", "").replace("\u2212", "-").rstrip(".")
    try:
        return Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        return None


def numeric(output: str, item: Item) -> Score:
    """1 when the number extracted from the output equals an acceptable target's number."""
    found = extract_number(output)
    if found is None:
        return Score(0.0, detail=NO_NUMBER)
    value = to_fraction(found)
    golds = [to_fraction(extract_number(t) or "") for t in targets(item)]
    return Score(float(value is not None and value in golds), detail=found)
