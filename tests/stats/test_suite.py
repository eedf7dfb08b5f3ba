"""Suites: runs of several tasks compared per task and across the tasks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from assay.api import compare_suite
from assay.run.runner import run_eval
from assay.run.sources import is_suite
from assay.tasks.arithmetic import arithmetic_task

from ..run.fakes import ArithmeticFake


@pytest.fixture(scope="module")
def two_tasks(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite")
    runs = []
    for name, digits in (("small", "1,2"), ("large", "2,3")):
        # Expressions of several lengths: the fakes' right and wrong answers vary across items.
        task = arithmetic_task({"digits": digits, "ops": "1,2", "n": "25"})
        task.name = name
        models = [ArithmeticFake("a", wrong_every=3), ArithmeticFake("b", wrong_every=4)]
        run_eval(task, models, out=root / name, progress=False, max_tokens=4, use_cache=False)
        runs.append(root / name)
    return runs


def test_suite_mean_is_the_mean_of_task_means_with_a_stratified_interval(two_tasks):
    import pandas as pd

    from assay.api import load_scores

    assert is_suite(two_tasks) and not is_suite(two_tasks[:1])
    result = compare_suite(two_tasks, n_boot=4000, seed=1)
    d = result.to_dict()
    assert set(d["tasks"]) == {"small", "large"} and set(d["suite"]["models"]) == {"a", "b"}
    for task in ("small", "large"):
        assert set(d["tasks"][task]["models"]) == {"a", "b"} and len(d["tasks"][task]["pairs"]) == 1
    # The point estimate and the analytic stratified SE, sqrt(sum var_t / n_t) / T, checked independently.
    per_task = {run.name: load_scores(run).groupby(["model", "item"])["score"].mean() for run in two_tasks}
    for model in ("a", "b"):
        values = [per_task[t][model] for t in per_task]
        mean = np.mean([v.mean() for v in values])
        se = np.sqrt(sum(v.var(ddof=1) / len(v) for v in values)) / len(values)
        s = d["suite"]["models"][model]
        assert s["mean"] == pytest.approx(mean, abs=1e-12)
        assert s["ci_low"] < mean < s["ci_high"]
        assert (s["ci_high"] - s["ci_low"]) == pytest.approx(2 * 1.96 * se, rel=0.15)
    pair = d["suite"]["pairs"][0]
    diffs = [pd.Series(per_task[t][pair["a"]]) - pd.Series(per_task[t][pair["b"]]) for t in per_task]
    assert pair["diff"] == pytest.approx(np.mean([x.mean() for x in diffs]), abs=1e-12)
    se = np.sqrt(sum(x.var(ddof=1) / len(x) for x in diffs)) / len(diffs)
    assert (pair["ci_high"] - pair["ci_low"]) == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert 0 <= pair["p_value"] <= pair["p_adjusted"] <= 1


def test_cli_compare_over_tasks_gives_the_suite(two_tasks):
    from tests.test_cli import assay

    data = json.loads(assay("compare", *two_tasks, "--json").stdout)
    assert set(data) >= {"tasks", "suite"}
    assert {"models", "pairs"} <= set(data["tasks"]["small"]) and {"models", "pairs"} <= set(data["suite"])


def test_run_name_names_the_task_of_a_suite(tmp_path):
    from tests.servers import stub_server
    from tests.test_cli import assay

    with stub_server() as url:
        for name, digits in (("first", "1"), ("second", "2")):
            assay(
                "run",
                "arithmetic",
                "-m",
                "openai:x",
                "-m",
                "openai:y",
                "--base-url",
                url + "/v1",
                "--param",
                f"digits={digits}",
                "--param",
                "n=3",
                "--name",
                name,
                "--out",
                tmp_path / name,
            )
    assert json.loads((tmp_path / "first" / "config.json").read_text())["task_name"] == "first"
    data = json.loads(assay("compare", tmp_path / "first", tmp_path / "second", "--json").stdout)
    assert set(data["tasks"]) == {"first", "second"} and set(data["suite"]["models"]) == {"openai:x", "openai:y"}


def test_report_over_tasks_has_the_suite_and_one_section_per_task(two_tasks, tmp_path):
    from assay.report.report import write_report

    result = write_report(two_tasks, out=tmp_path / "r.html")
    ids = [s.id for s in result.sections]
    assert ids[:1] == ["suite"]
    for task in ("small", "large"):
        assert f"leaderboard-{task}" in ids and f"differences-{task}" in ids
    text = (tmp_path / "r.html").read_text()
    assert "Suite of 2 tasks" in text and "small: Leaderboard" in text
