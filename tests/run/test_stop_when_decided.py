"""assay run --stop-when-decided and --items-from, on fake models whose accuracy is known."""

import json
import re
import zlib

import numpy as np
import pytest
from scipy import stats

from assay.api import compare
from assay.errors import ConfigError, DataError
from assay.records import Sample
from assay.run.runner import run_eval
from assay.run.stopping import SEQUENTIAL_FILE, StopRule, run_order
from assay.run.store import RunStore, scores_frame
from assay.tasks.arithmetic import arithmetic_task

from .fakes import ArithmeticFake


class RateFake:
    """Right on a fixed share of arithmetic items: those whose hash (salted by ``salt``) falls below ``accuracy``.

    The same salt makes the same items wrong, so two models with one salt and one
    accuracy give identical scores; different salts make their errors independent.
    """

    def __init__(self, name, accuracy, salt=None):
        self.name, self.chat, self.family = name, True, "fake"
        self.accuracy, self.salt = accuracy, name if salt is None else salt
        self.calls = 0
        self.asked = []  # the expressions it was called for

    @property
    def identity(self):
        return {"backend": "ratefake", "name": self.name, "accuracy": self.accuracy, "salt": self.salt}

    async def generate(self, prompt, params, sample_index):
        text = prompt if isinstance(prompt, str) else prompt[0]["content"]
        expression = re.findall(r"(-?\d+(?: [-+*] \d+)+)", text)[-1]
        self.calls += 1
        self.asked.append(expression)
        answer = eval(expression)
        if zlib.crc32(f"{self.salt}|{expression}".encode()) % 1000 >= self.accuracy * 1000:
            answer += 1
        return Sample(text=f"{answer}", tokens_in=10, tokens_out=2, latency=0.0, finish_reason="stop")

    def close(self):
        pass


def big_task():
    return arithmetic_task({"digits": "1,2,3", "n": "120"})  # 360 items


def test_a_clear_difference_stops_early_for_the_better_model_and_resumes_to_the_full_set(tmp_path):
    task = big_task()
    n_items = len(task.items)
    good, bad = RateFake("good", 0.9), RateFake("bad", 0.35)
    result = run_eval(
        task, [good, bad], out=tmp_path / "r", progress=False, seed=3, stop_when_decided=StopRule(batch=10)
    )
    seq = result.sequential
    assert seq.all_decided and seq.stopped_early
    assert seq.n_run < n_items / 3 and seq.n_run % 10 == 0
    (pair,) = seq.pairs.pairs.items()
    (a, b), test = pair
    assert (a, b) == ("good", "bad") and test.decision == "a" and test.low_at_stop > 0
    assert test.n_used == seq.n_run  # one pair: the run stops where it is decided
    # exactly the first n_run items of the seeded order were run, each once per model
    assert good.calls == bad.calls == seq.n_run
    assert result.models["good"].n_items == seq.n_run and result.models["good"].model_calls == seq.n_run
    frame = scores_frame(tmp_path / "r")
    order = [it.id for it in run_order(task.items, 3)]
    assert set(frame["item"]) == set(order[: seq.n_run])
    # stored beside the run, and the same object in --json
    stored = json.loads((tmp_path / "r" / SEQUENTIAL_FILE).read_text())
    assert stored == json.loads(json.dumps(result.to_dict()["sequential"]))
    assert stored["n_run"] == seq.n_run and stored["n_items"] == n_items and stored["pairs"][0]["decision"] == "a"
    assert stored["pairs"][0]["sequence"]["n"][-1] == seq.n_run
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["stop_when_decided"] == {"alpha": 0.05, "margin": None, "against": None, "batch": 10}

    # the same command without the flag completes the set: only the rest is called
    good2, bad2 = RateFake("good", 0.9), RateFake("bad", 0.35)
    full = run_eval(task, [good2, bad2], out=tmp_path / "r", progress=False, seed=3)
    assert full.sequential is None and "sequential" not in full.to_dict()
    # (the generated task repeats some expressions: a repeat is served by the shared cache, not called)
    done_first = {it.input["input"] for it in task.items if it.id in set(order[: seq.n_run])}
    for fake in (good2, bad2):
        assert not done_first & set(fake.asked) and fake.calls <= n_items - seq.n_run
    for name in ("good", "bad"):
        summary = full.models[name]
        assert summary.n_items == n_items and summary.model_calls + summary.cache_hits == n_items
    # the full paired test agrees with the early decision
    frame = scores_frame(tmp_path / "r").pivot(index="item", columns="model", values="score")
    assert stats.ttest_rel(frame["good"], frame["bad"]).pvalue < 1e-6
    assert (frame["good"] - frame["bad"]).mean() > 0.3
    # and compare --sequential with the same seed and batch replays the same order and stops at the same item
    replay = compare([str(tmp_path / "r")], sequential=True, seed=3, batch=10).pairs[0]
    assert replay.sequential.n_used == seq.n_run
    if (replay.a, replay.b) == ("good", "bad"):
        assert replay.sequential.decision == "a" and replay.sequential.low_at_stop == pytest.approx(test.low_at_stop)
    else:
        assert replay.sequential.decision == "b" and -replay.sequential.high_at_stop == pytest.approx(test.low_at_stop)


def test_equal_models_stop_as_equivalent_within_the_margin_and_never_pick_one(tmp_path):
    task = big_task()
    # identical answers: every paired difference is 0
    same = run_eval(
        task,
        [RateFake("x", 0.7, salt="s"), RateFake("y", 0.7, salt="s")],
        out=tmp_path / "same",
        progress=False,
        stop_when_decided=StopRule(batch=10, margin=0.1),
    )
    (test,) = same.sequential.pairs.pairs.values()
    assert test.decision == "equivalent" and same.sequential.stopped_early
    assert -0.1 < test.low_at_stop <= 0 <= test.high_at_stop < 0.1
    # same accuracy, independent errors: equivalent at a wide margin or undecided to the end, never "a" or "b"
    for margin, out in ((0.25, "wide"), (0.02, "narrow")):
        result = run_eval(
            task,
            [RateFake("p", 0.7), RateFake("q", 0.7)],
            out=tmp_path / out,
            progress=False,
            stop_when_decided=StopRule(batch=10, margin=margin),
        )
        (test,) = result.sequential.pairs.pairs.values()
        assert test.decision in ("equivalent", "none")
        if test.decision == "none":
            assert result.sequential.n_run == len(task.items) and not result.sequential.all_decided
        else:
            assert -margin < test.low_at_stop and test.high_at_stop < margin
    wide = json.loads((tmp_path / "wide" / SEQUENTIAL_FILE).read_text())
    narrow = json.loads((tmp_path / "narrow" / SEQUENTIAL_FILE).read_text())
    assert wide["pairs"][0]["decision"] == "equivalent" and wide["stopped_early"]
    assert narrow["pairs"][0]["decision"] == "none" and narrow["n_run"] == len(task.items)


def test_the_seeded_order_is_reproducible_and_the_seed_changes_it(tmp_path):
    task = big_task()
    ids = [it.id for it in task.items]
    first = [it.id for it in run_order(task.items, 7)]
    assert first == [it.id for it in run_order(list(reversed(task.items)), 7)]  # not the task's order
    assert sorted(first) == sorted(ids) and first != ids
    assert first != [it.id for it in run_order(task.items, 8)]
    assert first == list(np.random.default_rng(7).permutation(np.array(sorted(ids), dtype=object)))
    runs = [
        run_eval(
            task,
            [RateFake("a", 0.8), RateFake("b", 0.5)],
            out=tmp_path / f"r{i}",
            seed=7,
            progress=False,
            use_cache=False,
            stop_when_decided=StopRule(batch=5),
        )
        for i in range(2)
    ]
    one, two = (json.loads((tmp_path / f"r{i}" / SEQUENTIAL_FILE).read_text()) for i in range(2))
    assert one == two and one["seed"] == 7 and one["stopped_early"]
    other = run_eval(
        task,
        [RateFake("a", 0.8), RateFake("b", 0.5)],
        out=tmp_path / "r8",
        seed=8,
        progress=False,
        use_cache=False,
        stop_when_decided=StopRule(batch=5),
    )
    ran = {i: set(scores_frame(tmp_path / d)["item"]) for i, d in ((7, "r0"), (8, "r8"))}
    assert ran[7] == set(first[: runs[0].sequential.n_run])
    assert ran[8] == {it.id for it in run_order(task.items, 8)[: other.sequential.n_run]}


def test_against_one_model_tests_only_its_pairs_and_splits_alpha(tmp_path):
    task = big_task()
    models = [RateFake("base", 0.5), RateFake("better", 0.95), RateFake("worse", 0.05)]
    result = run_eval(
        task,
        models,
        out=tmp_path / "r",
        progress=False,
        stop_when_decided=StopRule(batch=10, against="base", alpha=0.1),
    )
    seq = result.sequential
    assert list(seq.pairs.pairs) == [("base", "better"), ("base", "worse")]
    assert seq.pairs.alpha_per_pair == pytest.approx(0.05)
    decisions = {pair: t.decision for pair, t in seq.pairs.pairs.items()}
    assert decisions == {("base", "better"): "b", ("base", "worse"): "a"}
    assert seq.stopped_early and seq.n_run == max(t.n_used for t in seq.pairs.pairs.values())
    assert all(m.calls == seq.n_run for m in models)


def test_failed_items_are_left_out_of_the_comparison_and_said(tmp_path):
    task = arithmetic_task({"digits": "2", "n": "40"})
    first = run_order(task.items, 0)[0]
    result = run_eval(
        task,
        [ArithmeticFake("a", wrong_every=1000, fail_items=[first.input["input"]]), ArithmeticFake("b", wrong_every=1)],
        out=tmp_path / "r",
        progress=False,
        stop_when_decided=StopRule(batch=4),
    )
    seq = result.sequential
    (test,) = seq.pairs.pairs.values()
    assert test.decision == "a" and seq.stopped_early
    assert result.models["a"].errors == 1 and seq.n_paired == seq.n_run - 1 == test.n_used
    assert seq.notes == [
        f"1 of the {seq.n_run} items run lack a score of some model (failed or not run) and are "
        "left out of the comparison"
    ]


def test_stop_rule_settings_are_checked(tmp_path):
    task = big_task()
    two = lambda: [RateFake("a", 0.5), RateFake("b", 0.5)]  # noqa: E731
    cases = [
        (dict(models=[RateFake("a", 0.5)], rule=StopRule()), "at least two"),
        (dict(rule=StopRule(against="c")), "--against 'c'"),
        (dict(rule=StopRule(margin=1.5)), "--margin 1.5"),
        (dict(rule=StopRule(alpha=0)), "alpha=0"),
        (dict(rule=StopRule(batch=0)), "--batch 0"),
        (dict(rule=StopRule(), pass_until=2, budget=4, temperature=0.5), "--pass-until"),
    ]
    for kwargs, message in cases:
        models = kwargs.pop("models", None) or two()
        rule = kwargs.pop("rule")
        with pytest.raises(ConfigError, match=re.escape(message)):
            run_eval(task, models, out=tmp_path / "r", progress=False, stop_when_decided=rule, **kwargs)
        assert not (tmp_path / "r").exists()


def test_items_from_runs_only_the_listed_items(tmp_path):
    task = big_task()
    chosen = [task.items[i].id for i in (5, 17, 200, 301)]
    files = {
        "select.json": json.dumps({"items": chosen, "method": "cluster", "seed": 0, "n_available": 360}),
        "list.json": json.dumps(chosen),
        "ids.txt": "# chosen items\n" + "\n".join(chosen) + "\n\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        fake = RateFake("a", 0.8)
        result = run_eval(
            task,
            [fake],
            out=tmp_path / name.replace(".", "_"),
            progress=False,
            use_cache=False,
            items_from=tmp_path / name,
        )
        assert fake.calls == 4 and result.models["a"].n_items == 4
        assert set(scores_frame(tmp_path / name.replace(".", "_"))["item"]) == set(chosen)
        with RunStore(tmp_path / name.replace(".", "_")) as store:
            assert set(store.items()) == set(chosen)
        config = json.loads((tmp_path / name.replace(".", "_") / "config.json").read_text())
        assert config["items_from"] == {"file": str(tmp_path / name), "n_items": 4}


def test_items_from_names_an_unknown_id_and_bad_files(tmp_path):
    task = big_task()
    (tmp_path / "ids.txt").write_text(f"{task.items[0].id}\nno-such-item\n")
    with pytest.raises(DataError, match=r"ids\.txt: item id 'no-such-item' is not in arithmetic \(1 of 2 unknown"):
        run_eval(task, [RateFake("a", 0.8)], out=tmp_path / "r", progress=False, items_from=tmp_path / "ids.txt")
    assert not (tmp_path / "r").exists()
    for text, message in (
        ('{"ids": [1]}', 'needs an "items" list'),
        ("", "lists no item ids"),
        ('[{"id": 1}]', "is not an item id"),
        ('{"items": [', "not valid JSON"),
    ):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(DataError, match=re.escape(message)):
            run_eval(task, [RateFake("a", 0.8)], out=tmp_path / "r", progress=False, items_from=tmp_path / "bad.json")
    with pytest.raises(DataError, match="no such file"):
        run_eval(task, [RateFake("a", 0.8)], out=tmp_path / "r", progress=False, items_from=tmp_path / "none.json")


def test_an_unreachable_model_stops_the_rounds_and_keeps_what_was_done(tmp_path):
    task = big_task()
    result = run_eval(
        task,
        [ArithmeticFake("a", wrong_every=1000, unreachable_after=12), ArithmeticFake("b", wrong_every=1000)],
        out=tmp_path / "r",
        progress=False,
        concurrency=1,
        stop_when_decided=StopRule(batch=10),
    )
    seq = result.sequential
    # identical answers never decide without a margin; the rule stops at the batch where "a" became unreachable
    assert seq.n_run == 20 and not seq.all_decided and result.fatal
    assert seq.n_paired == 12 and "a model could not be reached" in str(seq.render().title)
