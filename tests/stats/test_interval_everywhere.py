"""Every result that carries an interval gives it as the one ``Interval`` through ``to_interval()``, with the
numbers the result itself holds, its level and how the interval was made."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil

import numpy as np
import pandas as pd
import pytest

from assay.errors import ConfigError
from assay.stats.bootstrap import Interval

PACKAGES = ("assay.stats", "assay.judge", "assay.scaling", "assay.run")
# Dataclasses with bound fields that are not a result's interval, and why.
NOT_RESULTS = {
    "assay.stats.bootstrap.Interval": "the interval type itself",
    "assay.scaling.law_intervals.LawIntervals": "arrays of bounds at many points, with no estimate; "
    "backtests put them into their rows",
}


def _dataclasses():
    for package in PACKAGES:
        root = importlib.import_module(package)
        names = [package] + [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")]
        for name in names:
            module = importlib.import_module(name)
            for cls in vars(module).values():
                if inspect.isclass(cls) and dataclasses.is_dataclass(cls) and cls.__module__ == name:
                    if not cls.__name__.startswith("_"):
                        yield cls


def _carries_interval(cls) -> bool:
    """A pair of bound fields (low/high, ci_low/ci_high, sd_low/sd_high, lower/upper...) or a MeanCI field."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in fields:
        if "low" in name and name.replace("lower", "upper").replace("low", "high") in fields:
            return True
    return any(f.type == "MeanCI" for f in fields.values())


def _qualified(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def test_every_result_with_an_interval_gives_to_interval():
    found = {_qualified(c): c for c in _dataclasses() if _carries_interval(c)}
    # A walk that found nothing (or missed a package) would pass the check below.
    for known in (
        "assay.stats.binary.MeanCI",
        "assay.stats.suite.SuitePair",
        "assay.stats.across.Spread",
        "assay.judge.probes.ProbeResult",
        "assay.scaling.fit.Prediction",
        "assay.run.runner.ModelSummary",
        "assay.stats.compare.ModelSummary",
    ):
        assert known in found, known
    assert len(found) >= 20
    # Every exclusion is still detected, so the list cannot hide a class that no longer exists.
    assert set(NOT_RESULTS) <= set(found)
    lacking = sorted(name for name, cls in found.items() if name not in NOT_RESULTS and not hasattr(cls, "to_interval"))
    assert not lacking, f"results with an interval but no to_interval(): {lacking}"


def _same(interval: Interval, estimate, low, high, level: float):
    assert isinstance(interval, Interval)
    assert (interval.estimate, interval.low, interval.high) == (estimate, low, high)
    assert interval.level == level
    assert isinstance(interval.method, str) and interval.method


def _scores(seed: int, models=(("a", 0.7), ("b", 0.5)), n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        {"model": m, "item": f"q{i}", "score": float(rng.random() < p), "difficulty": ("easy", "hard")[i % 2]}
        for m, p in models
        for i in range(n)
    ]
    return pd.DataFrame(rows)


def test_suite_models_and_pairs():
    from assay.stats.suite import PAIR_METHOD, SUITE_METHOD, compare_suite

    result = compare_suite({"one": [_scores(1)], "two": [_scores(2)]}, confidence=0.9, n_boot=300, seed=0)
    for m in result.models.values():
        interval = m.to_interval()
        _same(interval, m.mean, m.low, m.high, 0.9)
        assert interval.method == SUITE_METHOD and interval.n == m.n_items == 60
        assert m.low < m.mean < m.high
    (pair,) = result.pairs
    interval = pair.to_interval()
    _same(interval, pair.diff, pair.low, pair.high, 0.9)
    assert interval.method == PAIR_METHOD and interval.n == 60
    # The JSON keeps its shape.
    assert set(pair.to_dict()) == {
        "a",
        "b",
        "diff",
        "ci_low",
        "ci_high",
        "ci_method",
        "p_value",
        "p_adjusted",
        "n_items",
    }


def test_multiverse_specifications():
    from assay.stats.multiverse import BOOTSTRAP_METHOD, multiverse

    frame = pd.concat([_scores(3).assign(variant="v0"), _scores(4).assign(variant="v1")], ignore_index=True)
    result = multiverse(frame.drop(columns="difficulty"), confidence=0.9, n_boot=200)
    (pair,) = result.pairs
    tests = set()
    for e in pair.curve:
        interval = e.to_interval()
        _same(interval, e.diff, e.low, e.high, 0.9)
        assert (interval.n, interval.n_clusters) == (e.n, e.n_clusters)
        tests.add(e.test)
        if e.test == "bootstrap":
            assert interval.method == BOOTSTRAP_METHOD
        elif e.test in ("paired-t", "clustered-t"):
            assert "± t(" in interval.method  # paired_diff's account of the interval, not only the test's name
        assert set(e.to_dict()) == {
            "spec",
            "diff",
            "ci_low",
            "ci_high",
            "p_value",
            "p_adjusted",
            "test",
            "n",
            "n_clusters",
            "conclusion",
            "preregistered",
            "error",
        }
    assert "bootstrap" in tests and len(tests) >= 2


def test_across_components_crossed_mean_and_spread():
    from assay.stats.across import (
        CROSSED_MEAN_METHOD,
        MEAN_COMPONENT_INTERVAL,
        VARIANT_COMPONENT_INTERVAL,
        crossed_components,
        crossed_mean,
        variant_spread,
    )

    rng = np.random.default_rng(5)
    n_items, n_variants, k = 30, 4, 2
    y = (
        rng.normal(size=n_items)[:, None, None]
        + 0.5 * rng.normal(size=n_variants)[None, :, None]
        + 0.4 * rng.normal(size=(n_items, n_variants))[:, :, None]
        + 0.3 * rng.normal(size=(n_items, n_variants, k))
    )
    i, v, s = np.meshgrid(np.arange(n_items), np.arange(n_variants), np.arange(k), indexing="ij")
    scores = pd.DataFrame(
        {"item": [f"q{x}" for x in i.ravel()], "variant": [f"v{x}" for x in v.ravel()], "sample": s.ravel()}
    ).assign(score=y.ravel())
    result = crossed_components(scores, confidence=0.9, mixedlm=False)
    for name, c in result.components().items():
        interval = c.to_interval()
        _same(interval, c.estimate, c.low, c.high, 0.9)
        assert interval.method == (VARIANT_COMPONENT_INTERVAL if name == "variant" else MEAN_COMPONENT_INTERVAL)
    assert set(result.item.to_dict()) == {"estimate", "ci_low", "ci_high", "share", "raw"}

    cells = y.mean(axis=2)
    m = crossed_mean(cells, confidence=0.9)
    interval = m.to_interval()
    _same(interval, m.mean, m.low, m.high, 0.9)
    assert interval.method == CROSSED_MEAN_METHOD and interval.n == n_items and m.n_variants == n_variants

    spread = variant_spread(pd.DataFrame(cells, columns=[f"v{x}" for x in range(n_variants)]), confidence=0.9)
    sd, width = spread.to_interval(), spread.range_interval()
    _same(sd, spread.sd, spread.sd_low, spread.sd_high, 0.9)
    _same(width, spread.range, spread.range_low, spread.range_high, 0.9)
    assert sd.n == width.n == n_variants and sd.low < sd.estimate < sd.high


def test_compare_leaderboard_rows_and_levels():
    from assay.stats.compare import compare, means_by_level

    frame = _scores(6)
    result = compare(frame.drop(columns="difficulty"), confidence=0.9)
    for row in result.models.values():
        assert row.to_interval() == row.ci.to_interval()
        _same(row.to_interval(), row.ci.mean, row.ci.low, row.ci.high, 0.9)
    for pair in result.pairs:
        r = pair.result
        _same(pair.to_interval(), r.diff, r.low, r.high, 0.9)
        assert pair.to_interval().n == r.n
    by_model = means_by_level(frame, ["easy", "hard"], confidence=0.9, notes=[])
    point = by_model["a"][0]
    assert point.level == "easy"
    _same(point.to_interval(), point.ci.mean, point.ci.low, point.ci.high, 0.9)


def test_run_summary(tmp_path):
    from assay.run.runner import run_eval
    from assay.tasks.arithmetic import arithmetic_task
    from tests.run.fakes import ArithmeticFake

    task = arithmetic_task({"digits": "1,2", "ops": "1,2", "n": "12"})
    result = run_eval(
        task, [ArithmeticFake("a", wrong_every=3)], out=tmp_path / "run", progress=False, max_tokens=4, use_cache=False
    )
    summary = result.models["a"]
    interval = summary.to_interval()
    _same(interval, summary.score, summary.ci_low, summary.ci_high, 0.95)
    assert interval.method == summary.ci_method and interval.n == summary.n_items == len(task.items)
    assert summary.ci_low < summary.score < summary.ci_high


def test_judge_probe_and_summary():
    from assay.judge.judging import ORIGINAL, Outcome, Unit, summarise
    from assay.judge.probes import run_probes
    from tests.judge.judge_fakes import ScriptedJudge

    items = pd.DataFrame(
        {
            "item": [f"p{i}" for i in range(6)],
            "input": [f"question {i}" for i in range(6)],
            "output_1": [f"answer {i}" + "!" * i for i in range(6)],
            "output_2": [f"other {i}" for i in range(6)],
            "label": ["1"] * 6,
        }
    )
    # Ratings that vary with the text shown: the padded and plain ratings differ by item.
    judge = ScriptedJudge("fake", lambda text: f'{{"explanation": "x", "rating": {len(text) % 9 + 1}}}')
    (probe,) = run_probes("fake", items=items, n=6, model=judge, n_boot=200, level=0.9, probes=("verbosity",))
    interval = probe.to_interval()
    _same(interval, probe.effect, probe.low, probe.high, 0.9)
    assert interval.n == probe.n == 6 and interval.method == "percentile bootstrap over items"
    assert probe.low < probe.high

    outcomes = [
        Outcome(Unit(f"i{k}", "m", None, ORIGINAL, ()), str(r), float(r), False) for k, r in enumerate([9, 7, 8, 3, 6])
    ]
    summary = summarise("judge", outcomes, "pointwise", ["m"], scale=10)
    interval = summary.model_interval("m")
    _same(interval, summary.mean_score["m"], summary.intervals["m"]["low"], summary.intervals["m"]["high"], 0.95)
    assert interval.method == summary.intervals["m"]["method"] and interval.n == 5
    with pytest.raises(ConfigError, match="no score for 'x'"):
        summary.model_interval("x")


def test_scaling_fit_parameters():
    from assay.scaling.fit import fit_law

    rng = np.random.default_rng(2)
    size = np.logspace(7, 10, 12)
    loss = 1.7 + 400 * size**-0.3 * np.exp(rng.normal(0, 0.01, size.size))
    fit = fit_law(pd.DataFrame({"size": size, "loss": loss}), "power", "size", "loss", bootstrap=60, seed=1, level=0.9)
    for name, value in fit.params.items():
        interval = fit.param_interval(name)
        _same(interval, value, fit.ci[name][0], fit.ci[name][1], 0.9)
        assert interval.method == fit.bootstrap_method and interval.n == 12
    with pytest.raises(ConfigError, match="no parameter 'nope'"):
        fit.param_interval("nope")
