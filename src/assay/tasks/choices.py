"""Multiple-choice items scored by log-likelihood, in the shapes of the
standard benchmarks, with lm-evaluation-harness's prompt conventions.

An item becomes a context (its prompt rendered as plain text, few-shot
examples first) and one continuation per choice: the target delimiter
(default ``" "``) followed by the choice's text. The model's log-probability
of each continuation given its context decides: the highest is the model's
answer (``acc``); divided by the choice's length in characters first, it is
``acc_norm`` (lm-eval's length normalisation; ``acc_bytes`` divides by UTF-8
bytes). WinoGrande is scored the other way round (lm-eval's "partial"
scoring): the context differs per choice (the sentence up to the blank, with
the option filled in) and the continuation, the rest of the sentence, is the
same.

A shape is recognised from an item's fields; ``--choices-field`` and
``--target-field`` name them for other data. The gold answer may be an index
(0-based), a letter (A, B, ...) or the choice's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from assay.errors import DataError

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DEFAULT_TEMPLATE = "Question: {{ question }}\nAnswer:"
FEWSHOT_DELIMITER = "\n\n"


@dataclass(frozen=True)
class ChoiceDoc:
    """One multiple-choice item, normalised: the fields a template sees, the
    choices' texts, the gold choice, and for partial scoring the per-choice
    contexts and the shared continuation."""

    fields: dict[str, Any]
    choices: list[str]
    gold: int | None
    partial_contexts: list[str] | None = None
    partial_target: str | None = None


@dataclass(frozen=True)
class ChoiceFormat:
    """How a benchmark's rows become ``ChoiceDoc``s, and its default prompt."""

    name: str
    columns: frozenset[str]
    template: str
    to_doc: Callable[[dict[str, Any], str], ChoiceDoc]
    description: str = ""  # a line before the few-shot examples (MMLU's subject line)
    letters: bool = False  # the continuations are the letters A, B, ... (MMLU)


def _gold(value: Any, choices: list[str], location: str, column: str, labels: list[str] | None = None) -> int:
    """A gold answer given as an index (0-based), a letter, a label, or the choice's text."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if labels is not None and text in labels:
        return labels.index(text)
    if isinstance(value, int) or text.lstrip("-").isdigit():
        index = int(text)
        if 0 <= index < len(choices):
            return index
        raise DataError(
            f"{location}: target {value!r} in column '{column}' is outside the "
            f"{len(choices)} choices (0 to {len(choices) - 1})"
        )
    if len(text) == 1 and text.upper() in LETTERS[: len(choices)]:
        return LETTERS.index(text.upper())
    if text in choices:
        return choices.index(text)
    raise DataError(
        f"{location}: target {value!r} in column '{column}' is not an index, letter or text of "
        f"one of the choices ({', '.join(repr(c) for c in choices)})"
    )


def _check(choices: list[Any], location: str, column: str) -> list[str]:
    if not isinstance(choices, (list, tuple)) or not choices:
        raise DataError(f"{location}: no choices: column '{column}' must be a non-empty list, not {choices!r}")
    texts = []
    for index, choice in enumerate(choices):
        if choice is None or not str(choice).strip():
            raise DataError(f"{location}: choice {index} in column '{column}' is empty")
        texts.append(str(choice))
    return texts


def _listed(row: dict[str, Any], location: str) -> ChoiceDoc:
    choices = _check(list(row["choices"]), location, "choices")
    target = next((c for c in ("answer", "label", "target", "gold") if c in row), None)
    gold = None if target is None or row[target] is None else _gold(row[target], choices, location, target)
    return ChoiceDoc({**row, "question": row.get("question", row.get("input", ""))}, choices, gold)


def _arc(row: dict[str, Any], location: str) -> ChoiceDoc:
    block = row["choices"]
    if not isinstance(block, dict) or "text" not in block:
        raise DataError(f"{location}: ARC 'choices' must be {{'text': [...], 'label': [...]}}, not {block!r}")
    choices = _check(list(block["text"]), location, "choices.text")
    labels = [str(x) for x in block.get("label") or LETTERS[: len(choices)]]
    return ChoiceDoc(row, choices, _gold(row["answerKey"], choices, location, "answerKey", labels))


def _hellaswag_text(text: str) -> str:
    # lm-eval's preprocessing of HellaSwag (WikiHow's bracketed markers dropped).
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def _hellaswag(row: dict[str, Any], location: str) -> ChoiceDoc:
    ctx = f"{row['ctx_a']} {str(row.get('ctx_b', '')).capitalize()}" if "ctx_a" in row else row["ctx"]
    query = _hellaswag_text(f"{row.get('activity_label', '')}: {ctx}" if row.get("activity_label") else ctx)
    choices = [_hellaswag_text(e) for e in _check(list(row["endings"]), location, "endings")]
    gold = None if row.get("label") in (None, "") else _gold(row["label"], choices, location, "label")
    return ChoiceDoc({**row, "query": query}, choices, gold)


def _piqa(row: dict[str, Any], location: str) -> ChoiceDoc:
    choices = _check([row["sol1"], row["sol2"]], location, "sol1/sol2")
    return ChoiceDoc(row, choices, _gold(row["label"], choices, location, "label"))


def _winogrande(row: dict[str, Any], location: str) -> ChoiceDoc:
    sentence = str(row["sentence"])
    if sentence.count("_") != 1:
        raise DataError(
            f"{location}: a WinoGrande sentence needs exactly one '_' blank, found {sentence.count('_')}: {sentence!r}"
        )
    blank = sentence.index("_")
    options = _check([row["option1"], row["option2"]], location, "option1/option2")
    answer = str(row.get("answer", "")).strip()
    if answer not in ("1", "2"):
        raise DataError(f"{location}: WinoGrande 'answer' must be 1 or 2, not {row.get('answer')!r}")
    target = sentence[blank + 1 :].strip()
    if not target:
        raise DataError(f"{location}: nothing after the blank to score in {sentence!r}")
    return ChoiceDoc(
        row,
        options,
        int(answer) - 1,
        partial_contexts=[sentence[:blank] + option for option in options],
        partial_target=target,
    )


def _boolq(row: dict[str, Any], location: str) -> ChoiceDoc:
    answer = row.get("answer", row.get("label"))
    if isinstance(answer, str) and answer.strip().lower() in ("true", "false", "yes", "no"):
        answer = answer.strip().lower() in ("true", "yes")
    return ChoiceDoc(row, ["no", "yes"], _gold(answer, ["no", "yes"], location, "answer"))


def _sciq(row: dict[str, Any], location: str) -> ChoiceDoc:
    choices = _check(
        [row["distractor1"], row["distractor2"], row["distractor3"], row["correct_answer"]],
        location,
        "distractors/correct_answer",
    )
    return ChoiceDoc({**row, "support": str(row.get("support") or "").strip()}, choices, 3)


def _truthfulqa(row: dict[str, Any], location: str) -> ChoiceDoc:
    block = row["mc1_targets"]
    choices = _check(list(block["choices"]), location, "mc1_targets.choices")
    labels = list(block.get("labels") or [])
    if labels.count(1) != 1:
        raise DataError(f"{location}: mc1_targets.labels must mark exactly one choice with 1")
    return ChoiceDoc(row, choices, labels.index(1))


def _lambada(row: dict[str, Any], location: str) -> ChoiceDoc:
    text = str(row["text"]).rstrip()
    if " " not in text:
        raise DataError(f"{location}: a LAMBADA passage needs a last word after a space")
    context, word = text.rsplit(" ", 1)
    # One continuation: "right" means the model would produce it greedily.
    return ChoiceDoc({**row, "context": context}, [word], 0)


def _mmlu(row: dict[str, Any], location: str) -> ChoiceDoc:
    doc = _listed(row, location)
    return ChoiceDoc({**doc.fields, "question": str(doc.fields["question"]).strip()}, doc.choices, doc.gold)


MMLU_TEMPLATE = (
    "{{ question }}\n{% for choice in choices %}{{ letters[loop.index0] }}. {{ choice }}\n{% endfor %}Answer:"
)

# Most specific first: the first whose columns an item has is its shape.
FORMATS: list[ChoiceFormat] = [
    ChoiceFormat("winogrande", frozenset({"sentence", "option1", "option2", "answer"}), "", _winogrande),
    ChoiceFormat("hellaswag", frozenset({"endings", "label"}), "{{ query }}", _hellaswag),
    ChoiceFormat("piqa", frozenset({"goal", "sol1", "sol2", "label"}), "Question: {{ goal }}\nAnswer:", _piqa),
    ChoiceFormat("arc", frozenset({"question", "choices", "answerKey"}), DEFAULT_TEMPLATE, _arc),
    ChoiceFormat(
        "sciq",
        frozenset({"question", "correct_answer", "distractor1", "distractor2", "distractor3"}),
        "{{ support }}\nQuestion: {{ question }}\nAnswer:",
        _sciq,
    ),
    ChoiceFormat("truthfulqa_mc1", frozenset({"question", "mc1_targets"}), "Q: {{ question }}\nA:", _truthfulqa),
    ChoiceFormat(
        "boolq",
        frozenset({"passage", "question", "answer"}),
        "{{ passage }}\nQuestion: {{ question }}?\nAnswer:",
        _boolq,
    ),
    ChoiceFormat(
        "mmlu",
        frozenset({"question", "choices", "answer", "subject"}),
        MMLU_TEMPLATE,
        _mmlu,
        description="The following are multiple choice questions (with answers) about {subject}.\n\n",
        letters=True,
    ),
    ChoiceFormat("choices", frozenset({"choices"}), DEFAULT_TEMPLATE, _listed),
]
LAMBADA = ChoiceFormat("lambada", frozenset({"text"}), "{{ context }}", _lambada)
BY_NAME = {f.name: f for f in [*FORMATS, LAMBADA]}


def detect_format(columns: set[str]) -> ChoiceFormat | None:
    """The multiple-choice shape these columns have, or None (a generation dataset)."""
    for fmt in FORMATS:
        if fmt.columns <= columns:
            return fmt
    return None


def custom_format(choices_field: str, target_field: str | None) -> ChoiceFormat:
    """Items whose choices (a list) and gold answer are in the named fields."""

    def to_doc(row: dict[str, Any], location: str) -> ChoiceDoc:
        if choices_field not in row:
            raise DataError(f"{location}: no column '{choices_field}' (--choices-field); columns: {', '.join(row)}")
        choices = _check(row[choices_field], location, choices_field)
        gold = None
        if target_field is not None and row.get(target_field) is not None:
            gold = _gold(row[target_field], choices, location, target_field)
        return ChoiceDoc({**row, "question": row.get("question", row.get("input", ""))}, choices, gold)

    return ChoiceFormat("choices", frozenset({choices_field}), DEFAULT_TEMPLATE, to_doc)


@dataclass
class ChoicePrompt:
    """What a model is asked about one item: a context and a continuation per
    choice (the context is the same for every choice except in partial scoring)."""

    contexts: list[str]
    continuations: list[str]
    choice_texts: list[str] = field(default_factory=list)  # what acc_norm's lengths count
