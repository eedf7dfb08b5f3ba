"""The report's robustness section: each pair's specification curve, drawn as stats.multiverse computed it."""

from __future__ import annotations

import warnings

import pytest

from assay.api import multiverse
from assay.report import write_report
from assay.run.runner import run_eval
from assay.tasks.registry import get_task
from tests.run.fakes import ArithmeticFake

from .test_report import arr, figure_specs


def make_variant_run(out, *, variants=3, fail_first=True):
    """Three fake models on arithmetic under prompt variants; model a's requests for one item fail."""
    task = get_task(
        "arithmetic", params={"n": "15"}, template="Question: {{ input }}\nAnswer:", prompt_variants=variants
    )
    failing = [task.items[0].input["input"]] if fail_first else []
    models = [
        ArithmeticFake("a", chat=False, wrong_every=7, fail_items=failing),
        ArithmeticFake("b", chat=False, wrong_every=3),
        ArithmeticFake("c", chat=False, wrong_every=2),
    ]
    run_eval(task, models, temperature=0.8, out=out, progress=False, use_cache=False)
    return out


@pytest.fixture(scope="module")
def robust(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("robustness")
    run = make_variant_run(tmp / "run")
    spec = {"variant": "v1", "errors": "wrong", "interval": "paired-t"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = write_report([run], out=tmp / "report.html", spec=spec)
        result = multiverse(run, spec=spec)
    return run, report, result


def test_each_pair_is_drawn_as_its_specification_curve(robust):
    _, report, result = robust
    ids = [s.id for s in report.sections]
    assert ids[ids.index("differences") + 1] == "robustness"
    assert result.dimensions == {
        "variant": ["pooled", "v0", "v1", "v2"],
        "errors": ["excluded", "wrong"],
        "interval": ["auto", "paired-t", "bootstrap"],
    }
    specs = figure_specs(report, "robustness")
    assert len(specs) == len(result.pairs) == 3
    choice_rows = [f"{name}: {value}" for name, values in result.dimensions.items() for value in values]
    for pair, spec in zip(result.pairs, specs):
        assert spec["layout"]["title"]["text"] == f"{pair.a} − {pair.b}"
        estimates = [t for t in spec["data"] if t.get("error_y")]
        drawn = sorted((x, y) for t in estimates for x, y in zip(arr(t["x"]), arr(t["y"])))
        assert [x for x, _ in drawn] == list(range(1, result.n_specifications + 1))
        assert [y for _, y in drawn] == pytest.approx([e.diff for e in pair.curve])  # sorted by the estimate
        for t in estimates:  # colour by conclusion, one trace each
            conclusion = {f"{pair.a} better": "a", f"{pair.b} better": "b", "neither": "neither"}[t["name"]]
            assert all(pair.curve[int(x) - 1].conclusion == conclusion for x in arr(t["x"]))
            assert arr(t["error_y"]["array"]) == pytest.approx(
                [pair.curve[int(x) - 1].high - pair.curve[int(x) - 1].diff for x in arr(t["x"])]
            )
        # beneath: one row per choice, and every specification marked once per dimension
        marks = [t for t in spec["data"] if t.get("yaxis") == "y2"]
        assert [t["y"][0] for t in marks] == choice_rows
        for name in result.dimensions:
            xs = sorted(int(x) for t in marks if t["y"][0].startswith(name + ":") for x in arr(t["x"]))
            assert xs == list(range(1, result.n_specifications + 1))
        (star,) = [t for t in spec["data"] if t.get("name") == "pre-registered"]
        x = int(arr(star["x"])[0])
        assert pair.curve[x - 1].preregistered and pair.curve[x - 1].spec == result.preregistered
    section = next(s for s in report.sections if s.id == "robustness")
    body = section.html()
    assert (
        result.n_specifications == 24
        and "Method.</b>" in body
        and "24 specifications" in body
        and "the star is the pre-registered" in body
    )
    assert body.count("<tr>") == 1 + len(result.pairs)


def test_a_run_without_choices_about_its_data_has_no_robustness_section(tmp_path):
    task = get_task("arithmetic", params={"n": "6"})
    models = [ArithmeticFake("a", chat=False, wrong_every=7), ArithmeticFake("b", chat=False, wrong_every=2)]
    run_eval(task, models, temperature=0.8, out=tmp_path / "run", progress=False, use_cache=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = write_report([tmp_path / "run"], out=tmp_path / "r.html")
    assert "robustness" not in [s.id for s in report.sections] and "robustness" not in str(report.absent)


@pytest.mark.slow
def test_the_curves_draw_in_chromium(robust, chromium):
    from assay.report.browser import check_in_browser

    _, report, _ = robust
    check = check_in_browser(report.path)
    assert check.ok and check.page_errors == 0 and check.console_errors == []
    assert len(check.figures) == report.n_figures and all(f.drawn_marks > 0 for f in check.figures)
