"""assay compare --multiverse [--spec FILE] through the command line, on a run of two prompt variants."""

import json

import pytest

from assay.run.runner import run_eval
from assay.tasks.registry import get_task
from tests.run.fakes import ArithmeticFake

from .test_cli_validation import assay, refused


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    task = get_task("arithmetic", params={"n": "10"}, template="Q: {{ input }}\nA:", prompt_variants=2)
    out = tmp_path_factory.mktemp("cli-mv") / "run"
    models = [ArithmeticFake("a", chat=False, wrong_every=7), ArithmeticFake("b", chat=False, wrong_every=2)]
    run_eval(task, models, temperature=0.8, out=out, progress=False, use_cache=False)
    return out


def test_multiverse_json_and_a_preregistered_specification(run, tmp_path):
    result = json.loads(assay("compare", run, "--multiverse", "--json").stdout)
    assert result["dimensions"] == {"variant": ["pooled", "v0", "v1"], "interval": ["auto", "paired-t", "bootstrap"]}
    assert result["specifications"] == 9 and result["preregistered"] is None
    (pair,) = result["pairs"]
    assert len(pair["curve"]) == 9 and sum(pair["support"].values()) == pytest.approx(1)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"variant": "v1", "interval": "paired-t"}))
    table = assay("compare", run, "--multiverse", "--spec", spec).stdout
    assert table.index("Pre-registered specification: variant=v1, interval=paired-t") < table.index(
        "behind each conclusion"
    )
    assert "a - b" in table or "b - a" in table


def test_a_spec_naming_a_choice_that_does_not_apply_is_refused(run, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"variant": "v9"}))
    refused(assay("compare", run, "--multiverse", "--spec", spec, check=False), "variant 'v9'", "pooled, v0, v1")
    refused(assay("compare", run, "--spec", spec, check=False), "--spec applies to --multiverse")
