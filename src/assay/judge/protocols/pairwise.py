"""The pairwise protocol: which of two outputs is better (A, B or tie).

Each pair is judged in both presentation orders; a verdict on the swapped
order is mapped back, so that "1" means the first model of the pair won, "2"
the second and "tie" neither. A win is worth 1 to the winner, a tie half.
A jury pools verdicts by vote.
"""

from __future__ import annotations

import re
from typing import Any

from assay.judge.protocols.base import PAIRWISE_KIND, SWAPPED, TEMPLATE_DIR, Protocol
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
    re.compile(r"\s*\[\[\s*(?P<c>A|B|C|tie|A\s*>>?\s*B|B\s*>>?\s*A|A\s*=\s*B|B\s*=\s*A)\s*\]\]", re.I),
    # Not followed by "," or ":": "A, B both ..." and "A: concise" are not verdicts.
    re.compile(
        r"\s*(?:(?:final\s+)?(?:verdict|winner|choice|preference)\s*[:=]\s*)?"
        r"(?:(?:output|response|assistant)\s+)?\(?(?P<c>(?-i:A|B)|tie)\)?(?=[ \t]*(?:\n|[.!]\s))",
        re.I,
    ),
)


def _schema(scale: int) -> dict[str, Any]:
    return verdict_schema("verdict", {"type": "string", "enum": ["A", "B", "tie"]})


def map_back(choice: str, order: str) -> str:
    """A presented choice (A/B/tie) in the original numbering (1 = model, 2 = model_b)."""
    if choice == "tie":
        return "tie"
    first = choice == "A"
    if order == SWAPPED:
        first = not first
    return "1" if first else "2"


def _json_choice(value: Any, scale: int) -> Parsed:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        choice = _choice_word(str(value))
        if choice is not None:
            return valid(choice, None, None)
        # A sentence in the verdict field ("Response A is better") is read like
        # free text, but only that field: the explanation is never consulted.
        parsed = _choice_from_text(plain(str(value)), scale)
        if not parsed.invalid:
            return parsed
    return invalid(f"verdict {value!r} is not A, B or tie")


def _from_start(text: str, scale: int) -> Parsed:
    for pattern in _START:
        match = pattern.match(_canonical_labels(text))
        if match is None:
            continue
        if _outline(text):
            break
        return valid(_label_choice(match["c"]), None, text.strip())
    return cut_off()


UNREADABLE = "unreadable"  # an explicit verdict marker whose value is not A, B or tie
_TIE_WORDS = ("tie", "c", "draw", "equal", "both", "neither", "same")


def _choice_word(value: str) -> str | None:
    """A one-word verdict ("A", "Response B", "[[C]]", "tie")."""
    words = [
        w
        for w in re.sub(r"[^a-z0-9 ]", " ", value.lower()).split()
        if w not in ("output", "response", "assistant", "answer", "option")
    ]
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
_OUTLINE = re.compile(
    r"\s*\(?A[.)][ \t]+(?:[\w'-]+[ \t]+){0,3}?[\w'-]+[ \t]*:|\s*\(?A[.)][^\n]*\n(?:.*\n)*?[ \t]*\(?B[.)]\s"
)


def _outline(text: str) -> bool:
    return _OUTLINE.match(text) is not None


def _canonical_labels(text: str) -> str:
    """``Output (b)``, ``response a`` -> ``Output B``, ``response A``: after a noun the
    letter is a label whatever its case, so that only capitals need to be
    recognised elsewhere (a lone lowercase "a" is an article)."""
    return re.sub(
        r"\b(output|response|assistant|candidate)\s*\(?\s*([abAB])\s*\)?(?![\w'])",
        lambda m: f"{m[1]} {m[2].upper()}",
        text,
        flags=re.I,
    )


# The letters are case-sensitive (?-i:...): "a tie", "a concise answer" are articles.
_LABEL = (
    r"(?<![\w'])(?:(?:output|response|assistant|answer|option|candidate|model)\s+)?(?P<who>(?-i:A|B))"
    r"(?:'s\s+(?:answer|response|output|reply))?(?![\w'])"
)
_BETTER = (
    r"better|best|superior|preferable|preferred|stronger|clearer|the\s+winner|"
    r"more\s+(?:accurate|helpful|correct|complete|relevant|informative|precise|thorough|useful|appropriate"
    r"|factual|truthful|faithful|reliable|comprehensive|coherent)|correct|right|accurate"
)
# A negative predicate is a vote for the *other* response; "more verbose",
# "longer" and the like are neither and count for nothing.
_WORSE = (
    r"worse|worst|inferior|weaker|wrong|incorrect|inaccurate|misleading|harmful|unhelpful|confusing|"
    r"irrelevant|less\s+(?:accurate|helpful|correct|complete|relevant|informative|precise|thorough|useful"
    r"|appropriate|clear|factual|reliable|coherent)|"
    r"more\s+(?:confusing|harmful|misleading|inaccurate|wrong|problematic|dangerous|incorrect|unhelpful)"
)
_DEGREE = (
    r"(?:\s+(?:clearly|much|far|slightly|significantly|somewhat|considerably|marginally|overall|definitely"
    r"|certainly|also|even|still|generally|substantially|noticeably|way|a\s+bit|a\s+little|a\s+lot|by\s+far))*"
)
_STATEMENT = re.compile(
    _LABEL + r"\s+(?:is|was|seems|appears|looks|performs|does|did|fares|reads)(?:\s+to\s+be)?"
    r"(?P<neg>n't|\s+not|\s+never)?"
    + _DEGREE
    + r"\s+(?:the\s+|an?\s+)?(?:(?P<good>"
    + _BETTER
    + r")|(?P<bad>"
    + _WORSE
    + r"))\b",
    re.I,
)
_WINS = re.compile(
    _LABEL + r"(?:\s+(?:clearly|easily|narrowly|definitely|slightly))?\s+(?:wins|comes\s+out\s+ahead"
    r"|edges\s+out|outperforms|beats)\b",
    re.I,
)
_BOTH_ADJ = (
    r"good|bad|wrong|correct|incorrect|accurate|inaccurate|fine|acceptable|poor|helpful|unhelpful|equal"
    r"|identical|the\s+same|equivalent|valid|invalid|strong|weak"
)
_TIE_PHRASES = (
    re.compile(r"\b(?:it'?s|it\s+is|this\s+is|that\s+is|call\s+it|declare)\s+a\s+tie\b", re.I),
    re.compile(
        r"\bequally\s+(?:good|bad|strong|weak|helpful|unhelpful|accurate|inaccurate|correct|wrong|valid"
        r"|poor|acceptable)\b",
        re.I,
    ),
    re.compile(
        r"\bneither(?:\s+(?:response|output|answer|one|of\s+them))?\s+is"
        + _DEGREE
        + r"\s+(?:better|worse|superior|preferable|correct|right|good|acceptable)\b",
        re.I,
    ),
    re.compile(
        r"\b(?:both(?:\s+(?:responses|outputs|answers|assistants|of\s+them))?(?:\s+(?-i:A)\s+and\s+(?-i:B))?"
        r"|(?:responses\s+|outputs\s+)?(?-i:A)\s+and\s+(?-i:B)|the\s+two(?:\s+(?:responses|outputs|answers))?)"
        r"\s+(?:are|were)(?:\s+(?:both|equally|all|similarly))*\s+(?:" + _BOTH_ADJ + r")\b",
        re.I,
    ),
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
    r"|beats?|favou?r\w*|\w+er\s+than)\b|\[\[",
    re.I,
)
# "I wouldn't say A is better", "I don't think A is better": a negated preference.
_NEGATED_LEAD = re.compile(
    r"(?:n't|\bnot|\bnever|\bhardly|\bdoubt)\s+(?:\w+\s+){0,2}?(?:say|think|believe|agree|claim"
    r"|argue|consider|conclude|sure|convinced|that)\b[^.!?\n]*$|\bdoubt\b[^.!?\n]*$",
    re.I,
)


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
_HEADING_MARKER = re.compile(
    r"^[ \t]*#+[ \t]*" + _MARKER_NOUN + r"[ \t]*[:=]?[ \t]*\n(?:[ \t]*\n)*[ \t]*"
    r"(?=(?P<clause>[^\n]*))",
    re.I | re.M,
)
_START_ANSWER = re.compile(r"^\s*(?:final\s+)?answer\s*[:=][ \t]*(?:\n[ \t]*)*(?=(?P<clause>[^\n]*))", re.I)
# "My verdict is B", "the better response is B": read when readable, else prose.
_IS_MARKER = re.compile(
    r"\b(?:" + _MARKER_NOUN + r"|(?:better|preferred)\s+(?:response|output|one|answer)|best\s+(?:response|output|one))"
    r"\s+is(?:\s+that)?\s+(?=(?P<clause>[^\n]*))",
    re.I,
)
_BRACKETS = re.compile(r"\[\[\s*(?:(?P<c>A|B|C|tie)|(?P<x>A|B)\s*(?P<op>>>?|<<?|=)\s*(?P<y>A|B))\s*\]\]", re.I)


def _bracket(match: re.Match[str]) -> str:
    """``[[B]]``, ``[[C]]``, and Arena-Hard's ``[[A>>B]]``, ``[[A=B]]``, ``[[B>A]]``."""
    if match["c"]:
        return _choice_word(match["c"]) or "tie"
    x, y, op = match["x"].upper(), match["y"].upper(), match["op"]
    if x == y:
        return UNREADABLE
    if op == "=":
        return "tie"
    return x if op.startswith(">") else y


_I_CHOOSE = re.compile(
    r"\bI(?:\s+would|\s+will|'d|'ll)?(?:\s+(?:slightly|clearly|strongly|definitely|somewhat|marginally))?"
    r"\s+(?:choose|prefer|pick|select|favou?r|go\s+with)\s+"
    r"(?=(?P<clause>[^\n.;,]*))",
    re.I,
)
_DIRECT_CHOICE = (
    r"\(?\s*(?:" + _LABEL + r"|\[\[\s*(?P<bracket>A|B|C|tie|A\s*>>?\s*B|B\s*>>?\s*A|A\s*=\s*B|B\s*=\s*A)"
    r"\s*\]\]|(?:a\s+)?(?P<tie>tie)\b"
    r"|(?P<c>(?-i:C)))\s*\)?"
)
_CLAUSE_CHOICE = re.compile(
    r"\s*(?:clearly\s+|definitely\s+)?"
    + _DIRECT_CHOICE
    + r"(?=\s*$|\s*[.,;!:)(\u2013\u2014-]|\s+(?:because|since|as|for|due|with|here|overall)\b)",
    re.I,
)
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
            rest = text[m.end() :]
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
    statement ("A is worse", "B is wrong, A is right"); else UNREADABLE."""
    direct = _CLAUSE_CHOICE.match(clause)
    if direct:
        return _direct(direct)
    # A single word after the marker is the verdict itself, as in a JSON value
    # ("Verdict: b", "Verdict: neither"); "Winner: a draw" is not one word.
    word = clause.strip().rstrip(".!")
    if re.fullmatch(r"[\w()\[\]]+", word):
        return _choice_word(word) or UNREADABLE
    found = {_direct(m) for m in map(_CHOSEN.match, (c["clause"] for c in _I_CHOOSE.finditer(clause))) if m}
    found |= {_bracket(m) for m in _BRACKETS.finditer(clause)}
    votes, negated = _prose_votes(clause)
    found |= votes
    return found.pop() if len(found) == 1 and not negated else UNREADABLE


def _explicit_choices(text: str) -> set[str]:
    found = {_bracket(m) for m in _BRACKETS.finditer(text)}
    for pattern in (_COLON_MARKER, _HEADING_MARKER):
        found |= {_read_clause(m["clause"]) for m in pattern.finditer(text)}
    for m in _START_ANSWER.finditer(text):
        # "Answer: C" may be the answer to a multiple-choice question, not a tie.
        if not re.fullmatch(r"\s*\(?[C-Z]\)?\s*[.:)]?\s*", m["clause"]):
            found.add(_read_clause(m["clause"]))
    found |= {c for c in (_read_clause(m["clause"]) for m in _IS_MARKER.finditer(text)) if c != UNREADABLE}
    for m in _I_CHOOSE.finditer(text):
        chosen = _CHOSEN.match(m["clause"])
        if chosen and _not_a_statement(text, m.start(), m.end() + chosen.end()):
            found.add(UNREADABLE)  # "Would I choose A?", "I don't think I'd choose A"
        elif chosen:
            found.add(_direct(chosen))
        elif re.match(r"\s*[ab]\b", m["clause"]):
            # "I prefer a concise answer": an article, or the label A in lowercase?
            found.add(UNREADABLE)
    return found


def _choice_from_text(text: str, scale: int) -> Parsed:
    stripped = text.strip().strip(".!").strip()
    direct = _choice_word(stripped) if len(stripped) <= 20 else None
    if direct is None and re.fullmatch(r"(?:it'?s\s+)?a\s+tie", stripped, re.I):
        direct = "tie"
    if direct is not None:
        return valid(direct, None, None)
    text = _canonical_labels(text)
    explicit = _explicit_choices(text)
    if UNREADABLE in explicit:
        return invalid("a verdict marker whose value is not A, B or tie", text.strip())
    if not explicit:
        explicit, negated = _prose_votes(text)
        # A completion prompt ends at "Verdict:", so the reply may start with a
        # bare label ("A\n\n..."); it counts as prose, so a run-on continuation
        # that says otherwise makes the reply invalid.
        start = _START[1].match(text)
        if start and not _outline(text):
            explicit.add(_choice_word(start["c"]) or "tie")
        if negated:
            return invalid("a negated comparison (e.g. 'A is not better')", text.strip())
    if len(explicit) > 1:
        return invalid(f"contradictory choices: {', '.join(sorted(explicit))}", text.strip())
    if not explicit:
        return invalid("no choice of A, B or tie found")
    return valid(explicit.pop(), None, text.strip())


GRAMMAR = Grammar(
    (
        "verdict",
        "winner",
        "choice",
        "preference",
        "preferred",
        "better",
        "best",
        "answer",
        "judgement",
        "judgment",
        "decision",
    ),
    _json_choice,
    _from_start,
    _choice_from_text,
)
PAIRWISE = Protocol(
    "pairwise",
    PAIRWISE_KIND,
    "win rate (ties half)",
    template=TEMPLATE_DIR / "pairwise.jinja",
    rubric="helpfulness",
    schema=_schema,
    grammar=GRAMMAR,
    pairs=True,
    map_back=map_back,
)
