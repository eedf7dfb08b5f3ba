"""Runs under prompt variants: each item × variant stored with its variant, cached
like any request, and read back per variant for compare --across."""

import json

import pytest

from assay.api import compare, load_scores
from assay.errors import ConfigError
from assay.run.runner import run_eval
from assay.run.store import open_run, scores_frame
from assay.tasks.registry import get_task
from tests.run.fakes import ArithmeticFake

QA = "Question: {{ input }}\nAnswer:"


def _run(tmp_path, models, **options):
    task = get_task("arithmetic", params={"n": "6"}, template=options.pop("template", QA), **options)
    return task, run_eval(task, models, out=tmp_path / "run", progress=False, use_cache=False)


def test_every_item_runs_under_every_variant_and_is_stored_with_it(tmp_path):
    task, result = _run(tmp_path, [ArithmeticFake("a", chat=False), ArithmeticFake("b", chat=True)], prompt_variants=3)
    assert result.models["a"].n_items == 18 and result.models["a"].errors == 0
    with open_run(tmp_path / "run") as store:
        items = list(store.items().values())
    variants = sorted({it.meta["variant"] for it in items})
    assert variants == ["v0", "v1", "v2"]
    assert {it.meta["base_item"] for it in items} == {it.id for it in task.items}
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    described = config["task"]["variants"]
    assert list(described) == variants and described["v0"]["changes"] == {}
    assert all(described[v]["changes"] for v in ("v1", "v2"))
    # The prompts differ by variant for the base model (its template varies).
    with open_run(tmp_path / "run") as store:
        prompts = {item: prompt for model, item, prompt, _, _ in store.first_samples() if model == "a"}
    base = task.items[0].id
    assert len({prompts[f"{base}@{v}"] for v in variants}) == 3
    frame = scores_frame(tmp_path / "run", fields=("variant", "base_item"))
    assert set(frame["variant"]) == set(variants)
    by = load_scores(tmp_path / "run", across="variant")
    assert by["item"].nunique() == 6 and len(by) == 2 * 18


def test_the_same_prompt_under_two_variants_is_one_request(tmp_path):
    model = ArithmeticFake("a", chat=False)
    task = get_task("arithmetic", params={"n": "4"}, template=["Q: {{ input }}\nA:", "Q: {{ input }}\nA:"])
    # Two variants with the same text: identical requests.
    result = run_eval(task, [model], out=tmp_path / "run", progress=False)
    assert result.models["a"].n_items == 8
    assert result.models["a"].model_calls == 4 and result.models["a"].cache_hits == 4


def test_a_plain_compare_of_a_variant_run_clusters_by_item(tmp_path):
    _run(tmp_path, [ArithmeticFake("a", chat=False), ArithmeticFake("b", chat=False, wrong_every=2)], prompt_variants=2)
    result = compare(tmp_path / "run")
    assert result.models["a"].ci.method.startswith("cluster") or "cluster" in json.dumps(result.to_dict())


def test_a_run_directory_holds_one_set_of_variants(tmp_path):
    _run(tmp_path, [ArithmeticFake("a", chat=False)], prompt_variants=2)
    with pytest.raises(ConfigError, match="another task"):
        _run(tmp_path, [ArithmeticFake("a", chat=False)], prompt_variants=3)


def test_across_needs_a_column_with_several_values(tmp_path):
    _run(tmp_path, [ArithmeticFake("a", chat=False)])
    with pytest.raises(ConfigError, match="--across variant"):
        load_scores(tmp_path / "run", across="variant")


def test_the_report_draws_each_variant_and_the_verdicts(tmp_path):
    from assay.api import compare_across
    from assay.report import write_report

    _run(tmp_path, [ArithmeticFake("a", chat=False), ArithmeticFake("b", chat=False, wrong_every=2)], prompt_variants=3)
    result = write_report([tmp_path / "run"], out=tmp_path / "r.html", samples=False)
    section = next(s for s in result.sections if s.id == "variants")
    specs = [json.loads(b.spec) for b in section.blocks if hasattr(b, "spec")]
    across = compare_across(tmp_path / "run").to_dict()
    by_model = {t["name"]: t for t in specs[0]["data"]}
    assert set(by_model) == {"a", "b"}
    for model, trace in by_model.items():
        expected = across["models"][model]["by_variant"]
        assert [c[0] for c in trace["customdata"]] == list(expected)
        assert trace["y"] == pytest.approx([v["mean"] for v in expected.values()])
    spread = specs[1]["data"][0]
    assert dict(zip(spread["y"], spread["x"])) == pytest.approx(
        {m: across["models"][m]["spread"]["sd"] for m in spread["y"]}
    )
    html = "".join(b for b in section.blocks if isinstance(b, str))
    assert across["pairs"][0]["across"]["verdict"] in html
