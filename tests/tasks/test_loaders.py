"""Loading dataset files: columns, ids and targets row by row."""

import json

import pytest

from assay.errors import DataError
from assay.tasks.loaders import file_task
from assay.tasks.scorers import get_scorer


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_columns_come_from_every_row_not_only_the_first(tmp_path):
    # the first row lacks the target: every target used to load as None and score 0
    source = write_jsonl(tmp_path / "d.jsonl", [{"question": "a"}, {"question": "b", "answer": "2"}])
    with pytest.raises(DataError, match=r"d.jsonl line 1: no target: column 'answer' is missing or empty"):
        file_task(source)
    # a later row gains an id column the first row lacks
    source = write_jsonl(
        tmp_path / "d.jsonl", [{"question": "a", "answer": "1"}, {"question": "b", "answer": "2", "id": "q2"}]
    )
    with pytest.raises(DataError, match=r"d.jsonl line 1: no id: column 'id' is missing or empty"):
        file_task(source)


def test_a_row_without_its_id_is_named_not_a_key_error(tmp_path):
    source = write_jsonl(
        tmp_path / "d.jsonl", [{"id": "q1", "question": "a", "answer": "1"}, {"question": "b", "answer": "2"}]
    )
    with pytest.raises(DataError, match=r"d.jsonl line 2: no id: column 'id' is missing or empty"):
        file_task(source)


@pytest.mark.parametrize("answer", [None, "", "  "])
def test_a_missing_or_blank_target_is_named(tmp_path, answer):
    source = write_jsonl(tmp_path / "d.jsonl", [{"question": "a", "answer": "1"}, {"question": "b", "answer": answer}])
    with pytest.raises(DataError, match=r"d.jsonl line 2: no target: column 'answer' is missing or empty"):
        file_task(source)


def test_a_blank_csv_input_is_named_not_prompted_as_none(tmp_path):
    (tmp_path / "d.csv").write_text("question,answer\n2+2,4\n,6\n")
    with pytest.raises(DataError, match=r"d.csv line 3: no input: column 'question' is missing or empty"):
        file_task(str(tmp_path / "d.csv"))


def test_a_repeated_id_names_both_rows(tmp_path):
    # used to load as x, x-2, x-2: the renamed repeat collided with the third row
    source = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": "x", "question": "a", "answer": "1"},
            {"id": "x", "question": "b", "answer": "2"},
            {"id": "x-2", "question": "c", "answer": "3"},
        ],
    )
    with pytest.raises(DataError, match=r"d.jsonl line 2: duplicate id 'x', first at .*d.jsonl line 1"):
        file_task(source)


def test_identical_rows_without_ids_get_distinct_numbered_ids(tmp_path):
    same = {"question": "a", "answer": "1"}
    task = file_task(write_jsonl(tmp_path / "d.jsonl", [same, same, {"question": "b", "answer": "2"}, same]))
    ids = [it.id for it in task.items]
    assert len(set(ids)) == 4
    assert ids[1] == f"{ids[0]}-2" and ids[3] == f"{ids[0]}-3"
    assert "-" not in ids[2]


def test_float_targets_become_the_text_a_model_would_write(tmp_path):
    # pandas writes an integer column with gaps as floats: 42.0 must still match "42"
    source = write_jsonl(tmp_path / "d.jsonl", [{"question": "a", "answer": 42.0}, {"question": "b", "answer": 2.5}])
    task = file_task(source)
    assert [it.target for it in task.items] == ["42", "2.5"]
    assert get_scorer("exact")("42", task.items[0]).value == 1.0


def test_a_boolean_target_is_refused_by_line_and_column(tmp_path):
    # str(True) is "True": which words a right reply uses ("yes", "1", "true") is the data's to say.
    for answer in (True, [False]):
        source = write_jsonl(
            tmp_path / "d.jsonl", [{"question": "a", "answer": "x"}, {"question": "b", "answer": answer}]
        )
        with pytest.raises(
            DataError, match=r"d\.jsonl line 2: target in column 'answer' is the boolean (true|false); "
        ):
            file_task(source)


def test_inputs_must_be_text(tmp_path):
    cases = [
        ({"question": 5, "answer": "5"}, r"not a number \(5\); write it as text"),
        ({"question": {"a": 1}, "answer": "1"}, r"not an object \(\{'a': 1\}\); name a text column"),
        ({"question": ["x", "y"], "answer": "1"}, r"not a list \(\['x', 'y'\]\)"),
        ({"question": True, "answer": "1"}, r"not a boolean \(True\)"),
    ]
    for row, message in cases:
        source = write_jsonl(tmp_path / "d.jsonl", [{"question": "fine", "answer": "1"}, row])
        with pytest.raises(
            DataError, match=rf"d\.jsonl line 2: the input in column 'question' must be text, {message}"
        ):
            file_task(source)
    # A document too, rather than "empty document".
    source = write_jsonl(tmp_path / "d.jsonl", [{"text": "fine"}, {"text": 12.5}])
    with pytest.raises(DataError, match=r"line 2: the document in column 'text' must be text, not a number \(12\.5\)"):
        file_task(source, mode="perplexity")
    # Structured fields beside a text input still reach the template.
    source = write_jsonl(tmp_path / "d.jsonl", [{"question": "q", "meta": {"a": 1}, "answer": "1"}])
    task = file_task(source)
    task.chat_template = "{{ input }} {{ meta.a }}"
    assert task.render(task.items[0], chat=True)[0]["content"] == "q 1"


def test_a_list_target_accepts_any_of_its_answers(tmp_path):
    source = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"question": "a", "answer": ["42", "forty-two"]},
            {"question": "b", "answer": [7.0]},
            {"question": "c", "answer": "plain"},
        ],
    )
    first, second, third = file_task(source).items
    assert first.target == "42" and first.meta["targets"] == ["42", "forty-two"]
    assert second.target == "7" and second.meta["targets"] == ["7"]
    assert "targets" not in third.meta
    assert get_scorer("exact")("Forty-two", first).value == 1.0
    assert get_scorer("exact")("42", first).value == 1.0
    assert get_scorer("exact")("['42', 'forty-two']", first).value == 0.0
    assert get_scorer("contains")("I say forty-two.", first).value == 1.0
    assert get_scorer("numeric")("The answer is 42", first).value == 1.0
    assert get_scorer("f1")("forty-two", first).value == 1.0
    assert get_scorer(r"regex:is (\S+)")("it is forty-two", first).value == 1.0
    assert get_scorer("exact")("43", first).value == 0.0


@pytest.mark.parametrize(
    "answer,message",
    [
        ([], r"line 2: no target: column 'answer' is an empty list"),
        (["1", None], r"line 2: no target: column 'answer' is missing or empty"),
        ({"text": "1"}, r"line 2: target in column 'answer' must be text, a number or a list"),
    ],
)
def test_unusable_list_or_object_targets_are_named(tmp_path, answer, message):
    source = write_jsonl(tmp_path / "d.jsonl", [{"question": "a", "answer": "1"}, {"question": "b", "answer": answer}])
    with pytest.raises(DataError, match=message):
        file_task(source)


def test_code_tasks_keep_no_target(tmp_path):
    row = {"task_id": "t/0", "prompt": "def f():\n", "test": "def check(c): pass", "entry_point": "f"}
    task = file_task(write_jsonl(tmp_path / "h.jsonl", [row]))
    assert task.scorers == ["code"] and task.items[0].target is None and task.items[0].id == "t/0"


def test_a_gsm8k_answer_with_nothing_after_the_hashes_is_named(tmp_path):
    source = write_jsonl(
        tmp_path / "d.jsonl",
        [{"question": "a", "answer": "1 + 1 #### 2"}, {"question": "b", "answer": "work shown ####  "}],
    )
    with pytest.raises(DataError, match=r"d.jsonl line 2: no target: nothing after '####' in column 'answer'"):
        file_task(source)


def test_hub_without_network_is_one_line_naming_a_local_copy(tmp_path):
    from tests.test_cli import assay

    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = assay("run", "hf:gsm8k", "-m", "smollm2", "--limit", 1, env=env, check=False, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "hub is unreachable" in lines[0] and "to_json" in lines[0]
