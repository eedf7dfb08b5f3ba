import json

import pytest

from assay.errors import ConfigError, IncompleteRunError
from assay.models.base import GenParams
from assay.run.export import export_run
from assay.run.runner import check_complete, request_key, run_eval
from assay.run.store import RunStore, scores_frame
from assay.tasks.arithmetic import arithmetic_task

from .fakes import ArithmeticFake


def task(n=6):
    return arithmetic_task({"digits": "1,2", "n": str(n)})


def test_cache_key_depends_on_every_part():
    m = ArithmeticFake()
    p = GenParams(0.0, 16, 0)
    base = request_key(m, p, "prompt", 0)
    assert base == request_key(ArithmeticFake(), GenParams(0.0, 16, 0), "prompt", 0)
    assert (
        len(
            {
                base,
                request_key(m, p, "prompt", 1),
                request_key(m, p, "other", 0),
                request_key(m, GenParams(0.5, 16, 0), "prompt", 0),
                request_key(m, GenParams(0.0, 17, 0), "prompt", 0),
                request_key(ArithmeticFake(wrong_every=5), p, "prompt", 0),
            }
        )
        == 6
    )


def test_run_scores_stores_and_reruns_without_calls(tmp_path):
    t = task()
    fake = ArithmeticFake()
    result = run_eval(t, [fake], out=tmp_path / "r", progress=False)
    s = result.models["fake"]
    expected = sum(1 for it in t.items if len(it.input["input"]) % 3 != 0) / len(t.items)
    assert s.n_items == 12 and s.model_calls == 12 and s.cache_hits == 0 and s.errors == 0
    assert s.score == pytest.approx(expected)
    assert s.ci_low <= s.score <= s.ci_high and s.ci_method
    assert set(s.score_by_difficulty) == {"digits=1,ops=1", "digits=2,ops=1"}
    again = run_eval(t, [ArithmeticFake()], out=tmp_path / "r", progress=False)
    assert again.models["fake"].model_calls == 0 and again.models["fake"].cache_hits == 12
    assert again.models["fake"].score == s.score
    # the shared cache serves a new run directory too
    other = run_eval(t, [ArithmeticFake()], out=tmp_path / "r2", progress=False)
    assert other.models["fake"].model_calls == 0
    frame = scores_frame(tmp_path / "r")
    assert list(frame.columns) == ["model", "item", "sample", "score", "cluster", "answer"]
    assert len(frame) == 12


def test_samples_are_averaged_within_items(tmp_path):
    result = run_eval(task(5), [ArithmeticFake()], samples=4, temperature=0.7, out=tmp_path / "r", progress=False)
    s = result.models["fake"]
    assert s.n_items == 10 and s.n_samples == 40 and s.model_calls == 40
    frame = scores_frame(tmp_path / "r")
    assert s.score == pytest.approx(frame.groupby("item")["score"].mean().mean())


def test_errors_are_counted_not_scored_and_retried_on_rerun(tmp_path):
    t = task()
    bad = t.items[0].input["input"]
    result = run_eval(t, [ArithmeticFake(fail_items=[bad])], out=tmp_path / "r", progress=False)
    s = result.models["fake"]
    assert s.errors == 1 and s.n_items == 11
    with pytest.raises(IncompleteRunError, match="1 request"):
        check_complete(result)
    fixed = run_eval(t, [ArithmeticFake()], out=tmp_path / "r", progress=False)
    assert fixed.models["fake"].model_calls == 1 and fixed.models["fake"].errors == 0
    assert fixed.models["fake"].n_items == 12


def test_unreachable_model_keeps_work_and_names_url(tmp_path):
    t = task()
    result = run_eval(t, [ArithmeticFake(unreachable_after=5)], out=tmp_path / "r", concurrency=1, progress=False)
    s = result.models["fake"]
    assert s.n_items == 5 and s.not_run == 7
    with pytest.raises(IncompleteRunError, match=r"127\.0\.0\.1:9.*--out"):
        check_complete(result)
    resumed = run_eval(t, [ArithmeticFake()], out=tmp_path / "r", progress=False)
    assert resumed.models["fake"].model_calls == 7 and resumed.models["fake"].n_items == 12


def test_pass_until_stops_at_k_passes_or_budget(tmp_path):
    t = task(3)
    result = run_eval(
        t,
        [ArithmeticFake(wrong_every=2)],
        temperature=1.0,
        out=tmp_path / "r",
        progress=False,
        pass_until=2,
        budget=12,
        batch=3,
    )
    assert result.models["fake"].ci_method.startswith("passuntil")
    assert result.to_dict()["pass_until"]["models"]["fake"]["n_items"] == 6
    frame = scores_frame(tmp_path / "r")
    for _, group in frame.groupby("item"):
        group = group.sort_values("sample")
        assert list(group["sample"]) == list(range(len(group)))
        # stops at the first batch boundary after the 2nd pass, or at the budget
        passes = group["score"].cumsum().tolist()
        k_at = next((i for i, c in enumerate(passes) if c >= 2), None)
        expected = 12 if k_at is None else min(12, (k_at // 3 + 1) * 3)
        assert len(group) == expected


def test_export_formats(tmp_path):
    run_eval(task(2), [ArithmeticFake()], out=tmp_path / "r", progress=False)
    import pandas as pd

    for name in ("e.csv", "e.jsonl", "e.parquet"):
        res = export_run(tmp_path / "r", tmp_path / name)
        assert res.rows == 4
    frame = pd.read_parquet(tmp_path / "e.parquet")
    for column in ("model", "item", "sample", "prompt", "output", "target", "score", "latency", "tokens"):
        assert column in frame.columns
    assert json.loads(pd.read_json(tmp_path / "e.jsonl", lines=True).iloc[0]["prompt"])[0]["role"] == "user"


def test_bad_options_and_foreign_run_dir(tmp_path):
    with pytest.raises(ConfigError):
        run_eval(task(), [ArithmeticFake()], samples=0, out=tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="--budget"):
        run_eval(task(), [ArithmeticFake()], pass_until=3, out=tmp_path / "r", progress=False)
    run_eval(task(2), [ArithmeticFake()], out=tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="another task"):
        run_eval(arithmetic_task({"digits": "3", "n": "2"}), [ArithmeticFake()], out=tmp_path / "r", progress=False)


def test_store_batches_and_survives_reopen(tmp_path):
    from assay.records import Sample

    with RunStore(tmp_path / "s", batch_size=1000, flush_seconds=1e9) as store:
        for i in range(10):
            store.record(f"k{i}", "m", f"i{i}", 0, "p", {}, Sample("out"), {"exact": (1.0, None)})
        assert store.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 0  # still batched
    with RunStore(tmp_path / "s") as store:
        assert len(store.completed("m")) == 10


def test_int_and_float_settings_make_one_key():
    m = ArithmeticFake()
    assert request_key(m, GenParams(0, 16, 0), "p", 0) == request_key(m, GenParams(0.0, 16, 0), "p", 0)


def test_changed_settings_need_another_run_dir(tmp_path):
    run_eval(task(2), [ArithmeticFake()], out=tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="temperature=0.0, not 1.0"):
        run_eval(task(2), [ArithmeticFake()], temperature=1.0, samples=3, out=tmp_path / "r", progress=False)


def test_limited_rerun_counts_only_its_items(tmp_path):
    t = task(3)
    bad = t.items[-1].input["input"]
    full = run_eval(t, [ArithmeticFake(fail_items=[bad])], out=tmp_path / "r", progress=False)
    assert full.models["fake"].errors == 1
    limited = run_eval(t, [ArithmeticFake(fail_items=[bad])], limit=3, out=tmp_path / "r", progress=False)
    s = limited.models["fake"]
    assert (s.n_items, s.n_samples, s.errors, s.model_calls) == (3, 3, 0, 0)
    check_complete(limited)


def test_two_names_for_the_same_weights_keep_their_own_rows(tmp_path):
    same_weights = {"backend": "fake", "file": "model.gguf"}
    first = ArithmeticFake(name="one", identity=same_weights)
    second = ArithmeticFake(name="two", identity=same_weights)
    result = run_eval(task(2), [first, second], out=tmp_path / "r", progress=False)
    assert result.models["one"].n_items == result.models["two"].n_items == 4


def test_pass_until_with_failed_requests_is_incomplete_not_a_crash(tmp_path):
    t = task(2)
    bad = t.items[0].input["input"]
    result = run_eval(
        t,
        [ArithmeticFake(wrong_every=2, fail_items=[bad])],
        temperature=1.0,
        out=tmp_path / "r",
        progress=False,
        pass_until=2,
        budget=6,
        batch=3,
    )
    assert result.models["fake"].errors > 0 and result.pass_until is None
    with pytest.raises(IncompleteRunError):
        check_complete(result)


def test_items_named_input_get_content_ids(tmp_path):
    from assay.tasks.registry import get_task

    (tmp_path / "a.jsonl").write_text('{"input": "2+2", "target": "4"}\n{"input": "3+3", "target": "6"}\n')
    (tmp_path / "b.jsonl").write_text('{"input": "3+3", "target": "6"}\n{"input": "2+2", "target": "4"}\n')
    ids_a = {i.input["input"]: i.id for i in get_task(str(tmp_path / "a.jsonl")).items}
    ids_b = {i.input["input"]: i.id for i in get_task(str(tmp_path / "b.jsonl")).items}
    assert ids_a == ids_b and len(set(ids_a.values())) == 2


def test_corrected_targets_are_scored_afresh_from_the_cache(tmp_path):
    import dataclasses

    t = task(2)
    first = run_eval(t, [ArithmeticFake(wrong_every=10**6)], out=tmp_path / "r", progress=False)
    assert first.models["fake"].score == 1.0
    t.items = [dataclasses.replace(it, target="-1") for it in t.items]  # every gold answer changed
    again = run_eval(t, [ArithmeticFake(wrong_every=10**6)], out=tmp_path / "r", progress=False)
    assert again.models["fake"].score == 0.0 and again.models["fake"].model_calls == 0
    # the corrected rows replace the old ones: one row per model, item and sample
    frame = scores_frame(tmp_path / "r")
    assert len(frame) == 4 and (frame["score"] == 0.0).all()


def test_a_dataset_resumes_whether_named_relative_or_absolute(tmp_path, monkeypatch):
    from assay.tasks.registry import get_task

    (tmp_path / "d.jsonl").write_text('{"input": "2 + 2", "target": "4"}\n{"input": "3 + 3", "target": "6"}\n')
    monkeypatch.chdir(tmp_path)
    run_eval(get_task("d.jsonl"), [ArithmeticFake()], out=tmp_path / "r", progress=False)
    again = run_eval(get_task(str(tmp_path / "d.jsonl")), [ArithmeticFake()], out=tmp_path / "r", progress=False)
    assert again.models["fake"].model_calls == 0


def test_items_with_the_same_prompt_keep_their_own_rows(tmp_path):
    import dataclasses

    t = task(2)
    twin = dataclasses.replace(t.items[0], id="twin")  # same prompt and target, another item
    t.items = [*t.items, twin]
    result = run_eval(t, [ArithmeticFake()], out=tmp_path / "r", progress=False)
    assert result.models["fake"].n_items == 5 and result.models["fake"].n_samples == 5
    assert set(scores_frame(tmp_path / "r")["item"]) == {it.id for it in t.items}


def test_corrected_unit_tests_are_scored_afresh(tmp_path):
    from assay.records import Sample
    from assay.tasks.registry import get_task

    class Coder(ArithmeticFake):
        async def generate(self, prompt, params, sample_index):
            self.calls += 1
            return Sample(text="    return 42\n", tokens_in=1, tokens_out=1, latency=0.0, finish_reason="stop")

    def write(expected):
        row = {
            "task_id": "t/0",
            "prompt": "def answer():\n",
            "entry_point": "answer",
            "test": f"def check(candidate):\n    assert candidate() == {expected}\n",
        }
        (tmp_path / "code.jsonl").write_text(json.dumps(row) + "\n")
        return get_task(str(tmp_path / "code.jsonl"))

    first = run_eval(write(41), [Coder(chat=False)], out=tmp_path / "r", progress=False)
    again = run_eval(write(42), [Coder(chat=False)], out=tmp_path / "r", progress=False)
    assert first.models["fake"].score == 0.0
    assert again.models["fake"].score == 1.0 and again.models["fake"].model_calls == 0


def test_unreachable_on_resume_counts_a_failed_item_once(tmp_path):
    t = task(2)
    bad = t.items[0].input["input"]
    run_eval(t, [ArithmeticFake(fail_items=[bad])], out=tmp_path / "r", progress=False)
    down = run_eval(t, [ArithmeticFake(unreachable_after=0)], out=tmp_path / "r", progress=False)
    s = down.models["fake"]
    assert (s.errors, s.not_run, down.failed) == (0, 1, 1) and s.seconds >= 0


def test_pass_until_summary_covers_this_calls_items(tmp_path):
    t = task(5)
    kwargs = dict(temperature=0.7, progress=False, pass_until=2, budget=8, batch=4)
    run_eval(t, [ArithmeticFake()], out=tmp_path / "r", **kwargs)
    limited = run_eval(t, [ArithmeticFake()], out=tmp_path / "r", limit=3, **kwargs)
    fresh = run_eval(t, [ArithmeticFake()], out=tmp_path / "fresh", limit=3, **kwargs)
    assert limited.to_dict()["pass_until"]["models"]["fake"]["n_items"] == 3
    assert limited.models["fake"].score == fresh.models["fake"].score


def test_limit_below_one_and_default_run_dirs(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="--limit 0"):
        run_eval(task(2), [ArithmeticFake()], limit=0, progress=False, out=tmp_path / "r")
    with pytest.raises(ConfigError, match="--budget 8 applies with --pass-until K only"):
        run_eval(task(2), [ArithmeticFake()], budget=8, progress=False, out=tmp_path / "r")
    monkeypatch.chdir(tmp_path)
    first = run_eval(task(1), [ArithmeticFake()], progress=False)
    second = run_eval(task(1), [ArithmeticFake()], temperature=0.5, progress=False)
    assert first.run_dir != second.run_dir  # started within the same second, or not


def test_a_finished_response_is_stored_while_others_are_slow(tmp_path):
    import asyncio
    import sqlite3
    import threading

    from assay.records import Sample

    class SlowForOne(ArithmeticFake):
        async def generate(self, prompt, params, sample_index):
            text = prompt if isinstance(prompt, str) else prompt[0]["content"]
            if slow_prompt in text:
                await asyncio.sleep(3.0)
            return Sample(text="0", tokens_in=1, tokens_out=1, latency=0.0, finish_reason="stop")

    t = task(1)
    slow_prompt = t.items[0].input["input"]
    seen: list[int] = []

    def watch():
        import time

        time.sleep(1.5)
        with sqlite3.connect(tmp_path / "r" / "assay.db") as conn:
            seen.append(conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    watcher = threading.Thread(target=watch)
    watcher.start()
    run_eval(t, [SlowForOne()], out=tmp_path / "r", concurrency=4, progress=False)
    watcher.join()
    assert seen == [len(t.items) - 1]  # all but the slow one, long before it answers


def test_prompts_without_answers_are_stored_for_judging_not_scored(tmp_path):
    from assay.tasks.registry import get_task

    (tmp_path / "open.jsonl").write_text('{"question": "2 + 2"}\n{"question": "3 + 3"}\n')
    t = get_task(str(tmp_path / "open.jsonl"))
    result = run_eval(t, [ArithmeticFake()], out=tmp_path / "r", progress=False)
    s = result.models["fake"]
    assert result.metric is None and s.score is None and s.ci_low is None
    assert (s.n_items, s.n_samples, s.model_calls) == (2, 2, 2)
    from assay.errors import DataError

    with pytest.raises(DataError, match="no scores in this run"):
        scores_frame(tmp_path / "r")
    with pytest.raises(ConfigError, match="no item has a target, so the exact scorer"):
        run_eval(
            get_task(str(tmp_path / "open.jsonl"), scorers=["exact"]),
            [ArithmeticFake()],
            out=tmp_path / "r2",
            progress=False,
        )
    with pytest.raises(ConfigError, match="--pass-until needs a scorer"):
        run_eval(t, [ArithmeticFake()], out=tmp_path / "r3", progress=False, pass_until=1, budget=2, temperature=1.0)


def test_a_response_is_stored_before_its_slow_code_scoring_ends(tmp_path):
    import sqlite3
    import threading
    import time

    from assay.records import Sample
    from assay.tasks.registry import get_task

    class Coder(ArithmeticFake):
        async def generate(self, prompt, params, sample_index):
            return Sample(text="    return 42\n", tokens_in=1, tokens_out=1, latency=0.0, finish_reason="stop")

    row = {
        "task_id": "t/0",
        "prompt": "def answer():\n",
        "entry_point": "answer",
        "test": "import time\ndef check(candidate):\n    time.sleep(3)\n    assert candidate() == 42\n",
    }
    (tmp_path / "code.jsonl").write_text(json.dumps(row) + "\n")
    seen: list[tuple] = []

    def watch():
        time.sleep(1.5)
        with sqlite3.connect(tmp_path / "r" / "assay.db") as conn:
            seen.append(
                conn.execute("SELECT COUNT(*) FROM samples").fetchone()
                + conn.execute("SELECT COUNT(*) FROM scores").fetchone()
            )

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = run_eval(get_task(str(tmp_path / "code.jsonl")), [Coder(chat=False)], out=tmp_path / "r", progress=False)
    watcher.join()
    assert seen == [(1, 0)]  # the response is kept while its tests still run
    assert result.models["fake"].score == 1.0
    assert len(scores_frame(tmp_path / "r")) == 1


def test_config_records_each_models_prompt_and_template_reaches_base_models(tmp_path):
    # One --template for a chat and a base model: both see the question in the same words, and the
    # run's config says what each was given.
    import json as _json

    from assay.tasks.registry import get_task

    task = get_task("arithmetic", params={"digits": "1", "n": "3"}, template="Compute {{ input }} =", fewshot=1)
    models = [ArithmeticFake("chatty", chat=True), ArithmeticFake("base", chat=False)]
    run_eval(task, models, out=tmp_path / "r", progress=False, max_tokens=4)
    prompts = _json.loads((tmp_path / "r" / "config.json").read_text())["prompts"]
    first = task.items[0].input["input"]
    assert (
        prompts["chatty"]["kind"] == "chat" and prompts["chatty"]["first_prompt"][0]["content"] == f"Compute {first} ="
    )
    assert prompts["base"]["kind"] == "completion" and prompts["base"]["template"] == "Compute {{ input }} ="
    examples = {f"Compute {it.input['input']} = {it.target}" for it in task.fewshot_items}
    shown, asked = prompts["base"]["first_prompt"].split("\n\n")
    assert shown in examples and asked == f"Compute {first} ="
