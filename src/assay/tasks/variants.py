"""Prompt variants: the same items under other formattings of the prompt.

A model's score can move by several points when only the prompt's format
changes (Sclar et al. 2024, "Quantifying language models' sensitivity to
spurious features in prompt design"). A variant keeps every item's content and
its order (the question, the choices, the answer it is scored against) and
changes only the format around it:

* ``case``: the casing of field names (``Question:`` → ``question:``,
  ``QUESTION:``);
* ``separator``: what follows a field name (``": "``, ``" - "``, ``":\\n"``,
  ``" :: "``);
* ``joiner``: the line break between fields (``"\\n"`` → ``" "``,
  ``"\\n\\n"``, ``" | "``); a blank line (between few-shot examples) is kept;
* ``answer_prefix``: the name of the last field, the one the answer follows
  (``Answer`` → ``A``, ``Response``), wherever that name appears;
* ``labels``: how choices are labelled where a template lists them with
  ``letters[loop.index0]`` (``A.``, ``(a)``, ``1.``, ``a)``, ``(A)``); in a
  task scored by the label (MMLU) the answer continuations change with it.

A field name is a short phrase at the start of a line, followed by a colon
and then a value (a ``{{ ... }}`` expression), a line break or the end of the
template. Text inside Jinja tags is never touched, so the values rendered are
the same under every variant.

Variants are generated deterministically from a seed: every combination of
the options is applied to the task's templates, combinations that render the
same prompts are merged, and ``n - 1`` are drawn from the rest; the first
variant (``v0``) is always the task's template as given.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from assay.errors import ConfigError

if TYPE_CHECKING:
    from assay.records import Item
    from assay.tasks.task import Task

CASES = ("as written", "lower", "upper", "title")
SEPARATORS = (": ", " - ", ":\n", " :: ")
JOINERS = ("\n", " ", "\n\n", " | ")
ANSWER_PREFIXES = ("Answer", "A", "Response")
# Label styles: the label shown before each choice, and the answer label a
# letter-scored task's continuation is (formatted with the choice's letter or number).
LABEL_STYLES = {
    "A.": ("{L}.", "{L}"),
    "(A)": ("({L})", "{L}"),
    "a)": ("{l})", "{l}"),
    "(a)": ("({l})", "{l}"),
    "1.": ("{n}.", "{n}"),
}
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_TAG = re.compile(r"(\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\})", re.DOTALL)
_FIELD = re.compile(r"(?:(?<=\n)|\A)([A-Za-z][A-Za-z0-9 _'-]{0,30}?)[ \t]*:[ \t]*(?=\n|\Z)")
_LABEL = re.compile(r"\{\{\s*letters\[\s*loop\.index0\s*\]\s*\}\}")
_LABEL_PUNCT = re.compile(r"\A[.):]")
_KEEP = "\x00"  # stands for a line break that belongs to a separator while joiners are applied


def label_lists(style: str | None, n: int = len(LETTERS)) -> tuple[list[str], list[str]]:
    """The shown labels and answer labels of the first ``n`` choices under ``style`` (None: ``A.``)."""
    shown, answer = LABEL_STYLES[style or "A."]
    pairs = [(LETTERS[i], LETTERS[i].lower(), str(i + 1)) for i in range(n)]
    return [shown.format(L=L, l=lo, n=k) for L, lo, k in pairs], [answer.format(L=L, l=lo, n=k) for L, lo, k in pairs]


@dataclass(frozen=True)
class Transform:
    """One formatting of a template; None keeps what the template has."""

    case: str = "as written"
    separator: str | None = None
    joiner: str | None = None
    answer_prefix: str | None = None
    labels: str | None = None

    def changes(self) -> dict[str, str]:
        """What this transform changes, for the run's config (empty: the template as given)."""
        out = {}
        if self.case != "as written":
            out["case"] = self.case
        for name in ("separator", "joiner", "answer_prefix", "labels"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


def _split(template: str) -> list[str]:
    """Literal text at even positions, Jinja tags at odd ones."""
    return _TAG.split(template)


def field_names(template: str) -> list[str]:
    """The field names of a template, in order (``Question``, ``Answer``)."""
    parts = _split(template)
    names = []
    for index in range(0, len(parts), 2):
        if _field_context_ok(parts, index):
            names += [m.group(1) for m in _FIELD.finditer(parts[index])]
        else:
            names += [m.group(1) for m in _FIELD.finditer(parts[index]) if m.start() > 0]
    return names


def _field_context_ok(parts: list[str], index: int) -> bool:
    """Whether a field name may start a literal segment: at the template's start or after a block tag."""
    return index == 0 or parts[index - 1].startswith("{%")


def _answer_name(template: str) -> str | None:
    """The last field name when it ends the template: the answer prefix."""
    parts = _split(template)
    last = parts[-1] if len(parts) % 2 == 1 else ""
    names = [m for m in _FIELD.finditer(last) if m.end() == len(last)]
    if not names or (names[0].start() == 0 and not _field_context_ok(parts, len(parts) - 1)):
        return None
    return names[-1].group(1)


def _cased(name: str, case: str) -> str:
    if case == "lower":
        return name.lower()
    if case == "upper":
        return name.upper()
    if case == "title":
        return name.title()
    return name


def apply_transform(template: str, transform: Transform) -> str:
    """The template under ``transform``; its Jinja tags, and so every value it renders, unchanged."""
    answer = _answer_name(template)
    parts = _split(template)
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 1:
            if transform.labels is not None and _LABEL.fullmatch(part):
                out.append("{{ labels[loop.index0] }}")
                if index + 1 < len(parts):
                    # The punctuation after the letter is part of the label style now.
                    parts[index + 1] = _LABEL_PUNCT.sub("", parts[index + 1], count=1)
            else:
                out.append(part)
            continue
        text = part
        last = index == len(parts) - 1

        def rename(match: re.Match, text: str = text, last: bool = last) -> str:
            name = match.group(1)
            if transform.answer_prefix is not None and answer is not None and name == answer:
                name = transform.answer_prefix
            name = _cased(name, transform.case)
            separator = transform.separator
            if separator is None:
                separator = match.group(0)[len(match.group(1)) :]
            elif match.end() < len(text) or last:
                # Before a line break, or at the template's end (the answer follows
                # the target delimiter), a separator's own trailing space or break is dropped.
                separator = separator.rstrip(" \t\n")
            # A break inside a separator is not a break between fields: kept from the joiner.
            return name + separator.replace("\n", _KEEP)

        allowed_at_start = _field_context_ok(parts, index)
        text = _FIELD.sub(lambda m: rename(m) if (m.start() > 0 or allowed_at_start) else m.group(0), text)
        if transform.joiner is not None:
            text = re.sub(r"(?<!\n)\n(?!\n)", lambda _: transform.joiner, text)
        out.append(text.replace(_KEEP, "\n"))
    return "".join(out)


@dataclass(frozen=True)
class PromptVariant:
    """A named formatting of a task's prompts: a transform of its templates, or a template of the user's."""

    id: str
    transform: Transform | None = None
    template: str | None = None  # --template T1 --template T2: this variant's template text
    source: str | None = None  # the file it came from, when it came from one

    def describe(self) -> dict[str, Any]:
        if self.template is not None:
            return {"template": self.template, **({"file": self.source} if self.source else {})}
        return {"changes": self.transform.changes() if self.transform else {}}


@dataclass
class VariantSet:
    """The variants a task runs under, each with the task that renders it."""

    variants: list[PromptVariant]
    tasks: dict[str, Task] = field(default_factory=dict)

    def config(self) -> dict[str, Any]:
        """For the run's config: each variant's changes (or template) and the templates it renders."""
        return {
            v.id: {**v.describe(), "templates": templates_in_force(self.tasks[v.id]), "labels": _label_of(v)}
            for v in self.variants
        }


def _label_of(variant: PromptVariant) -> str | None:
    return variant.transform.labels if variant.transform is not None else None


def templates_in_force(task: Task) -> dict[str, str]:
    """The templates a task renders prompts from, by kind."""
    if task.mode == "choices":
        return {"context": task.context_template_text}
    out = {"chat": task.chat_template}
    out["completion"] = task.shared_template if task.shared_template is not None else task.completion_template
    return out


def transformed_task(task: Task, transform: Transform) -> Task:
    """A copy of ``task`` whose templates are formatted by ``transform``."""
    if task.mode == "choices":
        return replace(
            task,
            likelihood_template=apply_transform(task.context_template_text, transform),
            label_style=transform.labels,
            variants=None,
        )
    return replace(
        task,
        chat_template=apply_transform(task.chat_template, transform),
        completion_template=apply_transform(task.completion_template, transform),
        shared_template=None if task.shared_template is None else apply_transform(task.shared_template, transform),
        variants=None,
    )


def _check_mode(task: Task, option: str) -> None:
    if task.mode == "perplexity":
        raise ConfigError(f"{option} applies to generation and choices; perplexity documents have no prompt to vary")


def _options_for(task: Task) -> dict[str, tuple]:
    """The transform options that change something in this task's templates."""
    texts = list(templates_in_force(task).values())
    has_fields = any(field_names(t) for t in texts)
    has_answer = any(_answer_name(t) for t in texts)
    has_labels = task.mode == "choices" and any(_LABEL.search(t) for t in texts)
    has_breaks = any(re.search(r"(?<!\n)\n(?!\n)", "".join(_split(t)[::2])) for t in texts)
    return {
        "case": CASES if has_fields else ("as written",),
        "separator": (None, *SEPARATORS) if has_fields else (None,),
        "joiner": (None, *JOINERS) if has_breaks else (None,),
        "answer_prefix": (None, *ANSWER_PREFIXES) if has_answer else (None,),
        "labels": (None, *LABEL_STYLES) if has_labels else (None,),
    }


def _rendering(task: Task) -> tuple:
    """What a task's variant renders: its templates and label style (variants equal here are one)."""
    return (tuple(sorted(templates_in_force(task).items())), task.label_style or "A.")


def generate_variants(task: Task, n: int, seed: int = 0) -> VariantSet:
    """``n`` formatting variants of the task's prompt, ``v0`` being the prompt as given.

    Deterministic in ``seed``. Raises ``ConfigError`` when the templates have
    fewer than ``n`` distinct formattings (a template with no field names, line
    breaks or choice labels has one)."""
    _check_mode(task, "--prompt-variants")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ConfigError(f"--prompt-variants {n!r}: give 2 or more (the template as given is the first)")
    options = _options_for(task)
    seen = {_rendering(task): Transform()}
    for combo in itertools.product(*options.values()):
        transform = Transform(**dict(zip(options, combo)))
        rendering = _rendering(transformed_task(task, transform))
        seen.setdefault(rendering, transform)
    distinct = list(seen.values())[1:]
    if len(distinct) < n - 1:
        shown = "; ".join(f"{k}: {v!r}" for k, v in templates_in_force(task).items())
        raise ConfigError(
            f"--prompt-variants {n}: the task's template has only {len(distinct) + 1} distinct formatting(s) "
            f"({shown}); variants change field names, separators, line breaks and choice labels, so give a "
            "template with fields, e.g. --template 'Question: {{ input }}\\nAnswer:'"
        )
    picked = random.Random(seed).sample(range(len(distinct)), n - 1)
    variants = [PromptVariant("v0", Transform())] + [
        PromptVariant(f"v{k + 1}", distinct[i]) for k, i in enumerate(sorted(picked))
    ]
    return VariantSet(variants, {v.id: transformed_task(task, v.transform) for v in variants})


def template_variants(task: Task, templates: list[tuple[str, str | None]], apply) -> VariantSet:
    """Variants from the user's templates: ``templates`` holds (text, file or None) pairs; ``apply(task, text)``
    returns a copy of the task with that template in force (as one ``--template`` would set it)."""
    _check_mode(task, "--template given more than once")
    variants, tasks = [], {}
    names: set[str] = set()
    for number, (text, source) in enumerate(templates, start=1):
        name = f"t{number}"
        if source is not None:
            from pathlib import Path

            stem = Path(source).stem
            name = stem if stem not in names and re.fullmatch(r"[\w.-]+", stem) else name
        names.add(name)
        variant = PromptVariant(name, template=text, source=source)
        variants.append(variant)
        tasks[name] = replace(apply(task, text), variants=None)
    return VariantSet(variants, tasks)


def expand_items(items: list[Item], variants: VariantSet) -> list[Item]:
    """Each item once per variant: id ``ITEM@VARIANT``, meta ``variant`` and ``base_item``.

    An item's variants share a cluster (the base item, unless the item has a
    cluster already), so that a comparison over all of them is not treated as
    one over independent items."""
    from assay.records import Item

    return [
        Item(
            f"{item.id}@{v.id}",
            item.input,
            item.target,
            {"cluster": item.id, **item.meta, "variant": v.id, "base_item": item.id},
        )
        for item in items
        for v in variants.variants
    ]


def check_renders(items: list[Item], variants: VariantSet) -> None:
    """Render every item under every variant once, so that a template that fails for some
    items is named before any model is called."""
    from assay.errors import DataError

    failures: dict[str, list[str]] = {}
    first: dict[str, str] = {}
    for variant in variants.variants:
        task = variants.tasks[variant.id]
        for item in items:
            try:
                if task.mode == "choices":
                    task.choice_prompt(item)
                else:
                    task.render(item, chat=True)
                    task.render(item, chat=False)
            except DataError as exc:
                failures.setdefault(variant.id, []).append(str(item.meta.get("source", item.id)))
                first.setdefault(variant.id, str(exc))
    if failures:
        lines = []
        for vid, ids in failures.items():
            variant = next(v for v in variants.variants if v.id == vid)
            label = f"template {vid}" + (f" ({variant.source})" if variant.source else "")
            shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
            lines.append(f"{label} fails to render {len(ids)} item(s): {shown}: {first[vid]}")
        raise DataError("; ".join(lines))
