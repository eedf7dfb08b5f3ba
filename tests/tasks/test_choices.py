"""Multiple-choice shapes, lm-eval's prompt formats, and the per-item metrics."""

import json
import math

import pytest

from assay.errors import ConfigError, DataError
from assay.records import Logprob
from assay.tasks.catalog import CATALOG, SAMPLES
from assay.tasks.likelihood import choice_metrics, document_metrics
from assay.tasks.registry import get_task


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_every_catalog_task_has_a_sample_in_its_shape():
    for name in CATALOG:
        task = get_task(name, data="sample")
        assert task.mode == "choices" and len(task.items) >= 3, name
        for item in task.items:
            prompt = task.choice_prompt(item)
            assert len(prompt.contexts) == len(prompt.continuations) == len(prompt.choice_texts)
            assert 0 <= item.meta["gold"] < len(item.meta["choices"])
            assert all(c.startswith(" ") for c in prompt.continuations)


def test_lm_eval_prompt_formats():
    arc = get_task("arc_easy", data="sample").items[0]
    prompt = get_task("arc_easy", data="sample").choice_prompt(arc)
    assert prompt.contexts[0] == "Question: Which of these is needed for a candle to keep burning?\nAnswer:"
    assert prompt.continuations == [" oxygen", " darkness", " salt water", " cold air"]
    assert arc.meta["gold"] == 0

    mmlu = get_task("mmlu", data="sample")
    first = mmlu.choice_prompt(mmlu.items[0])
    assert first.contexts[0] == (
        "The following are multiple choice questions (with answers) about elementary "
        "mathematics.\n\nWhat is the value of 7 multiplied by 8?\nA. 54\nB. 56\nC. 58\n"
        "D. 64\nAnswer:"
    )
    assert first.continuations == [" A", " B", " C", " D"] and mmlu.items[0].meta["gold"] == 1

    wino = get_task("winogrande", data="sample")
    partial = wino.choice_prompt(wino.items[0])
    assert partial.contexts == [
        "The trophy did not fit in the suitcase because the trophy",
        "The trophy did not fit in the suitcase because the suitcase",
    ]
    assert partial.continuations == [" was too big."] * 2

    hella = get_task("hellaswag", data="sample")
    last = hella.choice_prompt(hella.items[3])
    # WikiHow markers dropped as lm-eval's preprocessing does.
    assert "[" not in last.contexts[0] and "[" not in "".join(last.continuations)
    assert last.contexts[0].startswith("Home and Garden: ")

    boolq = get_task("boolq", data="sample")
    assert boolq.choice_prompt(boolq.items[0]).continuations == [" no", " yes"]
    assert boolq.items[0].meta["gold"] == 1 and boolq.items[1].meta["gold"] == 0


def test_fewshot_examples_show_the_gold_answer(tmp_path):
    task = get_task("piqa", data="sample", fewshot=1)
    context = task.choice_prompt(task.items[0]).contexts[0]
    second = task.items[1]
    assert context.startswith(f"Question: {second.input['goal']}\nAnswer: {second.meta['choices'][1]}\n\n")
    assert context.endswith(f"Question: {task.items[0].input['goal']}\nAnswer:")


def test_targets_as_index_letter_or_text_and_custom_fields(tmp_path):
    path = write(
        tmp_path / "mc.jsonl",
        [
            {"question": "q1", "choices": ["a", "b", "c"], "answer": 2},
            {"question": "q2", "choices": ["a", "b", "c"], "answer": "B"},
            {"question": "q3", "choices": ["red", "blue"], "answer": "blue"},
        ],
    )
    task = get_task(path)
    assert task.mode == "choices"
    assert [it.meta["gold"] for it in task.items] == [2, 1, 1]
    custom = write(tmp_path / "custom.jsonl", [{"prompt": "p", "options": ["x", "y"], "right": "y"}])
    task = get_task(custom, choices_field="options", target_field="right")
    assert task.items[0].meta["gold"] == 1
    assert get_task(path, mode="generate").mode == "generate"


@pytest.mark.parametrize(
    "row,message",
    [
        ({"question": "q", "choices": ["a", "b"], "answer": 5}, "outside the 2 choices"),
        ({"question": "q", "choices": ["a", ""], "answer": 0}, "choice 1 in column 'choices' is empty"),
        ({"question": "q", "choices": [], "answer": 0}, "no choices"),
        ({"question": "q", "choices": ["a", "b"], "answer": "zebra"}, "not an index, letter or text"),
    ],
)
def test_bad_items_are_named_by_line(tmp_path, row, message):
    path = write(tmp_path / "bad.jsonl", [{"question": "ok", "choices": ["a", "b"], "answer": 0}, row])
    with pytest.raises(DataError, match=message) as caught:
        get_task(path)
    assert "bad.jsonl line 2" in str(caught.value)


def test_choices_mode_without_choices_is_refused(tmp_path):
    path = write(tmp_path / "plain.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(DataError, match="needs items with choices"):
        get_task(path, mode="choices")
    with pytest.raises(ConfigError, match="--mode"):
        get_task(path, mode="bogus")
    with pytest.raises(ConfigError, match="--scorer applies to generation"):
        get_task("piqa", data="sample", scorers=["exact"])


def test_catalog_without_data_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError) as caught:
        get_task("arc_easy")
    assert str(tmp_path / "data" / "arc_easy") in str(caught.value) and "--data" in str(caught.value)
    local = tmp_path / "data" / "arc_easy.jsonl"
    local.parent.mkdir()
    local.write_text((SAMPLES / "arc_easy.jsonl").read_text())
    assert len(get_task("arc_easy").items) == 4


def test_documents_from_text_files(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("first line\n\nsecond line\n")
    task = get_task(str(corpus), mode="perplexity")
    assert [task.document(it) for it in task.items] == ["first line", "second line"]
    assert task.items[1].meta["source"].endswith("c.txt line 3")


def test_choice_metrics_by_hand():
    lps = [Logprob(-2.0, 1), Logprob(-1.0, 3), Logprob(-3.0, 2)]
    texts = ["a", "bbbbbbbbbb", "cc"]
    m = choice_metrics(lps, texts, gold=1)
    assert m["acc"] == 1.0
    # per character: -2, -0.1, -1.5: still choice 1
    assert m["acc_norm"] == 1.0
    z = math.exp(-2) + math.exp(-1) + math.exp(-3)
    p = [math.exp(-2) / z, math.exp(-1) / z, math.exp(-3) / z]
    assert m["p_correct"] == pytest.approx(p[1], abs=1e-12)
    assert m["brier"] == pytest.approx(p[0] ** 2 + (1 - p[1]) ** 2 + p[2] ** 2, abs=1e-12)
    assert m["logprob_correct"] == -1.0
    # Length normalisation changes the answer: a long choice with a lower total.
    m = choice_metrics([Logprob(-4.0, 4), Logprob(-3.0, 1)], ["aaaaaaaa", "b"], gold=0)
    assert m["acc"] == 0.0 and m["acc_norm"] == 1.0
    # Bytes differ from characters for non-ASCII text.
    # "éé": -0.75 per character, -0.375 per byte; "abc": -0.667 for both.
    m = choice_metrics([Logprob(-1.5, 2), Logprob(-2.0, 2)], ["éé", "abc"], gold=0)
    assert m["acc_norm"] == 0.0 and m["acc_bytes"] == 1.0
    # One continuation: right when greedy.
    assert choice_metrics([Logprob(-0.5, 2, True)], ["word"], 0)["acc"] == 1.0
    assert choice_metrics([Logprob(-0.5, 2, False)], ["word"], 0)["acc"] == 0.0


def test_document_metrics():
    m = document_metrics(Logprob(-10.0, 5), "héllo wörld")
    assert m == {"logprob": -10.0, "tokens": 5.0, "bytes": 13.0, "words": 2.0}


def test_an_empty_document_is_named_by_line(tmp_path):
    path = write(tmp_path / "docs.jsonl", [{"text": "a sentence"}, {"text": "   "}])
    with pytest.raises(DataError, match=r"docs.jsonl line 2: empty document: column 'text' has no text"):
        get_task(path, mode="perplexity")
