import gzip
import json

import pytest

from assay.errors import ConfigError, DataError
from assay.tasks.arithmetic import arithmetic_task
from assay.tasks.registry import get_task


def test_arithmetic_is_deterministic_per_seed_and_correct():
    a = arithmetic_task({"digits": "1,3", "ops": "2", "n": "5"}, seed=7)
    b = arithmetic_task({"digits": "1,3", "ops": "2", "n": "5"}, seed=7)
    c = arithmetic_task({"digits": "1,3", "ops": "2", "n": "5"}, seed=8)
    assert [i.id for i in a.items] == [i.id for i in b.items]
    assert [i.id for i in a.items] != [i.id for i in c.items]
    assert len(a.items) == 10 and len({i.id for i in a.items}) == 10
    for it in a.items:
        expression = it.input["input"]
        assert expression.count(" ") == 4  # two operators
        left = int(expression.split()[0])
        assert (left < 10) if it.meta["digits"] == 1 else (100 <= left < 1000)
        # independent evaluation with precedence, not the generator's own eval
        tokens = expression.split()
        values, ops = [int(tokens[0])], []
        for op, num in zip(tokens[1::2], tokens[2::2]):
            if op == "*":
                values[-1] *= int(num)
            else:
                ops.append(op)
                values.append(int(num))
        total = values[0]
        for op, v in zip(ops, values[1:]):
            total = total + v if op == "+" else total - v
        assert it.target == str(total)


def test_arithmetic_rejects_bad_params():
    with pytest.raises(ConfigError, match="digits=x"):
        arithmetic_task({"digits": "x"})
    with pytest.raises(ConfigError, match="unknown --param.*colour"):
        arithmetic_task({"colour": "red"})


def test_chat_and_base_prompts():
    task = arithmetic_task({"digits": "2", "n": "4"})
    it = task.items[0]
    chat = task.render(it, chat=True)
    assert chat == [{"role": "user", "content": f"What is {it.input['input']}? Reply with only the number."}]
    base = task.render(it, chat=False)
    assert base.count("Question:") == 4 and base.endswith(f"Question: {it.input['input']}\nAnswer:")
    assert it.input["input"] not in base.split("Question:")[1]  # examples differ from the item
    assert task.stop_for(False) == ("\n",) and task.stop_for(True) == ()


def test_jsonl_with_fields_template_and_fewshot(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [{"q": f"question {i}", "a": str(i), "cluster": i // 2} for i in range(5)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    task = get_task(str(path), input_field="q", target_field="a", template="Q: {{ q }}")
    assert [i.target for i in task.items] == ["0", "1", "2", "3", "4"]
    assert task.items[3].cluster == "1"
    assert task.render(task.items[0], chat=True)[0]["content"] == "Q: question 0"
    # --template is every model's prompt: a base model's examples are rendered with it, then the item.
    base = task.render(task.items[4], chat=False)
    assert base == "Q: question 0 0\n\nQ: question 1 1\n\nQ: question 2 2\n\nQ: question 4"


def test_chat_and_completion_templates_system_and_stop(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps({"q": f"question {i}", "a": str(i)}) for i in range(4)) + "\n")
    task = get_task(
        str(path),
        input_field="q",
        target_field="a",
        template="Q: {{ q }}\nA:",
        chat_template="Answer briefly. {{ q }}",
        system="You are terse.",
        stop=["\\n\\n", "Q:"],
        fewshot=1,
    )
    chat = task.render(task.items[0], chat=True)
    assert chat == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Answer briefly. question 0"},
    ]
    assert task.render(task.items[0], chat=False) == "You are terse.\n\nQ: question 1\nA: 1\n\nQ: question 0\nA:"
    assert task.stop_for(True) == task.stop_for(False) == ("\n\n", "Q:")
    own = get_task(
        str(path),
        input_field="q",
        target_field="a",
        template="Q: {{ q }}",
        completion_template="{% for ex in fewshot %}{{ ex.q }}={{ ex.target }};{% endfor %}{{ q }}=",
        fewshot=2,
    )
    assert own.render(own.items[3], chat=False) == "question 0=0;question 1=1;question 3="
    assert own.render(own.items[3], chat=True)[0]["content"] == "Q: question 3"
    with pytest.raises(ConfigError, match="--system applies to generation"):
        get_task(str(path), input_field="q", target_field="a", mode="perplexity", system="x")


def test_fewshot_examples_from_another_file(tmp_path):
    (tmp_path / "test.jsonl").write_text("\n".join(json.dumps({"q": f"test {i}", "a": str(i)}) for i in range(3)))
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps({"q": f"train {i}", "a": f"t{i}"}) for i in range(5)))
    task = get_task(
        str(tmp_path / "test.jsonl"),
        input_field="q",
        target_field="a",
        fewshot=2,
        fewshot_from=str(tmp_path / "train.jsonl"),
    )
    base = task.render(task.items[0], chat=False)
    assert "train 0\nAnswer: t0" in base and "train 1\nAnswer: t1" in base and "test 1" not in base
    with pytest.raises(DataError, match="shares items with the task"):
        get_task(
            str(tmp_path / "test.jsonl"), input_field="q", target_field="a", fewshot_from=str(tmp_path / "test.jsonl")
        )
    with pytest.raises(DataError, match="--fewshot-from .*no such file"):
        get_task(
            str(tmp_path / "test.jsonl"),
            input_field="q",
            target_field="a",
            fewshot_from=str(tmp_path / "missing.jsonl"),
        )


def test_gsm8k_format_end_to_end_loading(shared_data):
    task = get_task(str(shared_data / "gsm8k" / "test.jsonl"))
    first = task.items[0]
    assert task.scorers == ["numeric"]
    assert first.target == "18"  # Janet's ducks
    assert "####" in first.meta["solution"]


def test_csv_parquet_and_gz(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"question": ["2+2", "3+3"], "answer": ["4", "6"]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    with gzip.open(tmp_path / "d.jsonl.gz", "wt") as handle:
        handle.write(frame.to_json(orient="records", lines=True))
    ids = {tuple(i.id for i in get_task(str(tmp_path / n)).items) for n in ("d.csv", "d.parquet", "d.jsonl.gz")}
    assert len(ids) == 1  # the same content gives the same stable ids


def test_malformed_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "a", "answer": "1"}\n{"question": "b", "answer": \n')
    with pytest.raises(DataError, match=r"bad.jsonl line 2: invalid JSON at column"):
        get_task(str(path))


def test_missing_column_is_named_with_columns_found(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"question": "a", "answer": "1"}\n')
    with pytest.raises(DataError, match="no column 'prompt_text'.*columns found: question, answer"):
        get_task(str(path), input_field="prompt_text")
    path.write_text('{"question": "a", "answer": "1"}\n{"answer": "2"}\n')
    with pytest.raises(DataError, match=r"d.jsonl line 2: no input: column 'question' is missing or empty"):
        get_task(str(path))


def test_unknown_task_lists_builtins():
    with pytest.raises(DataError, match="unknown task 'nope'.*arithmetic"):
        get_task("nope")


def test_saved_hugging_face_dataset_directory(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = {"question": ["1 + 1", "2 + 2", "3 + 3"], "answer": ["2", "4", "6"]}
    datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows)}).save_to_disk(str(tmp_path / "hf"))
    task = get_task(str(tmp_path / "hf"))
    assert [i.target for i in task.items] == ["2", "4", "6"]
    assert task.items[0].input["input"] == "1 + 1"
    with pytest.raises(DataError, match="no split 'train'; splits: test"):
        get_task(str(tmp_path / "hf"), params={"split": "train"})


def test_a_template_file_that_is_not_text_is_named(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"input": "2+2", "target": "4"}\n')
    (tmp_path / "t.j2").write_bytes(b"\xff\xfe{{ input }}\x80")
    with pytest.raises(ConfigError, match=r"template file .*t\.j2: cannot be read as UTF-8"):
        get_task(str(tmp_path / "d.jsonl"), template=str(tmp_path / "t.j2"))


def test_fewshot_examples_from_another_split(tmp_path):
    datasets = pytest.importorskip("datasets")
    splits = {
        split: datasets.Dataset.from_list([{"question": f"{split} {i}", "answer": f"{split[0]}{i}"} for i in range(3)])
        for split in ("train", "test")
    }
    datasets.DatasetDict(splits).save_to_disk(str(tmp_path / "saved"))
    task = get_task(str(tmp_path / "saved"), fewshot=2, fewshot_from="split:train")
    base = task.render(task.items[0], chat=False)
    assert "train 0\nAnswer: t0" in base and "test 1" not in base and base.endswith("test 0\nAnswer:")
    (tmp_path / "one.jsonl").write_text(json.dumps({"question": "q", "answer": "a"}) + "\n")
    with pytest.raises(ConfigError, match="single file without splits"):
        get_task(str(tmp_path / "one.jsonl"), fewshot_from="split:train")


def test_an_unknown_param_on_a_file_or_standard_task_is_refused(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"input": "2+2", "target": "4"}\n')
    with pytest.raises(
        ConfigError, match=r"unknown --param digits for .*d\.jsonl: a dataset file; it takes no --param"
    ):
        get_task(str(tmp_path / "d.jsonl"), params={"digits": "3"})
    with pytest.raises(ConfigError, match=r"unknown --param revision, spilt for hf:x/y: a hub dataset; it takes "):
        get_task("hf:x/y", params={"spilt": "test", "revision": "main"})
    with pytest.raises(ConfigError, match=r"unknown --param shots for arc_easy: a standard task takes --param split"):
        get_task("arc_easy", params={"shots": "5"}, data="sample")
    (tmp_path / "saved").mkdir()
    with pytest.raises(ConfigError, match=r"saved dataset directory; it takes --param split=\.\.\.\."):
        get_task(str(tmp_path / "saved"), params={"config": "x"})


def test_a_template_that_fails_on_an_item_names_it(tmp_path):
    rows = [{"input": "2+2", "target": "4", "n": 2}, {"input": "3+3", "target": "6", "n": 0}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cases = {
        "{{ input + 1 }}": r"d\.jsonl line \d: TypeError: can only concatenate str",
        "{{ 10 / n }}": r"d\.jsonl line 2: ZeroDivisionError: division by zero",
        "{{ input.nope() }}": r"needs a field the data lacks \(.*d\.jsonl line \d\)",
        '{{ "%d" | format(input) }}': r"d\.jsonl line \d: TypeError: %d format",
    }
    for template, message in cases.items():
        for chat in (True, False):
            task = get_task(str(tmp_path / "d.jsonl"), template=template)
            with pytest.raises(DataError, match=message):
                for item in task.items:
                    task.render(item, chat=chat)
    # The completion template with its few-shot list, and a likelihood context, name the item too.
    task = get_task(str(tmp_path / "d.jsonl"), completion_template="{{ input | int }}{{ 1 // n }}")
    with pytest.raises(DataError, match=r"the completion template fails on .*d\.jsonl line 2: ZeroDivisionError"):
        [task.render(item, chat=False) for item in task.items]
