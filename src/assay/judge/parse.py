"""Verdict schemas for constrained output, and a tolerant parser for the rest.

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
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PROTOCOLS = ("pointwise", "pairwise", "reference", "contains", "exact")
MODEL_PROTOCOLS = ("pointwise", "pairwise", "reference")
LEXICAL_PROTOCOLS = ("contains", "exact")
# Explanations are bounded in the schema so that a judge with a small token
# budget always reaches the verdict field instead of being cut off mid-reason.
EXPLANATION_MAX_CHARS = 240


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


def verdict_schema(protocol: str, scale: int = 10) -> dict[str, Any]:
    """The JSON schema a judge's reply must follow (explanation first)."""
    explanation = {"type": "string", "maxLength": EXPLANATION_MAX_CHARS}
    if protocol == "pointwise":
        verdict: dict[str, Any] = {"type": "integer", "enum": list(range(1, scale + 1))}
        name = "rating"
    elif protocol == "pairwise":
        verdict, name = {"type": "string", "enum": ["A", "B", "tie"]}, "verdict"
    elif protocol == "reference":
        verdict, name = {"type": "string", "enum": ["correct", "incorrect"]}, "verdict"
    else:
        raise ValueError(f"no schema for protocol {protocol!r}")
    return {"type": "object", "properties": {"explanation": explanation, name: verdict},
            "required": ["explanation", name]}


def parse_reply(text: str | None, protocol: str, scale: int = 10,
                finish_reason: str | None = None) -> Parsed:
    """Read a judge's reply for ``protocol``; see the module docstring.

    ``finish_reason`` is the backend's (``"length"`` means the reply was cut
    off by the token limit); ``None`` when unknown.
    """
    if protocol not in MODEL_PROTOCOLS:
        raise ValueError(f"no parser for protocol {protocol!r}")
    if text is None or not text.strip():
        return _invalid("empty reply")
    objects, spans, broken = _json_objects(text)
    if _starts_json(text):
        # A JSON reply is read from its verdict field only, never from its prose.
        return _from_json(objects, bool(broken), protocol, scale)
    final = _final_object(text, objects, spans, protocol)
    if final is not None:
        # Prose followed by the JSON verdict ("Here is my verdict: {...}", a
        # closing ```json block): the object is the reply's verdict.
        return _from_json([final], False, protocol, scale)
    if any(_cut_off_json(text, at) for at in broken):
        return _from_json([], True, protocol, scale)
    # Prose that merely quotes JSON or a dict (a response's output, say) is read
    # as prose, without the quoted objects.
    for start, stop in reversed(spans):
        text = text[:start] + " " + text[stop:]
    text = re.sub(r"\{[^{}\n]*\}", " ", text)
    plain = _plain(text)
    if finish_reason == "length":
        # The end of the reply is missing, and the end is where the verdict was
        # asked for: only a verdict stated first can be trusted.
        return _from_start(plain, protocol, scale)
    return _FREE_TEXT[protocol](plain, scale)


def _invalid(reason: str, explanation: str | None = None) -> Parsed:
    return Parsed(None, None, explanation, True, reason)


def _valid(verdict: str, score: float | None, explanation: str | None) -> Parsed:
    return Parsed(verdict, score, explanation, False)


def _plain(text: str) -> str:
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
_VERDICT_KEYS = {
    "pointwise": ("rating", "score", "grade", "verdict"),
    "pairwise": ("verdict", "winner", "choice", "preference", "preferred", "better", "best", "answer",
                 "judgement", "judgment", "decision"),
    # No "answer" key here: in a reference reply it is as likely to hold the
    # question's answer ("yes") as the verdict.
    "reference": ("verdict", "correct", "is_correct", "correctness", "judgement", "judgment", "grade",
                  "decision", "label"),
}


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
    return text[_FENCE.match(text).end():].startswith("{")


def _final_object(text: str, objects: list[dict[str, Any]], spans: list[tuple[int, int]],
                  protocol: str) -> dict[str, Any] | None:
    """The object that ends the reply, when it holds the verdict or closes a ```json block."""
    if not spans or not re.fullmatch(r"\s*(?:```)?\s*", text[spans[-1][1]:]):
        return None
    data = objects[-1]
    fenced = re.search(r"```(?:json)?\s*$", text[:spans[-1][0]], re.I)
    if fenced or _has_verdict_key([data], protocol):
        return data
    return None


def _cut_off_json(text: str, at: int) -> bool:
    """A broken object is a JSON reply cut off when it starts a line (or a fenced
    block) or nothing after it closes it; a dict inside a sentence is just text."""
    line_start = re.search(r"(?:^|\n)[ \t]*(?:```[\w-]*\s*)?$", text[:at]) is not None
    return line_start or "}" not in text[at:]


def _has_verdict_key(objects: list[dict[str, Any]], protocol: str) -> bool:
    return any(_json_key(k) in _VERDICT_KEYS[protocol] for data in objects for k in data)


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
            value = ast.literal_eval(text[start:close + 1])
        except Exception:  # noqa: BLE001 - any failure just means "not this prefix"
            continue
        if isinstance(value, dict):
            return value, close + 1
    return None, start


def _json_key(key: Any) -> str:
    """``"Final Verdict"`` and ``"overall_rating"`` are the verdict and the rating."""
    name = re.sub(r"[\s\-]+", "_", str(key).strip().lower())
    return re.sub(r"^(?:final|overall)_", "", name)


def _from_json(objects: list[dict[str, Any]], broken: bool, protocol: str, scale: int) -> Parsed:
    readings: list[Parsed] = []
    explanation = None
    for data in objects:
        fields = {_json_key(k): v for k, v in data.items()}
        if explanation is None:
            explanation = next((str(fields[k]) for k in _EXPLANATION_KEYS if k in fields), None)
        readings += [_JSON_VALUE[protocol](fields[k], scale) for k in _VERDICT_KEYS[protocol] if k in fields]
    if not readings:
        reason = ("JSON reply cut off before its verdict" if broken
                  else f"JSON reply without a {'/'.join(_VERDICT_KEYS[protocol][:3])} field")
        return _invalid(reason, explanation)
    for reading in readings:
        if reading.invalid:
            return _invalid(reading.reason or "unreadable verdict", explanation)
    if len({r.verdict for r in readings}) > 1:
        return _invalid("contradictory verdict fields: " + ", ".join(sorted({r.verdict or "" for r in readings})),
                        explanation)
    return _valid(readings[0].verdict or "", readings[0].score, explanation)


def _json_rating(value: Any, scale: int) -> Parsed:
    if isinstance(value, bool):
        return _invalid(f"rating {value!r} is not a number")
    if isinstance(value, (int, float)):
        return _rating(float(value), None, scale, None)
    match = re.fullmatch(r"\[*\s*" + _NUMBER + r"\s*\]*" + _OUT_OF + r"\s*\.?", _plain(str(value)).strip(), re.I)
    if match is None:
        return _invalid(f"rating {value!r} is not a number")
    return _rating(float(match["n"]), match["of"], scale, None)


def _json_choice(value: Any, scale: int) -> Parsed:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        choice = _choice_word(str(value))
        if choice is not None:
            return _valid(choice, None, None)
        # A sentence in the verdict field ("Response A is better") is read like
        # free text, but only that field: the explanation is never consulted.
        parsed = _choice_from_text(_plain(str(value)), scale)
        if not parsed.invalid:
            return parsed
    return _invalid(f"verdict {value!r} is not A, B or tie")


def _json_correctness(value: Any, scale: int) -> Parsed:
    if isinstance(value, bool):
        return _correctness("1" if value else "0", None)
    if isinstance(value, (int, float)):
        if value in (0, 1):
            return _correctness(str(int(value)), None)
    elif isinstance(value, str):
        word = _correct_word(value)
        if word is not None:
            return _correctness(word, None)
        parsed = _correctness_from_text(_plain(value), scale)
        if not parsed.invalid:
            return parsed
    return _invalid(f"verdict {value!r} is not correct or incorrect")


_JSON_VALUE: dict[str, Callable[[Any, int], Parsed]] = {
    "pointwise": _json_rating, "pairwise": _json_choice, "reference": _json_correctness}


# ----------------------------------------------------------------- cut-off replies

# A reply cut off by the token limit counts only if it *starts* with its
# verdict, followed by something that shows the verdict itself is complete
# ("Rating: 7" at the very end might have been "Rating: 7/100" or "Rating: 75").
_COMPLETE = r"(?=[ \t]*(?:[,;!)\]\n]|\.\s))"
_START_MARKERS = {
    "pointwise": (
        re.compile(r"\s*\[\[\s*(?P<n>-?\d+(?:\.\d+)?)\s*\]\](?:\s*/\s*(?P<of>\d+))?", re.I),
        re.compile(r"\s*(?:rating|score|grade)\s*[:=]\s*\[*\s*(?P<n>-?\d+(?:\.\d+)?)\s*\]*"
                   r"(?:\s*(?:/|out\s+of)\s*(?P<of>\d+))?" + _COMPLETE, re.I),
    ),
    "pairwise": (
        re.compile(r"\s*\[\[\s*(?P<c>A|B|C|tie|A\s*>>?\s*B|B\s*>>?\s*A|A\s*=\s*B|B\s*=\s*A)\s*\]\]", re.I),
        # Not followed by "," or ":": "A, B both ..." and "A: concise" are not verdicts.
        re.compile(r"\s*(?:(?:final\s+)?(?:verdict|winner|choice|preference)\s*[:=]\s*)?"
                   r"(?:(?:output|response|assistant)\s+)?\(?(?P<c>(?-i:A|B)|tie)\)?(?=[ \t]*(?:\n|[.!]\s))", re.I),
    ),
    "reference": (
        re.compile(r"\s*\[\[\s*(?P<c>correct|incorrect)\s*\]\]", re.I),
        re.compile(r"\s*(?:(?:final\s+)?verdict\s*[:=]\s*)?(?P<c>correct|incorrect)(?=[ \t]*(?:[!\n]|\.\s))", re.I),
    ),
}


def _from_start(text: str, protocol: str, scale: int) -> Parsed:
    for pattern in _START_MARKERS[protocol]:
        match = pattern.match(_canonical_labels(text) if protocol == "pairwise" else text)
        if match is None:
            continue
        if protocol == "pointwise":
            return _rating(float(match["n"]), match["of"], scale, text.strip())
        if protocol == "pairwise":
            if _outline(text):
                break
            return _valid(_label_choice(match["c"]), None, text.strip())
        return _correctness(_correct_word(match["c"]) or "", text.strip())
    return _invalid("reply cut off (finish_reason=length) without a verdict at its start")


# ----------------------------------------------------------------- pointwise

# A number not followed by more digits (so that "10-20" cannot be read as "1").
_NUMBER = r"(?P<n>-?\d+(?:\.\d+)?)(?!\.?\d)"
# "/ 10" or "out of 10"; a fraction of something else ("3/10 of the facts",
# "30/100%") is not a rating.
_OUT_OF = r"(?:\s*(?:/|out\s+of)\s*(?P<of>\d+)(?!\s*(?:%|of\b)))?"
_NOT_A_RANGE = r"(?!\s*(?:-|\u2013|to)\s*\d)"
# Explicit markers first; numbers in prose only when there is no marker.
# A marker word right before "score" that names an aspect ("the accuracy score is 8")
# makes it a sub-score, read only when there is no overall rating.
_MARKER = (r"\b(?:rating|score|grade)\s*(?:is|of)?\s*[:=]?\s*\[*\s*" + _NUMBER + r"\s*\]*" + _NOT_A_RANGE + _OUT_OF)
_NOT_ASPECTS = {"the", "my", "final", "overall", "total", "a", "an", "its", "this", "our", "your", "and", "i",
                "general", "global", "their", "his", "her", "is", "was", "would", "be", "with", "of"}


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
    (re.compile(r"(?<![\d.])" + _NUMBER + r"\s*(?:/|out\s+of)\s*(?P<of>\d+)(?!\s*(?:%|of\b))", re.I),
     re.compile(r"\b(?:rate|rated|give|gave|giving|award|assign)\s+(?:it|this(?:\s+response)?|the\s+response)?\s*"
                r"(?:an?\s+|at\s+)?" + _NUMBER + _NOT_A_RANGE + _OUT_OF + r"(?=\s*(?:[.,;!)\n]|$))", re.I)),
)


# "Not a 10/10", "far from a 10/10", "the reference answer deserves 10/10".
_RATING_NEGATED = re.compile(r"(?:\bnot|n't|\bnever|\bfar\s+from|\bhardly|\bshort\s+of|\bno)(?:\s+\w+){0,2}\s+$"
                             r"|^\s*(?:not|never|far\s+from)\b", re.I)
_ABOUT_REFERENCE = re.compile(r"\b(?:reference|gold|ideal|expected|model\s+answer|ground[\s-]*truth|perfect\s+answer)\b",
                              re.I)


def _not_the_rating(text: str, at: int) -> bool:
    """A number that is negated or about the reference is not the response's rating."""
    clause = re.split(r"[.!?;,\n](?!\d)", text[:at])[-1]
    return bool(_RATING_NEGATED.search(clause) or _ABOUT_REFERENCE.search(clause))


def _rating(number: float, out_of: str | None, scale: int, explanation: str | None) -> Parsed:
    # A rating on another scale is not rescaled: the judge was asked for 1..scale,
    # and a "4/5" says it followed a different instruction.
    if out_of is not None and int(out_of) != scale:
        return _invalid(f"rating {number:g}/{out_of} is on a different scale than 1-{scale}", explanation)
    if not number.is_integer() or not 1 <= number <= scale:
        return _invalid(f"rating {number:g} is not an integer from 1 to {scale}", explanation)
    return _valid(str(int(number)), float(number), explanation)


# "on a 5-point scale", "on a scale of 1 to 5", "(1-5 scale)".
_SCALE_MENTION = re.compile(r"\b(?P<a>\d+)[- ]point\s+scale|\bscale\s+(?:of|from)\s+[01]\s*(?:-|\u2013|to)\s*(?P<b>\d+)"
                            r"|\b[01]\s*(?:-|\u2013|to)\s*(?P<c>\d+)\s+scale", re.I)


def _rating_from_text(text: str, scale: int) -> Parsed:
    stripped = text.strip()
    for m in _SCALE_MENTION.finditer(text):
        if int(m["a"] or m["b"] or m["c"]) != scale:
            # "It would score 3 on a 5-point scale": the rating is on another scale.
            return _invalid(f"the reply rates on a scale other than 1-{scale}", stripped)
    bare = re.fullmatch(_NUMBER + r"\s*\.?", stripped)
    if bare:
        return _rating(float(bare["n"]), None, scale, None)
    for tier in _RATING_TIERS:
        found = [(m["n"], m["of"]) for pattern in tier for m in pattern.finditer(text)
                 if not _not_the_rating(text, m.start())]
        if not found:
            continue
        for number, out_of in found:
            if out_of is not None and int(out_of) != scale:
                return _rating(float(number), out_of, scale, stripped)
        numbers = list(dict.fromkeys(float(n) for n, _ in found))
        # Several different ratings in one reply: which one is meant is a guess.
        if len(numbers) > 1:
            return _invalid("several ratings: " + ", ".join(f"{n:g}" for n in numbers), stripped)
        return _rating(numbers[0], None, scale, stripped)
    return _invalid("no rating found")


# ----------------------------------------------------------------- pairwise

_UNREADABLE = "unreadable"  # an explicit verdict marker whose value is not A, B or tie
_TIE_WORDS = ("tie", "c", "draw", "equal", "both", "neither", "same")


def _choice_word(value: str) -> str | None:
    """A one-word verdict ("A", "Response B", "[[C]]", "tie")."""
    words = [w for w in re.sub(r"[^a-z0-9 ]", " ", value.lower()).split()
             if w not in ("output", "response", "assistant", "answer", "option")]
    if len(words) != 1:
        return None
    if words[0] in ("a", "1"):
        return "A"
    if words[0] in ("b", "2"):
        return "B"
    return "tie" if words[0] in _TIE_WORDS else None


def _label_choice(value: str) -> str:
    """A label as read at a verdict marker: "B", "tie", "A>>B", "A=B"."""
    inner = re.sub(r"\s+", "", value.upper())
    if "=" in inner:
        return "tie"
    if ">" in inner:
        return inner[0]
    return _choice_word(value) or "tie"


# "A. Helpfulness: ...", or "A." with "B." on a later line: an outline, not a verdict.
_OUTLINE = re.compile(r"\s*\(?A[.)][ \t]+(?:[\w'-]+[ \t]+){0,3}?[\w'-]+[ \t]*:|\s*\(?A[.)][^\n]*\n(?:.*\n)*?[ \t]*\(?B[.)]\s")


def _outline(text: str) -> bool:
    return _OUTLINE.match(text) is not None


def _canonical_labels(text: str) -> str:
    """``Output (b)``, ``response a`` -> ``Output B``, ``response A``: after a noun the
    letter is a label whatever its case, so that only capitals need to be
    recognised elsewhere (a lone lowercase "a" is an article)."""
    return re.sub(r"\b(output|response|assistant|candidate)\s*\(?\s*([abAB])\s*\)?(?![\w'])",
                  lambda m: f"{m[1]} {m[2].upper()}", text, flags=re.I)


# The letters are case-sensitive (?-i:...): "a tie", "a concise answer" are articles.
_LABEL = (r"(?<![\w'])(?:(?:output|response|assistant|answer|option|candidate|model)\s+)?(?P<who>(?-i:A|B))"
          r"(?:'s\s+(?:answer|response|output|reply))?(?![\w'])")
_BETTER = (r"better|best|superior|preferable|preferred|stronger|clearer|the\s+winner|"
           r"more\s+(?:accurate|helpful|correct|complete|relevant|informative|precise|thorough|useful|appropriate"
           r"|factual|truthful|faithful|reliable|comprehensive|coherent)|correct|right|accurate")
# A negative predicate is a vote for the *other* response; "more verbose",
# "longer" and the like are neither and count for nothing.
_WORSE = (r"worse|worst|inferior|weaker|wrong|incorrect|inaccurate|misleading|harmful|unhelpful|confusing|"
          r"irrelevant|less\s+(?:accurate|helpful|correct|complete|relevant|informative|precise|thorough|useful"
          r"|appropriate|clear|factual|reliable|coherent)|"
          r"more\s+(?:confusing|harmful|misleading|inaccurate|wrong|problematic|dangerous|incorrect|unhelpful)")
_DEGREE = (r"(?:\s+(?:clearly|much|far|slightly|significantly|somewhat|considerably|marginally|overall|definitely"
           r"|certainly|also|even|still|generally|substantially|noticeably|way|a\s+bit|a\s+little|a\s+lot|by\s+far))*")
_STATEMENT = re.compile(
    _LABEL + r"\s+(?:is|was|seems|appears|looks|performs|does|did|fares|reads)(?:\s+to\s+be)?"
    r"(?P<neg>n't|\s+not|\s+never)?" + _DEGREE + r"\s+(?:the\s+|an?\s+)?(?:(?P<good>" + _BETTER + r")|(?P<bad>"
    + _WORSE + r"))\b", re.I)
_WINS = re.compile(_LABEL + r"(?:\s+(?:clearly|easily|narrowly|definitely|slightly))?\s+(?:wins|comes\s+out\s+ahead"
                   r"|edges\s+out|outperforms|beats)\b", re.I)
_BOTH_ADJ = (r"good|bad|wrong|correct|incorrect|accurate|inaccurate|fine|acceptable|poor|helpful|unhelpful|equal"
             r"|identical|the\s+same|equivalent|valid|invalid|strong|weak")
_TIE_PHRASES = (
    re.compile(r"\b(?:it'?s|it\s+is|this\s+is|that\s+is|call\s+it|declare)\s+a\s+tie\b", re.I),
    re.compile(r"\bequally\s+(?:good|bad|strong|weak|helpful|unhelpful|accurate|inaccurate|correct|wrong|valid"
               r"|poor|acceptable)\b", re.I),
    re.compile(r"\bneither(?:\s+(?:response|output|answer|one|of\s+them))?\s+is" + _DEGREE
               + r"\s+(?:better|worse|superior|preferable|correct|right|good|acceptable)\b", re.I),
    re.compile(r"\b(?:both(?:\s+(?:responses|outputs|answers|assistants|of\s+them))?(?:\s+(?-i:A)\s+and\s+(?-i:B))?"
               r"|(?:responses\s+|outputs\s+)?(?-i:A)\s+and\s+(?-i:B)|the\s+two(?:\s+(?:responses|outputs|answers))?)"
               r"\s+(?:are|were)(?:\s+(?:both|equally|all|similarly))*\s+(?:" + _BOTH_ADJ + r")\b", re.I),
    # "Tie." as a sentence of its own, not "how to tie a bowline".
    re.compile(r"(?:^|[.!?]\s+|\n)\s*tie\s*[.!]?\s*(?=\n|$)", re.I),
)
# A tie limited to one aspect ("equally good in style") or followed by a
# reservation ("both are correct, but ...") is not the verdict.
_ASPECT = re.compile(r"\s+(?:in|at|on|for|regarding|when|with\s+respect\s+to)\b", re.I)
_RESERVATION = re.compile(r"[^.!?\n]*?\b(?:but|however|although|though|yet|while|whereas|except)\b", re.I)
# "Both are correct. However, B is more concise": a tie phrase that describes
# quality, followed anywhere by a contrast or a preference, is not the verdict.
_LATER_PREFERENCE = re.compile(
    r"\b(?:but|however|although|though|yet|that\s+said|still|nevertheless|nonetheless|except|whereas|while"
    r"|prefer\w*|edges?|better|worse|best|worst|superior|inferior|more|less|stronger|weaker|wins?|ahead|outperforms?"
    r"|beats?|favou?r\w*|\w+er\s+than)\b|\[\[", re.I)
# "I wouldn't say A is better", "I don't think A is better": a negated preference.
_NEGATED_LEAD = re.compile(r"(?:n't|\bnot|\bnever|\bhardly|\bdoubt)\s+(?:\w+\s+){0,2}?(?:say|think|believe|agree|claim"
                           r"|argue|consider|conclude|sure|convinced|that)\b[^.!?\n]*$|\bdoubt\b[^.!?\n]*$", re.I)


def _not_a_statement(text: str, start: int, end: int) -> bool:
    """A preference that is negated ("I don't think A is better") or asked
    ("Would I choose A?"): not a vote."""
    if _NEGATED_LEAD.search(text[:start]):
        return True
    rest = re.match(r"[^.!?\n]*(?P<end>[.!?\n]|$)", text[end:])
    return rest is not None and rest["end"] == "?"

_MARKER_NOUN = r"(?:final\s+)?(?:verdict|winner|choice|preference|decision|judge?ment)"
# "Verdict: X" must be readable: a marker we cannot read makes the reply invalid.
_COLON_MARKER = re.compile(r"\b" + _MARKER_NOUN + r"\s*[:=][ \t]*(?:\n[ \t]*)*(?=(?P<clause>[^\n]*))", re.I)
# "### Final Verdict" as a heading, the verdict on the next non-empty line.
_HEADING_MARKER = re.compile(r"^[ \t]*#+[ \t]*" + _MARKER_NOUN + r"[ \t]*[:=]?[ \t]*\n(?:[ \t]*\n)*[ \t]*"
                             r"(?=(?P<clause>[^\n]*))", re.I | re.M)
_START_ANSWER = re.compile(r"^\s*(?:final\s+)?answer\s*[:=][ \t]*(?:\n[ \t]*)*(?=(?P<clause>[^\n]*))", re.I)
# "My verdict is B", "the better response is B": read when readable, else prose.
_IS_MARKER = re.compile(r"\b(?:" + _MARKER_NOUN + r"|(?:better|preferred)\s+(?:response|output|one|answer)|best\s+(?:response|output|one))"
                        r"\s+is(?:\s+that)?\s+(?=(?P<clause>[^\n]*))", re.I)
_BRACKETS = re.compile(r"\[\[\s*(?:(?P<c>A|B|C|tie)|(?P<x>A|B)\s*(?P<op>>>?|<<?|=)\s*(?P<y>A|B))\s*\]\]", re.I)


def _bracket(match: re.Match[str]) -> str:
    """``[[B]]``, ``[[C]]``, and Arena-Hard's ``[[A>>B]]``, ``[[A=B]]``, ``[[B>A]]``."""
    if match["c"]:
        return _choice_word(match["c"]) or "tie"
    x, y, op = match["x"].upper(), match["y"].upper(), match["op"]
    if x == y:
        return _UNREADABLE
    if op == "=":
        return "tie"
    return x if op.startswith(">") else y
_I_CHOOSE = re.compile(r"\bI(?:\s+would|\s+will|'d|'ll)?(?:\s+(?:slightly|clearly|strongly|definitely|somewhat|marginally))?"
                       r"\s+(?:choose|prefer|pick|select|favou?r|go\s+with)\s+"
                       r"(?=(?P<clause>[^\n.;,]*))", re.I)
_DIRECT_CHOICE = (r"\(?\s*(?:" + _LABEL + r"|\[\[\s*(?P<bracket>A|B|C|tie|A\s*>>?\s*B|B\s*>>?\s*A|A\s*=\s*B|B\s*=\s*A)"
                  r"\s*\]\]|(?:a\s+)?(?P<tie>tie)\b"
                  r"|(?P<c>(?-i:C)))\s*\)?")
_CLAUSE_CHOICE = re.compile(
    r"\s*(?:clearly\s+|definitely\s+)?" + _DIRECT_CHOICE
    + r"(?=\s*$|\s*[.,;!:)(\u2013\u2014-]|\s+(?:because|since|as|for|due|with|here|overall)\b)", re.I)
_CHOSEN = re.compile(r"\s*" + _DIRECT_CHOICE + r"(?![\w'])", re.I)


def _direct(match: re.Match[str]) -> str:
    if match["who"]:
        return match["who"]
    if match["bracket"]:
        inner = re.sub(r"\s+", "", match["bracket"].upper())
        if "=" in inner:
            return "tie"
        return inner[0] if ">" in inner else _choice_word(inner) or "tie"
    return "tie"


def _prose_votes(text: str) -> tuple[set[str], bool]:
    """Votes from statements about the responses, and whether a negated one
    ("A is not better") makes the prose ambiguous."""
    votes: set[str] = set()
    negated = False
    for m in _STATEMENT.finditer(text):
        if m["neg"] or _not_a_statement(text, m.start(), m.end()):
            negated = True
            continue
        votes.add(m["who"] if m["good"] else _other(m["who"]))
    for m in _WINS.finditer(text):
        if _not_a_statement(text, m.start(), m.end()):
            negated = True
            continue
        votes.add(m["who"])
    for pattern in _TIE_PHRASES:
        for m in pattern.finditer(text):
            rest = text[m.end():]
            if _ASPECT.match(rest) or _RESERVATION.match(rest):
                continue
            if pattern is _TIE_PHRASES[3] and _LATER_PREFERENCE.search(rest):
                continue  # "Both are good. That said, B edges out A": quality, not the verdict
            votes.add("tie")
    return votes, negated


def _other(who: str) -> str:
    return "B" if who == "A" else "A"


def _read_clause(clause: str) -> str:
    """The choice after a verdict marker: a label ("B", "Response A", "tie") or a
    statement ("A is worse", "B is wrong, A is right"); else _UNREADABLE."""
    direct = _CLAUSE_CHOICE.match(clause)
    if direct:
        return _direct(direct)
    # A single word after the marker is the verdict itself, as in a JSON value
    # ("Verdict: b", "Verdict: neither"); "Winner: a draw" is not one word.
    word = clause.strip().rstrip(".!")
    if re.fullmatch(r"[\w()\[\]]+", word):
        return _choice_word(word) or _UNREADABLE
    found = {_direct(m) for m in map(_CHOSEN.match, (c["clause"] for c in _I_CHOOSE.finditer(clause))) if m}
    found |= {_bracket(m) for m in _BRACKETS.finditer(clause)}
    votes, negated = _prose_votes(clause)
    found |= votes
    return found.pop() if len(found) == 1 and not negated else _UNREADABLE


def _explicit_choices(text: str) -> set[str]:
    found = {_bracket(m) for m in _BRACKETS.finditer(text)}
    for pattern in (_COLON_MARKER, _HEADING_MARKER):
        found |= {_read_clause(m["clause"]) for m in pattern.finditer(text)}
    for m in _START_ANSWER.finditer(text):
        # "Answer: C" may be the answer to a multiple-choice question, not a tie.
        if not re.fullmatch(r"\s*\(?[C-Z]\)?\s*[.:)]?\s*", m["clause"]):
            found.add(_read_clause(m["clause"]))
    found |= {c for c in (_read_clause(m["clause"]) for m in _IS_MARKER.finditer(text)) if c != _UNREADABLE}
    for m in _I_CHOOSE.finditer(text):
        chosen = _CHOSEN.match(m["clause"])
        if chosen and _not_a_statement(text, m.start(), m.end() + chosen.end()):
            found.add(_UNREADABLE)  # "Would I choose A?", "I don't think I'd choose A"
        elif chosen:
            found.add(_direct(chosen))
        elif re.match(r"\s*[ab]\b", m["clause"]):
            # "I prefer a concise answer": an article, or the label A in lowercase?
            found.add(_UNREADABLE)
    return found


def _choice_from_text(text: str, scale: int) -> Parsed:
    stripped = text.strip().strip(".!").strip()
    direct = _choice_word(stripped) if len(stripped) <= 20 else None
    if direct is None and re.fullmatch(r"(?:it'?s\s+)?a\s+tie", stripped, re.I):
        direct = "tie"
    if direct is not None:
        return _valid(direct, None, None)
    text = _canonical_labels(text)
    explicit = _explicit_choices(text)
    if _UNREADABLE in explicit:
        return _invalid("a verdict marker whose value is not A, B or tie", text.strip())
    if not explicit:
        explicit, negated = _prose_votes(text)
        # A completion prompt ends at "Verdict:", so the reply may start with a
        # bare label ("A\n\n..."); it counts as prose, so a run-on continuation
        # that says otherwise makes the reply invalid.
        start = _START_MARKERS["pairwise"][1].match(text)
        if start and not _outline(text):
            explicit.add(_choice_word(start["c"]) or "tie")
        if negated:
            return _invalid("a negated comparison (e.g. 'A is not better')", text.strip())
    if len(explicit) > 1:
        return _invalid(f"contradictory choices: {', '.join(sorted(explicit))}", text.strip())
    if not explicit:
        return _invalid("no choice of A, B or tie found")
    return _valid(explicit.pop(), None, text.strip())


# ----------------------------------------------------------------- reference

_HEDGE = "hedge"  # partially correct, not entirely correct, not incorrect: no verdict
_POSITIVE = ("correct", "right", "accurate", "yes", "true")
_ADJECTIVE = r"(?P<adj>correct|incorrect|right|wrong|accurate|inaccurate)"
_HEDGING = (r"partially|partly|mostly|almost|largely|essentially|technically|somewhat|half|arguably|probably"
            r"|likely|possibly|nearly|basically|roughly|approximately|kind\s+of|sort\s+of|only\s+partially")
# After a negation these make a hedge: "not entirely correct" is not "incorrect".
_WHOLLY = r"quite|entirely|fully|completely|totally|wholly|perfectly|always|exactly|100%|necessarily|strictly"
_ADVERB = (r"(?:" + _HEDGING + "|" + _WHOLLY + r"|clearly|definitely|certainly|indeed|also|still|simply|absolutely"
           r"|factually|actually|obviously|plainly|just|thus|therefore|hence|so|overall|ultimately)")
_PREDICATE = re.compile(
    r"(?:(?P<dneg>\b(?:does|do|did)(?:n't|\s+not)\s+(?:seem|appear|look))|\b(?:is|was|are|were|remains|seems|appears"
    r"|looks)|(?<=\w)'s)(?:\s+to\s+be)?(?P<pre>(?:\s+" + _ADVERB + r")*)(?P<neg>n't|\s+not|\s+never)?"
    r"(?P<post>(?:\s+" + _ADVERB + r")*)\s+(?:(?:the|a|an)\s+)?" + _ADJECTIVE + r"\b", re.I)
_GIVES = re.compile(
    r"\b(?:gives|gave|give|provides|provided|provide|reaches|reached|reach|states|stated|has|had|got|gets|get"
    r"|matches|identifies|identified|chose|chooses|selects|selected|finds|found|arrives\s+at|arrived\s+at)"
    r"\s+(?:the|a|an)\s+(?P<adj>correct|right|wrong|incorrect)\s+(?:final\s+)?(?:answer|result|value|solution"
    r"|number|conclusion|option|choice)\b"
    r"|\b(?:got|gets|get)\s+(?:it|this|that|the\s+answer)\s+(?P<adj2>right|wrong)\b", re.I)
_LONE_NEGATION = re.compile(r"\b(?:not|never)(?P<adv>(?:\s+" + _ADVERB + r")*)\s+(?:(?:the|a|an)\s+)?"
                            + _ADJECTIVE + r"\b", re.I)
_LONE_HEDGE = re.compile(r"\b(?:" + _HEDGING + r")\s+(?:correct|incorrect|right|wrong|accurate|inaccurate)\b", re.I)
# "Correct." as a sentence; not "Right, let's see" and not "Correct: 5" (a label).
_LONE_WORD = re.compile(r"(?:^|[.!?\n]\s*)(?P<adj>correct|incorrect|wrong)(?=\s*(?:[.!,;\n]|$))", re.I)
_CONCLUSION = re.compile(r"\b(?:so|therefore|thus|hence|consequently|overall|ultimately|in\s+conclusion"
                         r"|in\s+summary|in\s+short|in\s+the\s+end|all\s+in\s+all|finally|as\s+a\s+result)\b", re.I)
_CLAUSE_BREAK = re.compile(r"[,:()]|\b(?:and|but|so|because|since|while|although|though|whereas|however|therefore"
                           r"|thus|hence|overall|ultimately|consequently|finally|then|if|when|whether|unless)\b", re.I)
# "Whether it is correct...", "hard to tell if the answer is correct": a question
# or a condition, not a statement.
_OPEN_CLAUSE = re.compile(r"\b(?:if|whether|unless|when)\s*$", re.I)
# The judge's own voice ("I'd say the answer is correct") is not reported speech.
_FIRST_PERSON = re.compile(r"^\s*(?:I|we)(?:'d|\s+would|\s+will)?\s+(?:say|think|believe|conclude|find|judge"
                           r"|consider|feel)(?:\s+that)?\b", re.I)
# Whose correctness a statement is about: the response ("the answer isn't
# correct", "which is wrong"), not the reference ("the reference answer is
# correct") and not a bare value ("5 is the correct answer").
_RESPONSE_SUBJECT = re.compile(r"\b(?:it|this|that|which|answer|response|output|solution|prediction|student|model"
                               r"|reply|attempt|submission|candidate|they|he|she|result|calculation|assistant)\b", re.I)
# "The response claims that 2+2=5 is correct", "the reference says the answer is
# correct": someone else's statement, not the judge's verdict.
_REPORTED = re.compile(r"\b(?:says?|said|claims?|claimed|states?|stated|thinks?|believes?|argues?|asserts?|suggests?"
                       r"|implies|according\s+to)\b", re.I)
_NEGATED_VERB = re.compile(r"(?:\bnot|n't|\bnever|\bfails?\s+to|\bfailed\s+to|\bunable\s+to|\bcannot)\s*$", re.I)
_OTHER_SUBJECT = re.compile(r"\b(?:reference|gold|expected|ground[\s-]*truth|correct|right|true|actual|key"
                            r"|official)\b", re.I)

_VERDICT_LABEL = re.compile(r"\[\[\s*(?P<v>correct|incorrect|yes|no)\s*\]\]"
                            # "Correct: no", "is_correct = false", "Is the answer correct? No."
                            r"|(?<![A-Za-z0-9])correct(?:ness)?\s*[:=?]\s*[-\u2014:]?\s*(?P<w>yes|no|true|false)\b(?!\s+or\b)",
                            re.I)
_REF_COLON_MARKER = re.compile(r"\b(?:final\s+)?(?:verdict|judge?ment|grade)\s*[:=][ \t]*(?:\n[ \t]*)*"
                               r"(?=(?P<clause>[^\n]*))", re.I)
_REF_IS_MARKER = re.compile(r"\b(?:final\s+)?(?:verdict|judge?ment|assessment|evaluation|decision|conclusion)"
                            r"\s*(?:[:=]|\s+is(?:\s+that)?)\s*(?=(?P<clause>[^\n]*))", re.I)
_CLAUSE_WORD = re.compile(r"\s*\(?\s*(?P<w>correct|incorrect|right|wrong|yes|no|true|false|not\s+correct)\s*\)?"
                          r"(?=\s*$|\s*[.,;!)(\u2013\u2014-]|\s+(?:because|since|as)\b)", re.I)


def _correct_word(value: str) -> str | None:
    word = re.sub(r"\s+", " ", value.strip().strip(".!\"'[]()*` ").lower())
    if word in ("correct", "yes", "true", "right", "1"):
        return "1"
    if word in ("incorrect", "no", "false", "wrong", "0", "not correct"):
        return "0"
    return None


def _correctness(value: str, explanation: str | None) -> Parsed:
    return _valid(value, float(value), explanation)


def _polarity(adjective: str, negated: bool, adverbs: str) -> str:
    """"1", "0" or _HEDGE for an adjective with its negation and adverbs."""
    positive = adjective.lower() in _POSITIVE
    if re.search(r"\b(?:" + _HEDGING + r")\b", adverbs, re.I):
        return _HEDGE  # "partially correct", "probably wrong"
    if not negated:
        return "1" if positive else "0"
    if not positive or re.search(r"\b(?:" + _WHOLLY + r")\b|100%", adverbs, re.I):
        return _HEDGE  # "not incorrect", "not entirely correct"
    return "0"


def _subject(text: str, at: int) -> tuple[str | None, bool]:
    """The subject of the clause ending at ``at`` (None for an open question or
    condition), and whether the clause is a conclusion ("so it is ...")."""
    sentence = re.split(r"[.!?;\n](?!\d)", text[:at])[-1]
    # An appositive or parenthetical value after the subject: "the final answer (42)",
    # "the response's final answer, 42,".
    sentence = re.sub(r"\s*(?:\([^()\n]{1,40}\)|,\s*(?:[-+$\u2212]?\d[\w.,/%$ -]{0,20}|\"[^\"\n]{1,30}\"|'[^'\n]{1,30}'),)"
                      r"\s*$", " ", sentence)
    pieces = _CLAUSE_BREAK.split(sentence)
    last = pieces[-1]
    before = sentence[:len(sentence) - len(last)]
    if _OPEN_CLAUSE.search(before):
        return None, False
    return _FIRST_PERSON.sub("", last).strip(), bool(_CONCLUSION.search(sentence))


def _about_response(subject: str | None) -> bool:
    return (subject is not None and bool(_RESPONSE_SUBJECT.search(subject))
            and not _OTHER_SUBJECT.search(subject) and not _REPORTED.search(subject))


# "correct only in its reasoning", "right up to step 3", "correct in part": a
# qualified verdict, read as a hedge.
_QUALIFIED = re.compile(r"\s*,?\s*(?:only\b|up\s+to\b|until\b|in\s+part\b|partly\b|partially\b|in\s+places\b"
                        r"|to\s+(?:a|some)\s+(?:point|extent|degree)\b|in\s+(?:its|the|their)\s+(?:reasoning|method"
                        r"|approach|setup|steps?|derivation|explanation|working)\b|except\b|apart\s+from\b"
                        r"|save\s+for\b|but\s+for\b)", re.I)


def _statements(text: str) -> list[tuple[str, bool]]:
    """(value or _HEDGE, is a conclusion) for each statement about the response's correctness."""
    found = []
    for m in _PREDICATE.finditer(text):
        subject, conclusion = _subject(text, m.start())
        if _about_response(subject):
            adverbs = m["pre"] + " " + m["post"]
            value = _polarity(m["adj"], bool(m["neg"] or m["dneg"]), adverbs)
            if _QUALIFIED.match(text, m.end()):
                value = _HEDGE
            found.append((value, conclusion or bool(_CONCLUSION.search(adverbs))))
    for m in _GIVES.finditer(text):
        subject, conclusion = _subject(text, m.start())
        if subject is None:
            continue
        negated = bool(_NEGATED_VERB.search(subject))
        subject = re.sub(r"\s*\b(?:does|do|did|has|had)?(?:\s*not|n't|\s*never|\s*fail(?:s|ed)?\s+to"
                         r"|\s*unable\s+to|\s*cannot)\s*$", "", subject)
        if _about_response(subject):
            found.append((_polarity(m["adj"] or m["adj2"], negated, ""), conclusion))
    return found


def _lone_readings(text: str) -> set[str]:
    """Readings outside subject-copula statements: "close but not quite correct",
    "Partially correct, ...", "Incorrect."."""
    found = set()
    for m in _LONE_NEGATION.finditer(text):
        # After a copula it is a statement, already read (with its subject checked).
        if not re.search(r"(?:\b(?:is|was|are|were|seems|appears|looks)|'s)\s*$", text[:m.start()], re.I):
            found.add(_polarity(m["adj"], True, m["adv"]))
    if _LONE_HEDGE.search(text):
        found.add(_HEDGE)
    found |= {_polarity(m["adj"], False, "") for m in _LONE_WORD.finditer(text)}
    return found


def _read_verdict_clause(clause: str) -> str:
    word = _CLAUSE_WORD.match(clause)
    if word:
        return _correct_word(word["w"]) or _UNREADABLE
    readings = {v for v, _ in _statements(clause)} | _lone_readings(clause)
    return readings.pop() if len(readings) == 1 and _HEDGE not in readings else _UNREADABLE


def _explicit_correctness(text: str) -> set[str]:
    """Final verdicts: [[correct]], Verdict: ..., Correct: no, "so it is wrong"."""
    found = {_correct_word(m["v"] or m["w"]) or _UNREADABLE for m in _VERDICT_LABEL.finditer(text)}
    found |= {_read_verdict_clause(m["clause"]) for m in _REF_COLON_MARKER.finditer(text)}
    found |= {v for v in (_read_verdict_clause(m["clause"]) for m in _REF_IS_MARKER.finditer(text))
              if v != _UNREADABLE}
    found |= {value for value, conclusion in _statements(text) if conclusion}
    return found


def _correctness_from_text(text: str, scale: int) -> Parsed:
    direct = _correct_word(text)
    if direct is not None:
        return _correctness(direct, None)
    stripped = text.strip()
    readings = _explicit_correctness(text)
    if _UNREADABLE in readings:
        return _invalid("a verdict marker whose value is not correct or incorrect", stripped)
    if not readings:
        # No final verdict: the prose must say one thing, plainly.
        readings = {value for value, _ in _statements(text)} | _lone_readings(text)
    if _HEDGE in readings:
        return _invalid("negated or hedged correctness", stripped)
    if len(readings) > 1:
        return _invalid("says both correct and incorrect", stripped)
    if not readings:
        return _invalid("no correct/incorrect verdict found")
    return _correctness(readings.pop(), stripped)


_FREE_TEXT: dict[str, Callable[[str, int], Parsed]] = {
    "pointwise": _rating_from_text, "pairwise": _choice_from_text, "reference": _correctness_from_text}
