"""The multiverse of analysis choices: which dimensions apply, the product of specifications, shares that a
brute-force loop over paired_diff reproduces, failures counted as wrong, and pre-registered specifications."""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from assay.api import multiverse
from assay.errors import ConfigError, DataError
from assay.run.runner import run_eval
from assay.run.store import failed_samples_frame, scores_frame
from assay.stats.multiplicity import adjust_pvalues
from assay.stats.paired import paired_diff
from assay.tasks.registry import get_task
from tests.run.fakes import ArithmeticFake
from tests.run.test_likelihood_runner import LengthScorer

QA = "Question: {{ input }}\nAnswer:"
INTERVALS = ["auto", "paired-t", "bootstrap"]


def _arithmetic_run(out, *, n=12, fewshot=None, variants=None, fail_first=False, scorers=("numeric", "exact")):
    task = get_task(
        "arithmetic",
        params={"n": str(n)},
        template=QA,
        scorers=list(scorers),
        fewshot=fewshot,
        prompt_variants=variants,
    )
    failing = [task.items[0].input["input"]] if fail_first else []
    models = [
        ArithmeticFake("a", chat=False, wrong_every=7, fail_items=failing),
        ArithmeticFake("b", chat=False, wrong_every=2),
    ]
    # temperature > 0: the fakes are wrong on a seeded share of the items, different for each.
    run_eval(task, models, temperature=0.8, out=out, progress=False, use_cache=False)
    return out, task


@pytest.fixture(scope="module")
def variant_run(tmp_path_factory):
    """Two scorers, two prompt variants, and model a's requests for one item failing under each variant."""
    return _arithmetic_run(tmp_path_factory.mktemp("mv") / "run", variants=2, fail_first=True)


def _frame(models=(("a", 0.65), ("b", 0.5), ("c", 0.4)), n=40, variants=("v0", "v1"), metrics=("acc", "acc_norm")):
    rng = np.random.default_rng(7)
    rows = []
    for model, p in models:
        for i in range(n):
            for v in variants:
                for m in metrics:
                    error = model == "b" and i % 8 == 0 and v == "v1"
                    rows.append(
                        {"model": model, "item": f"q{i}", "variant": v, "metric": m, "error": error}
                        | {"score": float(rng.random() < p + (0.1 if m == "acc_norm" else 0))}
                    )
    return pd.DataFrame(rows)


def _specs(result):
    return [dict(zip(result.dimensions, values)) for values in itertools.product(*result.dimensions.values())]


# ---- dimensions --------------------------------------------------------------------------------------


def test_a_run_has_exactly_the_dimensions_that_apply_and_their_product(variant_run):
    run, task = variant_run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = multiverse(run)
    assert result.dimensions == {
        "metric": ["numeric", "exact"],  # the run's default scorer first
        "variant": ["pooled", "v0", "v1"],
        "errors": ["excluded", "wrong"],
        "interval": INTERVALS,
    }
    assert result.fixed == {"fewshot": 3}  # arithmetic's default few-shot count, from config.json
    assert result.n_specifications == 2 * 3 * 2 * 3 == 36
    (pair,) = result.pairs
    assert len(pair.curve) == 36 and all(e.diff is not None for e in pair.curve)
    # every specification of the product once
    assert sorted(json.dumps(e.spec) for e in pair.curve) == sorted(json.dumps(s) for s in _specs(result))
    assert [e.diff for e in pair.curve] == sorted(e.diff for e in pair.curve)
    # a single variant compares its 12 items (11 when a's failures are left out); pooled, 24 in 12 clusters
    by_spec = {json.dumps(e.spec): e for e in pair.curve}

    def entry(**spec):
        return by_spec[
            json.dumps({"metric": "numeric", "variant": "v0", "errors": "excluded", "interval": "auto"} | spec)
        ]

    assert entry().n == len(task.items) - 1 and entry(errors="wrong").n == len(task.items)
    assert entry().test == "mcnemar-exact" and entry(interval="paired-t").test == "paired-t"
    pooled = entry(variant="pooled", errors="wrong")
    assert pooled.n == 2 * len(task.items) and pooled.n_clusters == len(task.items) and pooled.test == "clustered-t"
    d = result.to_dict()
    assert d["specifications"] == 36 and d["dimensions"]["variant"] == ["pooled", "v0", "v1"]
    assert list(d["pairs"][0]) == [
        "a",
        "b",
        "preregistered",
        "support",
        "n_specifications",
        "median_diff",
        "min_diff",
        "max_diff",
        "curve",
    ]
    assert set(d["pairs"][0]["curve"][0]) >= {"spec", "diff", "ci_low", "ci_high", "p_adjusted", "conclusion"}


def test_a_plain_run_varies_only_the_interval(tmp_path):
    run, _ = _arithmetic_run(tmp_path / "run", scorers=("numeric",))
    result = multiverse(run)
    assert result.dimensions == {"interval": INTERVALS}
    assert result.fixed == {"metric": "numeric", "fewshot": 3, "errors": "excluded"}
    assert result.n_specifications == 3 and result.data_dimensions == []
    assert {e.test for e in result.pairs[0].curve} == {"mcnemar-exact", "paired-t", "bootstrap"}


def test_a_choices_run_varies_the_length_normalisation_of_its_scorer(tmp_path):
    task = get_task("arc_easy", data="sample")
    run_eval(task, [LengthScorer("short"), LengthScorer("long", rate=-1.0)], out=tmp_path / "r", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = multiverse(tmp_path / "r")
    # acc and its normalisations; not p_correct, brier or logprob_correct, which measure something else
    assert result.dimensions["metric"] == ["acc", "acc_norm", "acc_bytes"]
    assert set(result.dimensions) == {"metric", "interval"}
    assert result.n_specifications == 3 * len(result.dimensions["interval"])


def test_runs_at_several_few_shot_counts_make_the_fewshot_dimension(tmp_path):
    zero, _ = _arithmetic_run(tmp_path / "zero", fewshot=0, n=6, scorers=("numeric",))
    two, _ = _arithmetic_run(tmp_path / "two", fewshot=2, n=6, scorers=("numeric",))
    result = multiverse([two, zero])
    assert result.dimensions == {"fewshot": [2, 0], "interval": INTERVALS}  # in the order given
    assert result.n_specifications == 6
    curve = result.pairs[0].curve
    assert sorted(e.spec["fewshot"] for e in curve) == [0, 0, 0, 2, 2, 2]
    with pytest.raises(DataError, match="model 'a' appears in both"):
        multiverse([zero, zero])


def test_runs_of_two_tasks_are_not_one_multiverse(tmp_path):
    first, _ = _arithmetic_run(tmp_path / "one", n=4, scorers=("numeric",))
    task = get_task("arc_easy", data="sample")
    run_eval(task, [LengthScorer("x"), LengthScorer("y", rate=2.0)], out=tmp_path / "two", progress=False)
    with pytest.raises(ConfigError, match="one task; these runs hold arc_easy, arithmetic"):
        multiverse([first, tmp_path / "two"])


# ---- the numbers -------------------------------------------------------------------------------------


def test_a_constant_large_difference_is_supported_by_every_specification():
    rows = [
        {"model": m, "item": f"q{i}", "variant": v, "metric": k, "score": float(m == "a" or (m == "b" and i < 3))}
        for m in ("a", "b")
        for i in range(30)
        for v in ("v0", "v1", "v2")
        for k in ("acc", "acc_norm")
    ]
    result = multiverse(pd.DataFrame(rows))
    assert result.n_specifications == 2 * 4 * 3
    (pair,) = result.pairs
    assert (pair.a, pair.b) == ("a", "b")
    assert pair.support == {"a": 1.0, "b": 0.0, "neither": 0.0}
    assert all(e.diff == pytest.approx(0.9) for e in pair.curve)


def test_failures_counted_as_wrong_move_the_estimate_as_by_hand():
    # a: right on items 0-7, its requests for items 8 and 9 failed; b: right on items 0-4.
    rows = [{"model": "a", "item": f"q{i}", "score": 1.0, "error": i >= 8} for i in range(10)]
    rows += [{"model": "b", "item": f"q{i}", "score": float(i < 5), "error": False} for i in range(10)]
    result = multiverse(pd.DataFrame(rows))
    assert result.dimensions["errors"] == ["excluded", "wrong"]
    curve = {(e.spec["errors"], e.spec["interval"]): e for e in result.pairs[0].curve}
    # excluded: the 8 items a answered, a 8/8 and b 5/8; wrong: all 10 items, a 8/10 and b 5/10
    assert curve[("excluded", "paired-t")].diff == pytest.approx(1 - 5 / 8)
    assert curve[("excluded", "paired-t")].n == 8
    assert curve[("wrong", "paired-t")].diff == pytest.approx(8 / 10 - 5 / 10)
    assert curve[("wrong", "paired-t")].n == 10


def test_failed_samples_of_a_run_count_as_wrong(variant_run):
    run, task = variant_run
    failed = failed_samples_frame(run, fields=("variant", "base_item"))
    assert set(failed["model"]) == {"a"} and set(failed["base_item"]) == {task.items[0].id}
    assert sorted(failed["variant"]) == ["v0", "v1"] and failed["error"].str.contains("HTTP 500").all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = multiverse(run, choices={"metric": ["numeric"], "variant": ["v1"], "interval": ["paired-t"]})
    assert result.dimensions == {"errors": ["excluded", "wrong"]}
    scores = scores_frame(run, metric="numeric", fields=("variant", "base_item"))
    scores = scores[scores["variant"] == "v1"].set_index(["model", "base_item"])["score"]
    a, b = scores.loc["a"], scores.loc["b"]
    (pair,) = result.pairs
    sign = 1 if pair.a == "a" else -1  # pairs are oriented best first
    by_errors = {e.spec["errors"]: sign * e.diff for e in pair.curve}
    assert len(a) == len(b) - 1  # a's failed item has no score
    assert by_errors["excluded"] == pytest.approx(a.mean() - b.loc[a.index].mean())
    assert by_errors["wrong"] == pytest.approx((a.sum() + 0.0) / len(b) - b.mean())


def _brute_force(frame: pd.DataFrame, confidence=0.95):
    """Every specification by hand: per-unit means, paired_diff on each pair, Holm over the pairs."""
    out = {}
    for metric, variant, errors, interval in itertools.product(
        ("acc", "acc_norm"), ("pooled", "v0", "v1"), ("excluded", "wrong"), ("auto", "paired-t")
    ):
        rows = frame[frame["metric"] == metric]
        if variant != "pooled":
            rows = rows[rows["variant"] == variant]
        rows = (
            rows[~rows["error"]] if errors == "excluded" else rows.assign(score=rows["score"].where(~rows["error"], 0))
        )
        unit = rows["item"] + "@" + rows["variant"] if variant == "pooled" else rows["item"]
        rows = rows.assign(unit=unit)
        means = {m: g.groupby("unit")["score"].mean() for m, g in rows.groupby("model")}
        clusters = rows.groupby("unit")["item"].first() if variant == "pooled" else None
        found = []
        for a, b in (("a", "b"), ("a", "c"), ("b", "c")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found.append(paired_diff(means[a], means[b], clusters=clusters, confidence=confidence, test=interval))
        adjusted = adjust_pvalues([r.p_value for r in found], "holm")
        spec = {"metric": metric, "variant": variant, "errors": errors, "interval": interval}
        for (a, b), r, p in zip((("a", "b"), ("a", "c"), ("b", "c")), found, adjusted):
            conclusion = "neither" if p >= 1 - confidence else ("a" if r.diff > 0 else "b")
            out[(a, b, json.dumps(spec))] = (r.diff, r.low, r.high, p, conclusion)
    return out


def test_shares_match_a_brute_force_loop_over_paired_diff():
    frame = _frame()
    result = multiverse(frame, choices={"interval": ["auto", "paired-t"]})
    assert result.models == ["a", "b", "c"] and result.n_specifications == 2 * 3 * 2 * 2
    expected = _brute_force(frame)
    for pair in result.pairs:
        assert len(pair.curve) == 24
        for e in pair.curve:
            diff, low, high, p, conclusion = expected[(pair.a, pair.b, json.dumps(e.spec))]
            assert (e.diff, e.low, e.high, e.p_adjusted) == pytest.approx((diff, low, high, p), rel=1e-12)
            assert e.conclusion == conclusion
        by_hand = [expected[(pair.a, pair.b, json.dumps(s))][4] for s in _specs(result)]
        assert pair.support == {c: by_hand.count(c) / len(by_hand) for c in ("a", "b", "neither")}
    # the data makes some conclusions fragile: not every pair is decided the same way everywhere
    assert any(0 < max(p.support.values()) < 1 for p in result.pairs)


def test_the_bootstrap_interval_is_scipys_percentile_bootstrap():
    from scipy import stats

    frame = _frame(variants=("v0",), metrics=("acc",))
    result = multiverse(frame, choices={"interval": ["bootstrap"], "errors": ["excluded"]}, seed=3)
    entry = next(e for e in result.pairs[0].curve)
    a = frame[frame["model"] == "a"].set_index("item")["score"]
    b = frame[(frame["model"] == "b") & ~frame["error"]].set_index("item")["score"]
    d = (a.loc[b.index] - b).to_numpy()
    ci = stats.bootstrap(
        (d,), np.mean, n_resamples=2000, method="percentile", rng=np.random.default_rng(3), vectorized=True
    ).confidence_interval
    assert (entry.low, entry.high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert entry.test == "bootstrap" and entry.diff == pytest.approx(d.mean())


def test_auto_is_no_choice_of_its_own_on_continuous_scores():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        [
            {"model": m, "item": f"q{i}", "score": rng.random() * (0.9 if m == "b" else 1)}
            for m in "ab"
            for i in range(30)
        ]
    )
    result = multiverse(frame, spec={"interval": "auto"})
    assert result.dimensions == {"interval": ["paired-t", "bootstrap"]}
    assert any("auto is the paired t interval" in n for n in result.notes)
    assert result.preregistered == {"interval": "paired-t"}


# ---- pre-registered specifications ------------------------------------------------------------------


def test_a_preregistered_specification_is_marked_and_reported_first(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"metric": "acc_norm", "variant": "v1", "errors": "wrong", "interval": "auto"}))
    result = multiverse(_frame(), spec=spec)
    assert result.preregistered == {"metric": "acc_norm", "variant": "v1", "errors": "wrong", "interval": "auto"}
    for pair in result.pairs:
        marked = [e for e in pair.curve if e.preregistered]
        assert len(marked) == 1 and marked[0].spec == result.preregistered and pair.preregistered is marked[0]
    d = result.to_dict()
    assert d["preregistered"] == result.preregistered
    first = d["pairs"][0]
    assert list(first)[2] == "preregistered" and first["preregistered"]["preregistered"] is True
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(result.render())
    text = console.export_text()
    assert text.index("Pre-registered specification: metric=acc_norm") < text.index(
        "specifications behind each conclusion"
    )
    for pair in result.pairs:  # in the pre-registered table, then in the shares
        assert text.count(f"│ {pair.a} - {pair.b} ") == 2


def test_a_partial_specification_takes_the_defaults_and_says_so():
    result = multiverse(_frame(), spec={"metric": "acc"})
    assert result.preregistered == {"metric": "acc", "variant": "pooled", "errors": "excluded", "interval": "auto"}
    assert any("does not name variant, errors, interval" in n for n in result.notes)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"metrc": "acc"}, r"unknown choice 'metrc'; the choices are metric, fewshot, variant, errors, interval"),
        ({"metric": "acc_normm"}, r"metric 'acc_normm' does not apply; valid: acc, acc_norm"),
        ({"variant": "v7"}, r"variant 'v7' does not apply; valid: pooled, v0, v1"),
        ({"interval": "wald"}, r"interval 'wald' does not apply; valid: auto, paired-t, bootstrap"),
        ({"fewshot": 5}, r"fewshot 5 does not apply: the sources do not say a few-shot count"),
        ({"metric": ["acc"]}, r"metric takes one value"),
    ],
)
def test_a_choice_that_does_not_apply_is_named(spec, message):
    with pytest.raises(ConfigError, match=message):
        multiverse(_frame(), spec=spec)


def test_a_choice_of_a_dimension_that_does_not_vary(tmp_path):
    run, _ = _arithmetic_run(tmp_path / "run", n=4, scorers=("numeric",))
    # the one in force is accepted; another value, or a dimension the run lacks, is named
    assert multiverse(run, spec={"fewshot": 3, "metric": "numeric", "errors": "wrong"}).preregistered == {
        "interval": "auto"
    }
    with pytest.raises(ConfigError, match=r"fewshot 5 does not apply: every source uses 3 few-shot example\(s\)"):
        multiverse(run, spec={"fewshot": 5})
    with pytest.raises(ConfigError, match=r"variant 'v0' does not apply: the sources have no prompt variants"):
        multiverse(run, spec={"variant": "v0"})
    with pytest.raises(ConfigError, match=r"metric 'exact' does not apply: the sources have one metric \(numeric\)"):
        multiverse(run, spec={"metric": "exact"})


def test_a_spec_file_that_is_not_a_json_object(tmp_path):
    bad = tmp_path / "spec.json"
    bad.write_text("metric: acc")
    with pytest.raises(ConfigError, match=r"--spec .*spec.json: not JSON"):
        multiverse(_frame(), spec=bad)
    bad.write_text("[]")
    with pytest.raises(ConfigError, match="give a JSON object of choices"):
        multiverse(_frame(), spec=bad)
    with pytest.raises(ConfigError, match="no such file"):
        multiverse(_frame(), spec=tmp_path / "missing.json")


def test_bad_inputs():
    with pytest.raises(DataError, match="pairs of models"):
        multiverse(_frame(models=(("a", 0.5),)))
    with pytest.raises(ConfigError, match="correction 'tukey'"):
        multiverse(_frame(), correction="tukey")
    with pytest.raises(ConfigError, match="confidence"):
        multiverse(_frame(), confidence=1.5)
    with pytest.raises(ConfigError, match="variant 'v9' does not apply"):
        multiverse(_frame(), choices={"variant": ["v9"]})
    mixed = pd.concat([_frame(models=(("a", 0.5),)), _frame(models=(("b", 0.5),)).drop(columns=["variant"])])
    with pytest.raises(DataError, match="variant is missing"):
        multiverse(mixed)


def test_metric_and_choices_narrow_the_dimensions():
    frame = _frame()
    result = multiverse(frame, metric="acc_norm")
    assert "metric" not in result.dimensions and result.fixed["metric"] == "acc_norm"
    assert all(e.spec.get("metric") is None for e in result.pairs[0].curve)
    by_hand = multiverse(frame[frame["metric"] == "acc_norm"])
    assert [e.diff for e in result.pairs[0].curve] == [e.diff for e in by_hand.pairs[0].curve]
    with pytest.raises(ConfigError, match=r"--metric: metric 'f1' does not apply; valid: acc, acc_norm"):
        multiverse(frame, metric="f1")
    # errors fixed by a choice: a spec naming the other one does not apply
    with pytest.raises(ConfigError, match=r"errors 'excluded' does not apply: choices fixes it \(in force: wrong\)"):
        multiverse(frame, choices={"errors": ["wrong"]}, spec={"errors": "excluded"})
    with pytest.raises(ConfigError, match="variant is given no value"):
        multiverse(frame, choices={"variant": []})


def test_a_score_file_with_fewshot_and_error_columns(tmp_path):
    rows = ["model,item,score,fewshot,error"]
    for shots in (0, 5):
        for i in range(12):
            rows.append(f"a,q{i},1,{shots},{'true' if shots == 5 and i < 2 else ''}")
            rows.append(f"b,q{i},{int(i % 3 == 0 or shots == 5)},{shots},")
    path = tmp_path / "scores.csv"
    path.write_text("\n".join(rows) + "\n")
    result = multiverse(path, choices={"interval": ["paired-t"]})
    assert result.dimensions == {"fewshot": [0, 5], "errors": ["excluded", "wrong"]}
    curve = {(e.spec["fewshot"], e.spec["errors"]): e for e in result.pairs[0].curve}
    assert curve[(0, "excluded")].diff == pytest.approx(1 - 4 / 12)
    assert curve[(5, "excluded")].n == 10 and curve[(5, "excluded")].diff == pytest.approx(0)
    assert curve[(5, "wrong")].diff == pytest.approx(10 / 12 - 1)
    path.write_text("model,item,score,fewshot\na,q1,1,two\n")
    with pytest.raises(DataError, match=r"scores.csv line 2: fewshot 'two' is not a whole number"):
        multiverse(path)
