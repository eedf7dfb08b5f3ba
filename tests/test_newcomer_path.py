"""The path a new user takes, end to end through the command line, on two items
of each task: the README's first session, a GSM8K comparison of the two
embedded models, HumanEval pass@k graded in the code sandbox, a judge behind a
local llama_cpp.server followed by an audit with bias probes, a scaling fit on
the shared table, and one report over the GSM8K and HumanEval runs (a suite of
two tasks). Outputs are a few tokens long: the test checks the path and the
documented fields of each step's ``--json``, not the models."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from assay.tasks import sandbox
from assay.tasks.scorers.code import WEAK_LABEL

from .test_cli import assay

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
MODELS = ("smollm2", "gemma3-270m")
BOTH = ["-m", MODELS[0], "-m", MODELS[1]]
PIQA = "family == 'pythia' and step == 143000 and shots == 0"


def test_newcomer_path(tmp_path, shared_data, smollm2_server):
    # Commands run in a fresh directory, as a user's would (runs/ lands there),
    # on this checkout's code whatever the working directory.
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}

    def run_json(*args) -> dict:
        return json.loads(assay(*args, "--json", cwd=tmp_path, env=env).stdout)

    # ---- the README's first session (its run on two items)
    first = run_json("run", "arithmetic", *BOTH, *"--param digits=1,2,3 --param n=20 --max-tokens 16 --limit 2".split())
    (arithmetic,) = (tmp_path / "runs").glob("arithmetic-*")  # the default run directory
    assert (tmp_path / first["run_dir"]).resolve() == arithmetic.resolve()
    for model in MODELS:
        stats = first["models"][model]
        assert (stats["n_items"], stats["model_calls"], stats["errors"]) == (2, 2, 0)
        assert 0 <= stats["ci_low"] <= stats["score"] <= stats["ci_high"] <= 1 and stats["ci_method"] == "beta"
    leaderboard = run_json("compare", arithmetic)
    assert set(leaderboard["models"]) == set(MODELS)
    (pair,) = leaderboard["pairs"]
    assert pair["n"] == 2 and pair["ci_low"] <= pair["diff"] <= pair["ci_high"]
    assert pair["p_adjusted"] >= pair["p_value"]
    assert sorted(m for group in leaderboard["tied_groups"] for m in group) == sorted(MODELS)
    planned = run_json("plan", "--baseline", "0.7", "--mde", "0.03", "--paired", "--correlation", "0.5")
    assert planned["n_items"] == 1840 and planned["exact_power"] >= 0.8  # docs/statistics.md's example
    exported = run_json("export", arithmetic, "-o", "items.csv")
    items = pd.read_csv(tmp_path / "items.csv", dtype={"item": str})
    assert exported["rows"] == len(items) == 4 and set(items["model"]) == set(MODELS)

    # ---- GSM8K: the two embedded models compared
    options = "--limit 2 --max-tokens 8 --fewshot 0 --name gsm8k --out runs/gsm8k".split()
    gsm8k = run_json("run", shared_data / "gsm8k" / "test.jsonl", *BOTH, *options)
    assert gsm8k["task"] == "gsm8k" and gsm8k["metric"] == "numeric"
    assert all(gsm8k["models"][m]["n_items"] == 2 and gsm8k["models"][m]["errors"] == 0 for m in MODELS)
    compared = run_json("compare", "runs/gsm8k")
    assert set(compared["models"]) == set(MODELS) and [p["n"] for p in compared["pairs"]] == [2]
    run_json("export", "runs/gsm8k", "-o", "gsm8k.csv")
    samples = pd.read_csv(tmp_path / "gsm8k.csv", dtype={"target": str})
    for model in MODELS:
        # The numbers after #### of the first two items.
        assert sorted(samples.loc[samples["model"] == model, "target"]) == ["18", "3"]
    assert samples.loc[samples["model"] == "smollm2", "prompt"].str.contains("The answer is N").all()

    # ---- HumanEval: several samples per item, graded in the sandbox, pass@k
    options = (
        "--limit 2 --samples 2 --temperature 0.8 --max-tokens 24 --fewshot 0 --name humaneval --out runs/humaneval"
    )
    humaneval = run_json("run", shared_data / "humaneval" / "HumanEval.jsonl.gz", *BOTH, *options.split())
    assert humaneval["metric"] == "code"
    for model in MODELS:
        stats = humaneval["models"][model]
        assert (stats["n_items"], stats["n_samples"], stats["errors"]) == (2, 4, 0)
    passk = run_json("passk", "runs/humaneval", "--k", "1,2")
    (tmp_path / "passk.json").write_text(json.dumps(passk))
    for model in MODELS:
        at_1, at_2 = passk["models"][model]["pass@1"], passk["models"][model]["pass@2"]
        for estimate in (at_1, at_2):
            assert 0 <= estimate["ci_low"] <= estimate["value"] <= estimate["ci_high"] <= 1
        assert at_1["value"] <= at_2["value"]
    run_json("export", "runs/humaneval", "-o", "humaneval.csv")
    graded = pd.read_csv(tmp_path / "humaneval.csv")
    assert len(graded) == 8 and set(graded["score_code"]) <= {0.0, 1.0}
    # Each score says which sandbox graded it: the weak fallback only where bubblewrap cannot run.
    weak = graded["detail_code"].fillna("").str.endswith(WEAK_LABEL)
    assert weak.all() if sandbox.isolation().mode == "weak" else not weak.any()

    # ---- a judge behind a local llama_cpp.server, then an audit with bias probes
    url = smollm2_server()
    judge = ["--judge", "openai:my-judge", "--base-url", url]
    judged = run_json("judge", arithmetic, *judge, *"--protocol reference --max-tokens 24".split())
    stats = judged["judges"]["openai:my-judge"]
    assert (stats["n"], stats["errors"], stats["not_run"]) == (4, 0, 0)
    assert stats["calls"] + stats["cache_hits"] == 4  # two models' equal outputs to an item make one prompt
    # The server refuses response_format json_schema: found out once, then plain replies read by the parser.
    assert any("refuses constrained output" in note and "HTTP 500" in note for note in judged["notes"])
    run_json("export", arithmetic, "--what", "verdicts", "-o", "verdicts.csv")
    verdicts = pd.read_csv(tmp_path / "verdicts.csv", dtype={"item": str})
    # The labels are the scorer's gold verdicts. An audit needs ten labelled items: the two items, five times over.
    labels = items[["item", "model", "score"]].rename(columns={"score": "label"})
    copies = range(5)
    pd.concat([verdicts.assign(item=verdicts["item"] + f"-{k}") for k in copies]).to_csv(
        tmp_path / "verdicts10.csv", index=False
    )
    pd.concat([labels.assign(item=labels["item"] + f"-{k}") for k in copies]).to_csv(
        tmp_path / "labels.csv", index=False
    )
    pairs = json.loads((shared_data / "judge_human_labels" / "llmeval2.json").read_text())
    shortest = min(pairs, key=lambda p: len(p["input"]) + len(p["output_1"]) + len(p["output_2"]))
    (tmp_path / "pairs.json").write_text(json.dumps([shortest]))
    audit = "--verdicts verdicts10.csv --labels labels.csv --n-boot 50 --probe-items pairs.json --probe-n 1".split()
    audited = run_json("audit", *audit, "--probe-judge", "openai:my-judge", "--base-url", url)
    assert audited["kind"] == "correctness" and audited["coverage"]["n_labelled_items"] == 10
    (audit_of_judge,) = audited["judges"]
    assert audit_of_judge["judge"] == "openai:my-judge" and audit_of_judge["n_verdicts"] == 20
    probes = {p["probe"]: p for p in audited["probes"]}
    for name in ("position", "verbosity"):
        # Every probe request answered; an unreadable verdict is invalid, never an error or a default.
        assert probes[name]["n_errors"] == 0 and probes[name]["n"] + probes[name]["n_invalid"] >= 1

    # ---- a scaling fit on the shared table (the README's, 20 bootstrap draws)
    options = "--pivot task,metric --law sigmoid --x params --y piqa/acc --chance 0.5 --bootstrap 20 -o piqa.json"
    fit = run_json("scale", "fit", shared_data / "pythia_opt_bloom_evals.csv", *options.split(), "--where", PIQA)
    assert fit["law"] == "sigmoid" and fit["converged"] and fit["params"]["floor"] == 0.5
    assert set(fit["params"]) == {"floor", "ceiling", "k", "x0"} and fit["n_points"] >= 5
    for name, (low, high) in fit["ci"].items():
        assert low <= fit["params"][name] <= high, name
    predicted = run_json("scale", "predict", "piqa.json", "--at", "params=7e10")
    assert 0.5 <= predicted["low"] <= predicted["value"] <= predicted["high"] <= 1

    # ---- GSM8K and HumanEval together: a suite, compared and reported
    suite = run_json("compare", "runs/gsm8k", "runs/humaneval")
    assert set(suite["tasks"]) == {"gsm8k", "humaneval"}
    for model in MODELS:
        entry = suite["suite"]["models"][model]
        assert entry["n_tasks"] == 2 and entry["ci_low"] <= entry["mean"] <= entry["ci_high"]
    (suite_pair,) = suite["suite"]["pairs"]
    assert suite_pair["ci_low"] <= suite_pair["diff"] <= suite_pair["ci_high"]
    assert suite_pair["p_adjusted"] >= suite_pair["p_value"]
    report = run_json(
        "report", "runs/gsm8k", "runs/humaneval", "--passk", "passk.json", "--scaling", "piqa.json", "-o", "report.html"
    )
    ids = [section["id"] for section in report["sections"]]
    assert ids[0] == "suite"
    for task in ("gsm8k", "humaneval"):
        assert {f"leaderboard-{task}", f"differences-{task}"} <= set(ids)
    assert {"passk", "scaling"} <= set(ids)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    for section in ids:
        assert f'id="{section}"' in page, section
    assert sorted(report["samples"]["tasks"]) == ["gsm8k", "humaneval"]
    assert (tmp_path / report["samples"]["path"]).is_file()
