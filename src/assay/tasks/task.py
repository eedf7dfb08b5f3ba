"""A task: items, how to prompt a chat or a base model with them, how to score.

Prompts are Jinja2 templates. A chat model gets ``chat_template`` rendered as
the user message; a base model gets ``completion_template`` with few-shot
examples (``fewshot`` of them) and stops at ``stop``.

One template for every model kind (``--template``): ``shared_template`` is
set, and a base model's prompt is then the few-shot examples, each rendered
with that same template and followed by its answer, then the item, so that a
chat model and a base model see the same question in the same words
(``--completion-template`` still overrides it for base models). ``system``
is a chat model's system message and the first paragraph of a base model's
prompt; ``user_stop`` (``--stop``) applies to every model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from assay.errors import DataError
from assay.models.base import Prompt
from assay.records import Item

DEFAULT_COMPLETION_TEMPLATE = (
    "{% for ex in fewshot %}Question: {{ ex.input }}\nAnswer: {{ ex.target }}\n\n{% endfor %}"
    "Question: {{ input }}\nAnswer:"
)


@dataclass
class Task:
    name: str
    items: list[Item]
    chat_template: str = "{{ input }}"
    completion_template: str = DEFAULT_COMPLETION_TEMPLATE
    scorers: list[str] = field(default_factory=lambda: ["exact"])
    fewshot: int = 3
    # Examples for base models; None means: the items that follow each item
    # in the dataset (never the item itself).
    fewshot_items: list[Item] | None = None
    stop: tuple[str, ...] = ("\n",)
    config: dict[str, Any] = field(default_factory=dict)
    # Likelihood modes: "choices" (multiple choice by log-probability) or
    # "perplexity" (every token of each document); "generate" otherwise.
    mode: str = "generate"
    choice_format: Any = None  # a tasks.choices.ChoiceFormat, for choices items
    target_delimiter: str = " "
    # The plain-text prompt of likelihood modes (default: the format's own);
    # --template sets it for chat and base models alike.
    likelihood_template: str | None = None
    document_field: str = "text"
    apply_chat_template: bool = False  # choices: the context as a chat turn of each model's own template
    # Generation: a base model's prompt rendered from this template (examples and item alike), see the
    # module's docstring; --template sets it (and chat_template) unless --completion-template is given.
    shared_template: str | None = None
    system: str | None = None
    user_stop: tuple[str, ...] | None = None
    # Choices: how a template's letters[...] labels are shown and answered (tasks.variants.LABEL_STYLES).
    label_style: str | None = None
    # Prompt variants (tasks.variants.VariantSet): an item whose meta names a variant is rendered by its task.
    variants: Any = None

    def _variant_task(self, item: Item) -> Task | None:
        name = item.meta.get("variant")
        if self.variants is None or name is None:
            return None
        return self.variants.tasks[name]

    @property
    def context_template_text(self) -> str:
        """The template a likelihood item's context is rendered from."""
        if self.likelihood_template is not None:
            return self.likelihood_template
        return self.choice_format.template if self.choice_format is not None else "{{ input }}"

    @cached_property
    def _context_template(self):
        import jinja2

        text = self.context_template_text
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        try:
            return env.from_string(text)
        except jinja2.TemplateSyntaxError as exc:
            raise DataError(f"prompt template syntax error at line {exc.lineno}: {exc.message}") from exc

    def _context_of(self, item: Item) -> str:
        from assay.tasks.variants import label_lists

        shown, answers = label_lists(self.label_style)
        variables = {
            **item.input,
            "input": item.input.get("input", ""),
            "choices": item.meta.get("choices", []),
            "letters": answers,
            "labels": shown,
        }
        return _render(self._context_template, variables, item, "context template")

    def _answer_of(self, item: Item) -> str:
        """The gold continuation's text (without the delimiter), as a few-shot example shows it."""
        from assay.tasks.variants import label_lists

        gold = int(item.meta["gold"])
        if self.choice_format is not None and self.choice_format.letters:
            return label_lists(self.label_style)[1][gold]
        return str(item.meta["choices"][gold])

    def choice_prompt(self, item: Item):
        """The contexts and continuations a choices item is scored on (see tasks.choices)."""
        variant = self._variant_task(item)
        if variant is not None:
            return variant.choice_prompt(item)
        from assay.tasks.choices import FEWSHOT_DELIMITER, ChoicePrompt
        from assay.tasks.variants import label_lists

        choices = list(item.meta["choices"])
        partial = item.meta.get("partial_contexts")
        prefix = ""
        if self.choice_format is not None and self.choice_format.description:
            prefix = self.choice_format.description.format(subject=str(item.input.get("subject", "")).replace("_", " "))
        for example in self._examples_for(item):
            if example.meta.get("gold") is None:
                continue
            if example.meta.get("partial_contexts"):
                shown = example.meta["partial_contexts"][int(example.meta["gold"])]
                prefix += f"{shown}{self.target_delimiter}{example.meta['partial_target']}{FEWSHOT_DELIMITER}"
            else:
                prefix += (
                    f"{self._context_of(example)}{self.target_delimiter}{self._answer_of(example)}{FEWSHOT_DELIMITER}"
                )
        if partial:
            target = item.meta["partial_target"]
            return ChoicePrompt(
                [prefix + c for c in partial], [self.target_delimiter + target] * len(partial), [target] * len(partial)
            )
        letters = self.choice_format is not None and self.choice_format.letters
        texts = label_lists(self.label_style, len(choices))[1] if letters else choices
        context = prefix + self._context_of(item)
        return ChoicePrompt([context] * len(texts), [self.target_delimiter + t for t in texts], texts)

    def document(self, item: Item) -> str:
        """A perplexity item's text."""
        return str(item.input.get(self.document_field, item.input.get("input", "")))

    @cached_property
    def _templates(self):
        import jinja2

        env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        try:
            shared = env.from_string(self.shared_template) if self.shared_template is not None else None
            return env.from_string(self.chat_template), env.from_string(self.completion_template), shared
        except jinja2.TemplateSyntaxError as exc:
            raise DataError(f"prompt template syntax error at line {exc.lineno}: {exc.message}") from exc

    def _examples_for(self, item: Item) -> list[Item]:
        if self.fewshot <= 0:
            return []
        if self.fewshot_items is not None:
            return self.fewshot_items[: self.fewshot]
        pool = self.items
        start = int(item.meta.get("index", 0))
        own_id = item.meta.get("base_item", item.id)  # a variant's item is its base item's
        picked = []
        for offset in range(1, len(pool)):
            candidate = pool[(start + offset) % len(pool)]
            if candidate.id != own_id and candidate.target is not None:
                picked.append(candidate)
            if len(picked) == self.fewshot:
                break
        return picked

    def render(self, item: Item, chat: bool) -> Prompt:
        variant = self._variant_task(item)
        if variant is not None:
            return variant.render(item, chat)
        chat_template, completion_template, shared_template = self._templates
        variables = {**item.input, "input": item.input.get("input", ""), "target": item.target}
        if chat:
            messages = [{"role": "user", "content": _render(chat_template, variables, item, "chat template")}]
            if self.system:
                messages.insert(0, {"role": "system", "content": self.system})
            return messages
        examples = [
            (ex, {**ex.input, "input": ex.input.get("input", ""), "target": ex.target})
            for ex in self._examples_for(item)
        ]
        if shared_template is not None:
            from assay.tasks.choices import FEWSHOT_DELIMITER

            # Each example in the item's own words, then its answer.
            shown = "".join(
                f"{_render(shared_template, fields, ex, 'prompt template')}{self.target_delimiter}{fields['target']}"
                f"{FEWSHOT_DELIMITER}"
                for ex, fields in examples
            )
            text = shown + _render(shared_template, variables, item, "prompt template")
        else:
            fewshot = [fields for _, fields in examples]
            text = _render(completion_template, {**variables, "fewshot": fewshot}, item, "completion template")
        return f"{self.system}\n\n{text}" if self.system else text

    def stop_for(self, chat: bool) -> tuple[str, ...]:
        if self.user_stop is not None:
            return self.user_stop
        return () if chat else self.stop

    def prompt_record(self, item: Item, chat: bool) -> dict[str, Any]:
        """What a model of this kind is prompted with, for the run's config: the
        template in force and the first item's prompt as rendered."""
        if self.mode != "generate":
            return {
                "kind": "context",
                "template": self.likelihood_template or getattr(self.choice_format, "template", None),
            }
        if chat:
            kind, template = "chat", self.chat_template
        else:
            kind = "completion"
            template = self.shared_template if self.shared_template is not None else self.completion_template
        return {
            "kind": kind,
            "template": template,
            "system": self.system,
            "stop": list(self.stop_for(chat)),
            "fewshot": 0 if chat else len(self._examples_for(item)),
            "first_prompt": self.render(item, chat),
        }


def _render(template: Any, variables: dict[str, Any], item: Item, which: str) -> str:
    """Render a prompt template for ``item``; a failure names the item's file and
    line (or id) and the template: a missing field, or an expression that fails
    on this item's values (``{{ input + 1 }}`` on text, a division by zero)."""
    import jinja2

    where = item.meta.get("source", f"item {item.id}")
    try:
        return template.render(**variables)
    except jinja2.UndefinedError as exc:
        raise DataError(
            f"prompt template needs a field the data lacks ({where}): {exc.message}; fields: {', '.join(item.input)}"
        ) from exc
    except Exception as exc:  # the template's own expressions: any error they raise is the template's
        detail = " ".join(str(exc).split())[:200]
        raise DataError(
            f"the {which} fails on {where}: {type(exc).__name__}: {detail}; fix the template (or the item); "
            f"fields: {', '.join(item.input)}"
        ) from exc
