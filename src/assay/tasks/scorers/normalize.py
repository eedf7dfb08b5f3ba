"""Answer normalisation shared by the string scorers (SQuAD-style)."""

from __future__ import annotations

import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.IGNORECASE)
# Punctuation goes, except what is part of a number: a minus sign ("-3", "-.5") and a
# decimal point or comma between digits ("3.5", "3,5") or before one (".5"), so that "3" differs
# from "-3" and "35" from "3.5". A thousands comma ("1,000") goes, as in 1000.
_PUNCT = re.compile(
    r"(?<=\d),(?=\d{3}(?!\d))"  # thousands comma
    # A leading-dot decimal keeps its point and sign (".5", "-.5") unless the dot
    # follows a letter or other punctuation ("a.5").
    r"|(?!-\.?\d)(?!(?<=\d)[.,]\d)(?!(?<![^\s\d-])\.\d)[" + re.escape(string.punctuation) + "]"  # other punctuation
)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation (but not signs and decimal points) and articles, fold white space."""
    text = _PUNCT.sub("", text.lower().replace("\u2212", "-"))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())
