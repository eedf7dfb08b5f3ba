"""A task: items, how to prompt a chat or a base model with them, how to score.

Prompts are Jinja2 templates. A chat model gets ``chat_template`` rendered as
the user message; a base model gets ``completion_template`` with few-shot
examples (``fewshot`` of them) and stops at ``stop``.
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

    @cached_property
    def _context_template(self):
        import jinja2

        text = self.likelihood_template
        if text is None:
            text = self.choice_format.template if self.choice_format is not None else "{{ input }}"
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        try:
            return env.from_string(text)
        except jinja2.TemplateSyntaxError as exc:
            raise DataError(f"prompt template syntax error at line {exc.lineno}: {exc.message}") from exc

    def _context_of(self, item: Item) -> str:
        import jinja2

        from assay.tasks.choices import LETTERS

        variables = {
            **item.input,
            "input": item.input.get("input", ""),
            "choices": item.meta.get("choices", []),
            "letters": LETTERS,
        }
        try:
            return self._context_template.render(**variables)
        except jinja2.UndefinedError as exc:
            where = item.meta.get("source", f"item {item.id}")
            raise DataError(
                f"prompt template needs a field the data lacks ({where}): {exc.message}; "
                f"fields: {', '.join(item.input)}"
            ) from exc

    def _answer_of(self, item: Item) -> str:
        """The gold continuation's text (without the delimiter), as a few-shot example shows it."""
        from assay.tasks.choices import LETTERS

        gold = int(item.meta["gold"])
        if self.choice_format is not None and self.choice_format.letters:
            return LETTERS[gold]
        return str(item.meta["choices"][gold])

    def choice_prompt(self, item: Item):
        """The contexts and continuations a choices item is scored on (see tasks.choices)."""
        from assay.tasks.choices import FEWSHOT_DELIMITER, LETTERS, ChoicePrompt

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
        texts = [LETTERS[i] for i in range(len(choices))] if letters else choices
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
            return env.from_string(self.chat_template), env.from_string(self.completion_template)
        except jinja2.TemplateSyntaxError as exc:
            raise DataError(f"prompt template syntax error at line {exc.lineno}: {exc.message}") from exc

    def _examples_for(self, item: Item) -> list[Item]:
        if self.fewshot <= 0:
            return []
        if self.fewshot_items is not None:
            return self.fewshot_items[: self.fewshot]
        pool = self.items
        start = int(item.meta.get("index", 0))
        picked = []
        for offset in range(1, len(pool)):
            candidate = pool[(start + offset) % len(pool)]
            if candidate.id != item.id and candidate.target is not None:
                picked.append(candidate)
            if len(picked) == self.fewshot:
                break
        return picked

    def render(self, item: Item, chat: bool) -> Prompt:
        import jinja2

        chat_template, completion_template = self._templates
        variables = {**item.input, "input": item.input.get("input", ""), "target": item.target}
        try:
            if chat:
                return [{"role": "user", "content": chat_template.render(**variables)}]
            examples = [
                {**ex.input, "input": ex.input.get("input", ""), "target": ex.target} for ex in self._examples_for(item)
            ]
            return completion_template.render(**variables, fewshot=examples)
        except jinja2.UndefinedError as exc:
            where = item.meta.get("source", f"item {item.id}")
            raise DataError(
                f"prompt template needs a field the data lacks ({where}): {exc.message}; "
                f"fields: {', '.join(item.input)}"
            ) from exc

    def stop_for(self, chat: bool) -> tuple[str, ...]:
        return () if chat else self.stop
