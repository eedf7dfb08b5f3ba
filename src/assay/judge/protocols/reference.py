"""The reference protocol: is the output correct, judged against the gold answer?

The verdict is "1" (correct) or "0" (incorrect), worth its value; a jury
pools verdicts by vote.
"""

from __future__ import annotations

import re
from typing import Any

from assay.judge.protocols.base import CORRECTNESS_KIND, TEMPLATE_DIR, Protocol
from assay.judge.protocols.reading import (
    UNREADABLE,
    Grammar,
    Parsed,
    cut_off,
    invalid,
    plain,
    valid,
    verdict_schema,
)

# A reply cut off by the token limit counts only if it *starts* with its verdict.
_START = (
    re.compile(r"\s*\[\[\s*(?P<c>correct|incorrect)\s*\]\]", re.I),
    re.compile(r"\s*(?:(?:final\s+)?verdict\s*[:=]\s*)?(?P<c>correct|incorrect)(?=[ \t]*(?:[!\n]|\.\s))", re.I),
)


def _schema(scale: int) -> dict[str, Any]:
    return verdict_schema("verdict", {"type": "string", "enum": ["correct", "incorrect"]})


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
        parsed = _correctness_from_text(plain(value), scale)
        if not parsed.invalid:
            return parsed
    return invalid(f"verdict {value!r} is not correct or incorrect")


def _from_start(text: str, scale: int) -> Parsed:
    for pattern in _START:
        match = pattern.match(text)
        if match is not None:
            return _correctness(_correct_word(match["c"]) or "", text.strip())
    return cut_off()


_HEDGE = "hedge"  # partially correct, not entirely correct, not incorrect: no verdict
_POSITIVE = ("correct", "right", "accurate", "yes", "true")
_ADJECTIVE = r"(?P<adj>correct|incorrect|right|wrong|accurate|inaccurate)"
_HEDGING = (
    r"partially|partly|mostly|almost|largely|essentially|technically|somewhat|half|arguably|probably"
    r"|likely|possibly|nearly|basically|roughly|approximately|kind\s+of|sort\s+of|only\s+partially"
)
# After a negation these make a hedge: "not entirely correct" is not "incorrect".
_WHOLLY = r"quite|entirely|fully|completely|totally|wholly|perfectly|always|exactly|100%|necessarily|strictly"
_ADVERB = (
    r"(?:" + _HEDGING + "|" + _WHOLLY + r"|clearly|definitely|certainly|indeed|also|still|simply|absolutely"
    r"|factually|actually|obviously|plainly|just|thus|therefore|hence|so|overall|ultimately)"
)
_PREDICATE = re.compile(
    r"(?:(?P<dneg>\b(?:does|do|did)(?:n't|\s+not)\s+(?:seem|appear|look))|\b(?:is|was|are|were|remains|seems|appears"
    r"|looks)|(?<=\w)'s)(?:\s+to\s+be)?(?P<pre>(?:\s+" + _ADVERB + r")*)(?P<neg>n't|\s+not|\s+never)?"
    r"(?P<post>(?:\s+" + _ADVERB + r")*)\s+(?:(?:the|a|an)\s+)?" + _ADJECTIVE + r"\b",
    re.I,
)
_GIVES = re.compile(
    r"\b(?:gives|gave|give|provides|provided|provide|reaches|reached|reach|states|stated|has|had|got|gets|get"
    r"|matches|identifies|identified|chose|chooses|selects|selected|finds|found|arrives\s+at|arrived\s+at)"
    r"\s+(?:the|a|an)\s+(?P<adj>correct|right|wrong|incorrect)\s+(?:final\s+)?(?:answer|result|value|solution"
    r"|number|conclusion|option|choice)\b"
    r"|\b(?:got|gets|get)\s+(?:it|this|that|the\s+answer)\s+(?P<adj2>right|wrong)\b",
    re.I,
)
_LONE_NEGATION = re.compile(
    r"\b(?:not|never)(?P<adv>(?:\s+" + _ADVERB + r")*)\s+(?:(?:the|a|an)\s+)?" + _ADJECTIVE + r"\b", re.I
)
_LONE_HEDGE = re.compile(r"\b(?:" + _HEDGING + r")\s+(?:correct|incorrect|right|wrong|accurate|inaccurate)\b", re.I)
# "Correct." as a sentence; not "Right, let's see" and not "Correct: 5" (a label).
_LONE_WORD = re.compile(r"(?:^|[.!?\n]\s*)(?P<adj>correct|incorrect|wrong)(?=\s*(?:[.!,;\n]|$))", re.I)
_CONCLUSION = re.compile(
    r"\b(?:so|therefore|thus|hence|consequently|overall|ultimately|in\s+conclusion"
    r"|in\s+summary|in\s+short|in\s+the\s+end|all\s+in\s+all|finally|as\s+a\s+result)\b",
    re.I,
)
_CLAUSE_BREAK = re.compile(
    r"[,:()]|\b(?:and|but|so|because|since|while|although|though|whereas|however|therefore"
    r"|thus|hence|overall|ultimately|consequently|finally|then|if|when|whether|unless)\b",
    re.I,
)
# "Whether it is correct...", "hard to tell if the answer is correct": a question
# or a condition, not a statement.
_OPEN_CLAUSE = re.compile(r"\b(?:if|whether|unless|when)\s*$", re.I)
# The judge's own voice ("I'd say the answer is correct") is not reported speech.
_FIRST_PERSON = re.compile(
    r"^\s*(?:I|we)(?:'d|\s+would|\s+will)?\s+(?:say|think|believe|conclude|find|judge"
    r"|consider|feel)(?:\s+that)?\b",
    re.I,
)
# Whose correctness a statement is about: the response ("the answer isn't
# correct", "which is wrong"), not the reference ("the reference answer is
# correct") and not a bare value ("5 is the correct answer").
_RESPONSE_SUBJECT = re.compile(
    r"\b(?:it|this|that|which|answer|response|output|solution|prediction|student|model"
    r"|reply|attempt|submission|candidate|they|he|she|result|calculation|assistant)\b",
    re.I,
)
# "The response claims that 2+2=5 is correct", "the reference says the answer is
# correct": someone else's statement, not the judge's verdict.
_REPORTED = re.compile(
    r"\b(?:says?|said|claims?|claimed|states?|stated|thinks?|believes?|argues?|asserts?|suggests?"
    r"|implies|according\s+to)\b",
    re.I,
)
_NEGATED_VERB = re.compile(r"(?:\bnot|n't|\bnever|\bfails?\s+to|\bfailed\s+to|\bunable\s+to|\bcannot)\s*$", re.I)
_OTHER_SUBJECT = re.compile(
    r"\b(?:reference|gold|expected|ground[\s-]*truth|correct|right|true|actual|key"
    r"|official)\b",
    re.I,
)

_VERDICT_LABEL = re.compile(
    r"\[\[\s*(?P<v>correct|incorrect|yes|no)\s*\]\]"
    # "Correct: no", "is_correct = false", "Is the answer correct? No."
    r"|(?<![A-Za-z0-9])correct(?:ness)?\s*[:=?]\s*[-\u2014:]?\s*(?P<w>yes|no|true|false)\b(?!\s+or\b)",
    re.I,
)
_REF_COLON_MARKER = re.compile(
    r"\b(?:final\s+)?(?:verdict|judge?ment|grade)\s*[:=][ \t]*(?:\n[ \t]*)*"
    r"(?=(?P<clause>[^\n]*))",
    re.I,
)
_REF_IS_MARKER = re.compile(
    r"\b(?:final\s+)?(?:verdict|judge?ment|assessment|evaluation|decision|conclusion)"
    r"\s*(?:[:=]|\s+is(?:\s+that)?)\s*(?=(?P<clause>[^\n]*))",
    re.I,
)
_CLAUSE_WORD = re.compile(
    r"\s*\(?\s*(?P<w>correct|incorrect|right|wrong|yes|no|true|false|not\s+correct)\s*\)?"
    r"(?=\s*$|\s*[.,;!)(\u2013\u2014-]|\s+(?:because|since|as)\b)",
    re.I,
)


def _correct_word(value: str) -> str | None:
    word = re.sub(r"\s+", " ", value.strip().strip(".!\"'[]()*` ").lower())
    if word in ("correct", "yes", "true", "right", "1"):
        return "1"
    if word in ("incorrect", "no", "false", "wrong", "0", "not correct"):
        return "0"
    return None


def _correctness(value: str, explanation: str | None) -> Parsed:
    return valid(value, float(value), explanation)


def _polarity(adjective: str, negated: bool, adverbs: str) -> str:
    """ "1", "0" or _HEDGE for an adjective with its negation and adverbs."""
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
    sentence = re.sub(
        r"\s*(?:\([^()\n]{1,40}\)|,\s*(?:[-+$\u2212]?\d[\w.,/%$ -]{0,20}|\"[^\"\n]{1,30}\"|'[^'\n]{1,30}'),)"
        r"\s*$",
        " ",
        sentence,
    )
    pieces = _CLAUSE_BREAK.split(sentence)
    last = pieces[-1]
    before = sentence[: len(sentence) - len(last)]
    if _OPEN_CLAUSE.search(before):
        return None, False
    return _FIRST_PERSON.sub("", last).strip(), bool(_CONCLUSION.search(sentence))


def _about_response(subject: str | None) -> bool:
    return (
        subject is not None
        and bool(_RESPONSE_SUBJECT.search(subject))
        and not _OTHER_SUBJECT.search(subject)
        and not _REPORTED.search(subject)
    )


# "correct only in its reasoning", "right up to step 3", "correct in part": a
# qualified verdict, read as a hedge.
_QUALIFIED = re.compile(
    r"\s*,?\s*(?:only\b|up\s+to\b|until\b|in\s+part\b|partly\b|partially\b|in\s+places\b"
    r"|to\s+(?:a|some)\s+(?:point|extent|degree)\b|in\s+(?:its|the|their)\s+(?:reasoning|method"
    r"|approach|setup|steps?|derivation|explanation|working)\b|except\b|apart\s+from\b"
    r"|save\s+for\b|but\s+for\b)",
    re.I,
)


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
        subject = re.sub(
            r"\s*\b(?:does|do|did|has|had)?(?:\s*not|n't|\s*never|\s*fail(?:s|ed)?\s+to"
            r"|\s*unable\s+to|\s*cannot)\s*$",
            "",
            subject,
        )
        if _about_response(subject):
            found.append((_polarity(m["adj"] or m["adj2"], negated, ""), conclusion))
    return found


def _lone_readings(text: str) -> set[str]:
    """Readings outside subject-copula statements: "close but not quite correct",
    "Partially correct, ...", "Incorrect."."""
    found = set()
    for m in _LONE_NEGATION.finditer(text):
        # After a copula it is a statement, already read (with its subject checked).
        if not re.search(r"(?:\b(?:is|was|are|were|seems|appears|looks)|'s)\s*$", text[: m.start()], re.I):
            found.add(_polarity(m["adj"], True, m["adv"]))
    if _LONE_HEDGE.search(text):
        found.add(_HEDGE)
    found |= {_polarity(m["adj"], False, "") for m in _LONE_WORD.finditer(text)}
    return found


def _read_verdict_clause(clause: str) -> str:
    word = _CLAUSE_WORD.match(clause)
    if word:
        return _correct_word(word["w"]) or UNREADABLE
    readings = {v for v, _ in _statements(clause)} | _lone_readings(clause)
    return readings.pop() if len(readings) == 1 and _HEDGE not in readings else UNREADABLE


def _explicit_correctness(text: str) -> set[str]:
    """Final verdicts: [[correct]], Verdict: ..., Correct: no, "so it is wrong"."""
    found = {_correct_word(m["v"] or m["w"]) or UNREADABLE for m in _VERDICT_LABEL.finditer(text)}
    found |= {_read_verdict_clause(m["clause"]) for m in _REF_COLON_MARKER.finditer(text)}
    found |= {v for v in (_read_verdict_clause(m["clause"]) for m in _REF_IS_MARKER.finditer(text)) if v != UNREADABLE}
    found |= {value for value, conclusion in _statements(text) if conclusion}
    return found


def _correctness_from_text(text: str, scale: int) -> Parsed:
    direct = _correct_word(text)
    if direct is not None:
        return _correctness(direct, None)
    stripped = text.strip()
    readings = _explicit_correctness(text)
    if UNREADABLE in readings:
        return invalid("a verdict marker whose value is not correct or incorrect", stripped)
    if not readings:
        # No final verdict: the prose must say one thing, plainly.
        readings = {value for value, _ in _statements(text)} | _lone_readings(text)
    if _HEDGE in readings:
        return invalid("negated or hedged correctness", stripped)
    if len(readings) > 1:
        return invalid("says both correct and incorrect", stripped)
    if not readings:
        return invalid("no correct/incorrect verdict found")
    return _correctness(readings.pop(), stripped)


# No "answer" key here: in a reference reply it is as likely to hold the
# question's answer ("yes") as the verdict.
GRAMMAR = Grammar(
    ("verdict", "correct", "is_correct", "correctness", "judgement", "judgment", "grade", "decision", "label"),
    _json_correctness,
    _from_start,
    _correctness_from_text,
)
REFERENCE = Protocol(
    "reference",
    CORRECTNESS_KIND,
    "share correct",
    template=TEMPLATE_DIR / "reference.jinja",
    rubric="correctness",
    schema=_schema,
    grammar=GRAMMAR,
    needs_target=True,
)
