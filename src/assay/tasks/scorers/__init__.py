"""Scorers: one function per file, one signature.

A scorer takes the model's output and the item and returns a ``Score`` (or a
bare float in [0, 1]). To add one, write ``scorers/NAME.py`` with a function
``NAME(output, item)`` and list it in ``SCORERS``.
"""

from __future__ import annotations

import importlib
import re
from typing import Callable, Union

from assay.errors import ConfigError
from assay.records import Item, Score

Scorer = Callable[[str, Item], Union[Score, float]]

# The ``detail`` a scorer stores when the output held no answer at all: such a
# sample casts no majority vote (it is not an answer others could agree with).
NO_NUMBER = "no number"
NO_MATCH = "no match"
NO_GROUP_CAPTURED = re.compile(r"matched .* but no group captured", re.DOTALL)


def gave_no_answer(detail: str) -> bool:
    """Whether a score's ``detail`` says the output held no answer."""
    return detail in (NO_NUMBER, NO_MATCH) or NO_GROUP_CAPTURED.fullmatch(detail) is not None


# name -> module under assay.tasks.scorers; imported only when used.
SCORERS = {
    "exact": "exact",
    "contains": "contains",
    "numeric": "numeric",
    "f1": "f1",
    "regex": "regex",
    "code": "code",
}


def get_scorer(name: str) -> Scorer:
    base = name.split(":", 1)[0]
    if base not in SCORERS:
        raise ConfigError(
            f"unknown scorer '{name}'; valid: {', '.join(SCORERS)} (regex takes a pattern: regex:PATTERN)"
        )
    module = importlib.import_module(f"assay.tasks.scorers.{SCORERS[base]}")
    if base == "regex":
        return module.make_regex_scorer(name.split(":", 1)[1] if ":" in name else None)
    return getattr(module, base)


def targets(item: Item) -> list[str]:
    """The acceptable answers: ``meta["targets"]`` when the dataset gave a list, else the target."""
    return item.meta.get("targets") or [item.target or ""]


def as_score(result: Union[Score, float]) -> Score:
    return result if isinstance(result, Score) else Score(float(result))
