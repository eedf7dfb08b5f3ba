"""Reading a judge's reply: what every protocol's grammar shares.

A judge is asked for JSON with the explanation first and the verdict last
(explain-then-rate). Where the backend enforces the schema the reply is JSON;
otherwise (a server without ``response_format``, a user template asking for
free text) the parser looks for the conventional forms: ``Rating: [[7]]``,
``[[A]]``, ``I choose B``, ``Verdict: correct``.

A wrong verdict is far worse than an invalid one, so the parser reads only
what it can read without guessing. A reply is *invalid* (never coerced to a
default) when:

- it is JSON (or starts like JSON) but has no readable value under a known
  verdict key: the explanation inside it is never read as the verdict, and a
  JSON object cut off before its verdict is not completed from its prose;
- it was cut off (``finish_reason="length"``) and does not hold a complete
  JSON verdict or an explicit verdict marker at its very start;
- it gives a rating on another scale (``3/5`` when the scale is 10), a
  rating outside the scale, or several different ratings;
- it names both answers, or says both "correct" and "incorrect", and no
  explicit final verdict (``Verdict: ...``, ``so it is wrong``) orders them;
- it negates or hedges the verdict (``not incorrect``, ``not entirely
  correct``, ``partially correct``, ``A is not better``);
- it has an explicit verdict marker whose value cannot be read
  (``Verdict: partially correct``, ``Winner: a draw``).

Free text is read in two tiers: explicit verdict markers (``[[B]]``,
``Verdict: ...``, ``I choose ...``, ``Correct: no``, a concluding ``so it
is wrong``) first; only when there is none, statements in the prose
(``Response A is more accurate``, ``The answer isn't correct``). Within a
tier, readings that disagree make the reply invalid.

Each protocol brings its own grammar (``Grammar``: the JSON keys its verdict
may sit under, how a JSON value reads, how a reply cut off by the token limit
reads, how free text reads); ``read_reply`` applies the rules above in the
same order for all of them.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Explanations are bounded in the schema so that a judge with a small token
# budget always reaches the verdict field instead of being cut off mid-reason.
EXPLANATION_MAX_CHARS = 240
# An explicit verdict marker whose value cannot be read ("Verdict: partially correct").
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Parsed:
    """One judge reply, read. For pairwise, ``verdict`` is "A", "B" or "tie" as
    presented (the caller maps it back to the original numbering); for
    reference it is "1" (correct) or "0" (incorrect); for pointwise it is the
    rating as text and ``score`` the rating."""

    verdict: str | None
    score: float | None
    explanation: str | None
    invalid: bool
    reason: str | None = None


@dataclass(frozen=True)
class Grammar:
    """How one protocol's verdict is written.

    ``verdict_keys``: the JSON keys the verdict may be under (normalised:
    lower case, ``final_``/``overall_`` dropped), most usual first.
    ``json_value(value, scale)``: one such field's value, read.
    ``from_start(text, scale)``: a reply cut off by the token limit, read from
    its very start only. ``from_text(text, scale)``: a free-text reply.
    """

    verdict_keys: tuple[str, ...]
    json_value: Callable[[Any, int], Parsed]
    from_start: Callable[[str, int], Parsed]
    from_text: Callable[[str, int], Parsed]


def verdict_schema(field_name: str, value: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of a reply: a bounded explanation first, then the verdict field."""
    explanation = {"type": "string", "maxLength": EXPLANATION_MAX_CHARS}
    return {
        "type": "object",
        "properties": {"explanation": explanation, field_name: value},
        "required": ["explanation", field_name],
    }


def read_reply(text: str | None, grammar: Grammar, scale: int = 10, finish_reason: str | None = None) -> Parsed:
    """Read a judge's reply with ``grammar``; see the module docstring.

    ``finish_reason`` is the backend's (``"length"`` means the reply was cut
    off by the token limit); ``None`` when unknown.
    """
    if text is None or not text.strip():
        return invalid("empty reply")
    objects, spans, broken = _json_objects(text)
    if _starts_json(text):
        # A JSON reply is read from its verdict field only, never from its prose.
        return _from_json(objects, bool(broken), grammar, scale)
    final = _final_object(text, objects, spans, grammar)
    if final is not None:
        # Prose followed by the JSON verdict ("Here is my verdict: {...}", a
        # closing ```json block): the object is the reply's verdict.
        return _from_json([final], False, grammar, scale)
    if any(_cut_off_json(text, at) for at in broken):
        return _from_json([], True, grammar, scale)
    # Prose that merely quotes JSON or a dict (a response's output, say) is read
    # as prose, without the quoted objects.
    for start, stop in reversed(spans):
        text = text[:start] + " " + text[stop:]
    text = re.sub(r"\{[^{}\n]*\}", " ", text)
    text = plain(text)
    if finish_reason == "length":
        # The end of the reply is missing, and the end is where the verdict was
        # asked for: only a verdict stated first can be trusted.
        return grammar.from_start(text, scale)
    return grammar.from_text(text, scale)


def invalid(reason: str, explanation: str | None = None) -> Parsed:
    return Parsed(None, None, explanation, True, reason)


def valid(verdict: str, score: float | None, explanation: str | None) -> Parsed:
    return Parsed(verdict, score, explanation, False)


def cut_off() -> Parsed:
    """A reply cut off by the token limit that does not start with its verdict."""
    return invalid("reply cut off (finish_reason=length) without a verdict at its start")


def plain(text: str) -> str:
    """The reply without markdown emphasis (``**Verdict:** B``) and with straight quotes."""
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    # Asterisks and backticks anywhere; underscores only at word edges so that
    # "is_correct" survives while "_B_" loses its italics.
    return re.sub(r"\*+|`+|(?<!\w)_+|_+(?!\w)", "", text)


# ----------------------------------------------------------------- JSON

# Where an object starts: a brace followed by a quoted key.
_JSON_OPENER = re.compile(r"\{\s*[\"']")
_FENCE = re.compile(r"^\s*(?:```[\w-]*\s*)?")
_MAX_BRACES = 200

_EXPLANATION_KEYS = ("explanation", "reason", "reasoning", "rationale", "justification")


def _json_objects(text: str) -> tuple[list[dict[str, Any]], list[tuple[int, int]], list[int]]:
    """The JSON objects in the reply, where they are, and where broken ones (cut off?) start."""
    objects: list[dict[str, Any]] = []
    spans: list[tuple[int, int]] = []
    broken: list[int] = []
    for match in _JSON_OPENER.finditer(text):
        if spans and match.start() < spans[-1][1]:
            continue  # a nested object of one already read
        value, stop = _decode_object(text, match.start())
        if value is None:
            broken.append(match.start())
            continue
        objects.append(value)
        spans.append((match.start(), stop))
    return objects, spans, broken


def _starts_json(text: str) -> bool:
    """A reply that starts with a brace (after an optional code fence) is JSON."""
    return text[_FENCE.match(text).end() :].startswith("{")


def _final_object(
    text: str, objects: list[dict[str, Any]], spans: list[tuple[int, int]], grammar: Grammar
) -> dict[str, Any] | None:
    """The object that ends the reply, when it holds the verdict or closes a ```json block."""
    if not spans or not re.fullmatch(r"\s*(?:```)?\s*", text[spans[-1][1] :]):
        return None
    data = objects[-1]
    fenced = re.search(r"```(?:json)?\s*$", text[: spans[-1][0]], re.I)
    if fenced or _has_verdict_key([data], grammar):
        return data
    return None


def _cut_off_json(text: str, at: int) -> bool:
    """A broken object is a JSON reply cut off when it starts a line (or a fenced
    block) or nothing after it closes it; a dict inside a sentence is just text."""
    line_start = re.search(r"(?:^|\n)[ \t]*(?:```[\w-]*\s*)?$", text[:at]) is not None
    return line_start or "}" not in text[at:]


def _has_verdict_key(objects: list[dict[str, Any]], grammar: Grammar) -> bool:
    return any(_json_key(k) in grammar.verdict_keys for data in objects for k in data)


def _decode_object(text: str, start: int) -> tuple[dict[str, Any] | None, int]:
    try:
        value, stop = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError:
        value, stop = None, start
    if isinstance(value, dict):
        return value, stop
    # Small models sometimes write a Python dict ({'verdict': 'A'}). The number of
    # closing braces tried is bounded: a verdict object is short.
    closes = [i for i in range(start + 1, len(text)) if text[i] == "}"][:_MAX_BRACES]
    for close in closes:
        try:
            value = ast.literal_eval(text[start : close + 1])
        except Exception:  # noqa: BLE001 - any failure just means "not this prefix"
            continue
        if isinstance(value, dict):
            return value, close + 1
    return None, start


def _json_key(key: Any) -> str:
    """``"Final Verdict"`` and ``"overall_rating"`` are the verdict and the rating."""
    name = re.sub(r"[\s\-]+", "_", str(key).strip().lower())
    return re.sub(r"^(?:final|overall)_", "", name)


def _from_json(objects: list[dict[str, Any]], broken: bool, grammar: Grammar, scale: int) -> Parsed:
    readings: list[Parsed] = []
    explanation = None
    for data in objects:
        fields = {_json_key(k): v for k, v in data.items()}
        if explanation is None:
            explanation = next((str(fields[k]) for k in _EXPLANATION_KEYS if k in fields), None)
        readings += [grammar.json_value(fields[k], scale) for k in grammar.verdict_keys if k in fields]
    if not readings:
        reason = (
            "JSON reply cut off before its verdict"
            if broken
            else f"JSON reply without a {'/'.join(grammar.verdict_keys[:3])} field"
        )
        return invalid(reason, explanation)
    for reading in readings:
        if reading.invalid:
            return invalid(reading.reason or "unreadable verdict", explanation)
    if len({r.verdict for r in readings}) > 1:
        return invalid(
            "contradictory verdict fields: " + ", ".join(sorted({r.verdict or "" for r in readings})), explanation
        )
    return valid(readings[0].verdict or "", readings[0].score, explanation)
