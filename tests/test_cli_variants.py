"""Prompt variants end to end: both embedded models on a small generated task
under four formattings, then compared across the variants (subprocesses)."""

import json

from .test_cli import assay


def test_embedded_models_under_four_prompt_variants_compared_across_them(tmp_path):
    run = tmp_path / "run"
    options = ["--param", "n=3", "--param", "digits=1", "--max-tokens", "6", "--fewshot", "2"]
    ran = assay(
        "run",
        "arithmetic",
        "-m",
        "smollm2",
        "-m",
        "gemma3-270m",
        "--prompt-variants",
        "4",
        "--template",
        "Question: {{ input }}\nAnswer:",
        *options,
        "--out",
        run,
        "--json",
    )
    result = json.loads(ran.stdout)
    for model in ("smollm2", "gemma3-270m"):
        assert result["models"][model]["n_items"] == 12 and result["models"][model]["errors"] == 0
    config = json.loads((run / "config.json").read_text())
    variants = config["task"]["variants"]
    assert list(variants) == ["v0", "v1", "v2", "v3"]
    assert len({json.dumps(v["templates"], sort_keys=True) for v in variants.values()}) == 4

    across = json.loads(assay("compare", run, "--across", "variant", "--json").stdout)
    for model in ("smollm2", "gemma3-270m"):
        by_variant = across["models"][model]["by_variant"]
        assert sorted(by_variant) == ["v0", "v1", "v2", "v3"]
        for entry in by_variant.values():
            assert 0 <= entry["ci_low"] <= entry["mean"] <= entry["ci_high"] <= 1
        assert "variance_components" in across["models"][model]
    (pair,) = across["pairs"]
    summary = pair["across"]
    assert summary["variants"] == 4
    assert summary["a_better"] + summary["b_better"] + summary["neither"] == 4
    assert summary["verdict"] in ("robust", "fragile", "reversed", "none")
    assert summary["ci_low"] <= summary["diff"] <= summary["ci_high"]

    # A second identical run is served from the run and the cache: no model call.
    again = json.loads(
        assay(
            "run",
            "arithmetic",
            "-m",
            "smollm2",
            "-m",
            "gemma3-270m",
            "--prompt-variants",
            "4",
            "--template",
            "Question: {{ input }}\nAnswer:",
            *options,
            "--out",
            run,
            "--json",
        ).stdout
    )
    assert all(m["model_calls"] == 0 for m in again["models"].values())
