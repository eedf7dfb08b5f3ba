"""Prompt variants: every transformation keeps the content, generation is
deterministic, and a run stores each item under each variant."""

import json
import re

import pytest

from assay.errors import ConfigError, DataError
from assay.records import Item
from assay.tasks.choices import MMLU_TEMPLATE
from assay.tasks.registry import get_task
from assay.tasks.task import DEFAULT_COMPLETION_TEMPLATE, Task
from assay.tasks.variants import (
    ANSWER_PREFIXES,
    CASES,
    JOINERS,
    LABEL_STYLES,
    SEPARATORS,
    Transform,
    apply_transform,
    expand_items,
    field_names,
    generate_variants,
)

QA = "Question: {{ question }}\nAnswer:"
CONTENT = {"question": "<<Q>>", "choices": ["<<C0>>", "<<C1>>", "<<C2>>"]}


def render(template: str, style: str | None = None) -> str:
    import jinja2

    from assay.tasks.variants import label_lists

    shown, answers = label_lists(style)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(template).render(**CONTENT, letters=answers, labels=shown)


def sentinels(text: str) -> list[str]:
    return re.findall(r"<<[A-Z0-9]+>>", text)


def words(text: str) -> str:
    """What is left once the content is taken out, as lower-case letters only."""
    return re.sub(r"[^a-z]", "", re.sub(r"<<[A-Z0-9]+>>", "", text).lower())


ALL_TRANSFORMS = (
    [Transform(case=c) for c in CASES]
    + [Transform(separator=s) for s in SEPARATORS]
    + [Transform(joiner=j) for j in JOINERS]
    + [Transform(answer_prefix=p) for p in ANSWER_PREFIXES]
    + [Transform(labels=style) for style in LABEL_STYLES]
)


@pytest.mark.parametrize("template", [QA, MMLU_TEMPLATE, "Q: {{ question }}\nChoices:\n{{ choices | join(', ') }}\nA:"])
@pytest.mark.parametrize("transform", ALL_TRANSFORMS, ids=lambda t: json.dumps(t.changes()) or "same")
def test_every_transformation_keeps_the_content_in_order(template, transform):
    original = render(template)
    varied = render(apply_transform(template, transform), transform.labels)
    # The same values, once each, in the same order.
    assert sentinels(varied) == sentinels(original)
    assert sorted(set(sentinels(varied))) == sorted(sentinels(varied))
    expected_words = words(original)
    if transform.answer_prefix is not None and field_names(template):
        last = field_names(template)[-1].lower()
        expected_words = expected_words[: expected_words.rfind(last)] + transform.answer_prefix.lower()
    if transform.labels is not None and "letters" in template:
        # The letters become the style's labels (digits carry no letters).
        letters = "".join(label for label in render(apply_transform(template, transform), transform.labels).split())
        assert sentinels(letters) == sentinels(original)
        return
    assert words(varied) == expected_words


def test_each_transformation_changes_what_it_says():
    assert render(apply_transform(QA, Transform(case="upper"))) == "QUESTION: <<Q>>\nANSWER:"
    assert render(apply_transform(QA, Transform(case="lower"))) == "question: <<Q>>\nanswer:"
    assert render(apply_transform(QA, Transform(separator=" - "))) == "Question - <<Q>>\nAnswer -"
    assert render(apply_transform(QA, Transform(separator=":\n"))) == "Question:\n<<Q>>\nAnswer:"
    assert render(apply_transform(QA, Transform(joiner=" | "))) == "Question: <<Q>> | Answer:"
    assert render(apply_transform(QA, Transform(joiner="\n\n"))) == "Question: <<Q>>\n\nAnswer:"
    assert render(apply_transform(QA, Transform(answer_prefix="A"))) == "Question: <<Q>>\nA:"
    # A separator's own line break stays when lines are joined with a space.
    assert render(apply_transform(QA, Transform(separator=":\n", joiner=" "))) == "Question:\n<<Q>> Answer:"
    mmlu = apply_transform(MMLU_TEMPLATE, Transform(labels="(a)"))
    assert render(mmlu, "(a)") == "<<Q>>\n(a) <<C0>>\n(b) <<C1>>\n(c) <<C2>>\nAnswer:"
    assert render(apply_transform(MMLU_TEMPLATE, Transform(labels="1.")), "1.").startswith("<<Q>>\n1. <<C0>>\n2.")


def test_the_answer_prefix_is_renamed_in_the_examples_too():
    varied = apply_transform(DEFAULT_COMPLETION_TEMPLATE, Transform(answer_prefix="Response", case="upper"))
    assert "RESPONSE: {{ ex.target }}" in varied and varied.endswith("RESPONSE:")
    # The blank line between examples is not a field break.
    assert "\n\n{% endfor %}" in apply_transform(DEFAULT_COMPLETION_TEMPLATE, Transform(joiner=" "))


def test_text_inside_jinja_tags_is_never_touched():
    template = "Note: {{ 'Keep: this' }}\nAnswer:"
    varied = apply_transform(template, Transform(case="upper", separator=" :: "))
    assert "{{ 'Keep: this' }}" in varied and varied.startswith("NOTE :: ")


def _mmlu_task(n=6):
    items = [
        Item(
            f"q{i}",
            {"question": f"question {i}?", "subject": "maths"},
            str(i % 4),
            {"choices": ["w", "x", "y", "z"], "gold": i % 4, "index": i},
        )
        for i in range(n)
    ]
    from assay.tasks.choices import FORMATS

    mmlu = next(f for f in FORMATS if f.name == "mmlu")
    return Task("mmlu", items, mode="choices", choice_format=mmlu, fewshot=1, scorers=["acc"])


def test_generated_variants_are_deterministic_distinct_and_start_with_the_template():
    task = _mmlu_task()
    first = generate_variants(task, 5, seed=3)
    again = generate_variants(task, 5, seed=3)
    other = generate_variants(task, 5, seed=4)
    assert [v.transform for v in first.variants] == [v.transform for v in again.variants]
    assert [v.transform for v in first.variants] != [v.transform for v in other.variants]
    assert first.variants[0].id == "v0" and first.variants[0].transform == Transform()
    contexts = {vid: t.choice_prompt(task.items[0]).contexts[0] for vid, t in first.tasks.items()}
    assert contexts["v0"] == task.choice_prompt(task.items[0]).contexts[0]
    assert len(set(contexts.values()) | {repr(t.label_style) for t in first.tasks.values()}) >= 5


def test_letter_scored_choices_are_answered_in_the_variant_labels():
    task = _mmlu_task()
    from dataclasses import replace

    from assay.tasks.variants import transformed_task

    numbered = transformed_task(task, Transform(labels="1."))
    prompt = numbered.choice_prompt(task.items[1])
    assert prompt.continuations == [" 1", " 2", " 3", " 4"]
    # The few-shot example's answer is shown in the same labels.
    assert "\n1. w\n2. x" in prompt.contexts[0] and "Answer: 3\n\n" in prompt.contexts[0]
    assert replace(task).choice_prompt(task.items[1]).continuations == [" A", " B", " C", " D"]


def test_a_template_with_nothing_to_vary_is_refused():
    task = Task(
        "t", [Item("a", {"input": "1"}, "1", {})], chat_template="{{ input }}", completion_template="{{ input }}"
    )
    with pytest.raises(ConfigError, match="only 1 distinct formatting"):
        generate_variants(task, 2)
    with pytest.raises(ConfigError, match="2 or more"):
        generate_variants(_mmlu_task(), 1)


def test_expanded_items_render_through_their_variant(tmp_path):
    task = _mmlu_task()
    task.variants = generate_variants(task, 3, seed=1)
    expanded = expand_items(task.items, task.variants)
    assert [it.id for it in expanded[:3]] == ["q0@v0", "q0@v1", "q0@v2"]
    for item in expanded:
        own = task.variants.tasks[item.meta["variant"]]
        base = next(it for it in task.items if it.id == item.meta["base_item"])
        assert task.choice_prompt(item) == own.choice_prompt(base)


def test_templates_given_several_times_are_variants(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"question": f"{i}+1", "answer": str(i + 1)}) + "\n" for i in range(4)))
    first = tmp_path / "plain.j2"
    first.write_text("{{ question }} =")
    task = get_task(str(data), target_field="answer", template=[str(first), "Q: {{ question }}\nA:"])
    assert [v.id for v in task.variants.variants] == ["plain", "t2"]
    item = expand_items(task.items, task.variants)[1]
    assert task.render(item, chat=True)[0]["content"] == "Q: 0+1\nA:"
    with pytest.raises(ConfigError, match="one or the other"):
        get_task(str(data), target_field="answer", template=["a {{ question }}", "b {{ question }}"], prompt_variants=2)


def test_a_template_that_fails_for_some_items_names_them(tmp_path):
    from assay.tasks.variants import check_renders

    data = tmp_path / "d.jsonl"
    rows = [{"question": "1+1", "answer": "2"}, {"question": "2+2", "answer": "4", "hint": "even"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = get_task(
        str(data), target_field="answer", fewshot=0, template=["{{ question }}", "{{ question }} ({{ hint }})"]
    )
    with pytest.raises(DataError, match=r"template t2 fails to render 1 item\(s\): \S*d.jsonl line 1: .*'hint'"):
        check_renders(task.items, task.variants)


def test_perplexity_has_no_prompt_to_vary(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("one document\nanother\n")
    with pytest.raises(ConfigError, match="perplexity"):
        get_task(str(corpus), mode="perplexity", prompt_variants=3)
