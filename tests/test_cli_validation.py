"""Bad options get one clear line and exit 2 (never a traceback, never a silently wrong result)."""

import json
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from .servers import REPO, stub_server


def assay(*args, env=None, check=True, cwd=None, timeout=600):
    proc = subprocess.run(
        [sys.executable, "-m", "assay.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stderr}")
    return proc


def refused(proc, *fragments):
    """Exit 2 with one error line that contains every fragment."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])


@pytest.mark.parametrize(
    "args",
    [
        ["--baseline", 0.7, "--mde", 0.03, "--power", 0.04],
        ["--baseline", 0.7, "--mde", 0.03, "--power", 0.05],
        ["--baseline", 0.7, "--mde", 0.03, "--alpha", 0.9],
        ["--baseline", 0.7, "--n-items", 100, "--power", 0.01],
        ["--baseline", 0.7, "--mde", 0.03, "--power", 0.01, "--method", "simulation"],
        ["--metric-type", "continuous", "--sd", 1, "--mde", 0.1, "--power", 0.01],
    ],
)
def test_plan_power_at_or_below_alpha(args):
    refused(assay("plan", *args, check=False), "power must exceed alpha")


def test_plan_power_just_above_alpha_still_plans():
    import math

    from statsmodels.stats.power import NormalIndPower

    plan = json.loads(assay("plan", "--baseline", 0.7, "--mde", 0.03, "--power", 0.06, "--json").stdout)
    # Low power needs few items: statsmodels' solver for Cohen's h, rounded up.
    h = 2 * math.asin(math.sqrt(0.73)) - 2 * math.asin(math.sqrt(0.7))
    assert plan["n_items"] == math.ceil(NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.06))


def test_run_options_refused_before_a_run_dir_exists(tmp_path):
    (tmp_path / "s1.csv").write_text("x\n")
    (tmp_path / "data.jsonl").write_text('{"input": "2+2", "target": "4"}\n')
    base = ["-m", "openai:stub", "--base-url", "http://127.0.0.1:9/v1", "--no-cache"]
    cases = [
        (["arithmetic", "--temperature", "nan"], ["--temperature nan", "finite"]),
        (["arithmetic", "--temperature", "-0.5"], ["--temperature -0.5", "0 or more"]),
        (["arithmetic", "--max-retries", "-1"], ["--max-retries -1", "0 or more"]),
        (["arithmetic", "--fewshot", "-1"], ["--fewshot -1"]),
        (["arithmetic", "--param", "n=-3"], ["--param n=-3", "give at least 1"]),
        (["arithmetic", "--param", "n=0"], ["--param n=0", "give at least 1"]),
        (
            [tmp_path / "data.jsonl", "--template", tmp_path / "prompts" / "my_templat.j2"],
            [f"template file not found: {tmp_path / 'prompts' / 'my_templat.j2'}"],
        ),
        ([tmp_path / "data.jsonl", "--template", "my_prompt.txt"], ["template file not found: my_prompt.txt"]),
    ]
    for args, fragments in cases:
        out = tmp_path / "r"
        refused(assay("run", *args, *base, "--out", out, check=False), *fragments)
        assert not out.exists(), args
    proc = assay("run", "arithmetic", *base, "--out", tmp_path / "s1.csv", check=False)
    refused(proc, f"--out {tmp_path / 's1.csv'}", "existing file")
    assert (tmp_path / "s1.csv").read_text() == "x\n"


def test_template_file_or_text_is_used(tmp_path):
    (tmp_path / "data.jsonl").write_text('{"input": "2+2", "target": "4"}\n')
    (tmp_path / "t.j2").write_text("Sum: {{ input }}")
    with stub_server() as url:
        for template in (tmp_path / "t.j2", "Answer yes/no: {{ input }}"):
            out = tmp_path / f"r{len(str(template))}"
            assay(
                "run",
                tmp_path / "data.jsonl",
                "-m",
                "openai:stub",
                "--base-url",
                url + "/v1",
                "--no-cache",
                "--template",
                template,
                "--out",
                out,
            )
            assay("export", out, "-o", out / "s.jsonl")
            prompt = json.loads((out / "s.jsonl").read_text().splitlines()[0])["prompt"]
            assert ("Sum: 2+2" if template == tmp_path / "t.j2" else "Answer yes/no: 2+2") in json.dumps(prompt)


def test_judge_limit_must_be_positive(tmp_path):
    with stub_server() as url:
        assay(
            "run",
            "arithmetic",
            "-m",
            "openai:stub",
            "--base-url",
            url + "/v1",
            "--no-cache",
            "--limit",
            5,
            "--out",
            tmp_path / "r",
        )
    for limit in (-2, 0):
        refused(
            assay("judge", tmp_path / "r", "--protocol", "exact", "--limit", limit, check=False),
            f"--limit {limit}",
            "give at least 1",
        )
    judged = json.loads(assay("judge", tmp_path / "r", "--protocol", "exact", "--limit", 2, "--json").stdout)
    assert judged["judges"]["exact"]["n"] == 2


def test_import_pairs_limit_and_output(tmp_path):
    pairs = [{"input": f"q{i}", "output_1": f"a{i}", "output_2": f"b{i}", "label": 1 + i % 2} for i in range(12)]
    (tmp_path / "pairs.json").write_text(json.dumps(pairs))
    for limit in (0, -1):
        out = tmp_path / f"p{limit}"
        refused(
            assay("import-pairs", tmp_path / "pairs.json", "-o", out, "--limit", limit, check=False),
            f"--limit {limit}",
            "give at least 1",
        )
        assert not out.exists()
    (tmp_path / "file.csv").write_text("x\n")
    refused(
        assay("import-pairs", tmp_path / "pairs.json", "-o", tmp_path / "file.csv", check=False),
        str(tmp_path / "file.csv"),
        "existing file",
    )
    done = json.loads(
        assay("import-pairs", tmp_path / "pairs.json", "-o", tmp_path / "p", "--limit", 3, "--json").stdout
    )
    assert done["n_items"] == 3
    # the same pairs again are fine; pairs into another task's run are not
    assay("import-pairs", tmp_path / "pairs.json", "-o", tmp_path / "p")
    (tmp_path / "other.json").write_text(json.dumps(pairs[:2]))
    refused(
        assay("import-pairs", tmp_path / "other.json", "-o", tmp_path / "p", check=False),
        "holds a run of 'pairs'",
        "new directory",
    )


def test_import_pairs_library_refuses_the_same():
    from assay.errors import ConfigError
    from assay.judge.pairs import import_pairs

    with pytest.raises(ConfigError, match="--limit -1: give at least 1"):
        import_pairs("unused.json", "unused", limit=-1)


def write_power_csv(path, blank_and_missing=False):
    rows = ["N,loss", "1e6,3.0", "1e7,2.6"]
    rows += ["", "1e8,"] if blank_and_missing else ["1e8,2.35"]
    rows += ["1e9,2.2", "1e10,2.1", "1e11,2.05"]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_scale_fit_names_file_line_saves_path_and_report_draws_points(tmp_path):
    bad = write_power_csv(tmp_path / "p_nan.csv", blank_and_missing=True)
    refused(
        assay("scale", "fit", bad, "--law", "power", "--x", "N", "--y", "loss", check=False),
        f"{bad} line 5: column 'loss' is missing",
    )
    good = write_power_csv(tmp_path / "pow.csv")
    out = tmp_path / "nodir" / "f.json"
    assay("scale", "fit", good, "--law", "power", "--x", "N", "--y", "loss", "-o", out)
    assert json.loads(out.read_text())["source"] == str(good)
    report = json.loads(assay("report", "--scaling", out, "-o", tmp_path / "rep.html", "--json").stdout)
    notes = " ".join(w for s in report["sections"] for w in s["warnings"])
    assert "does not name a data file" not in notes and "not found" not in notes
    assert "fitted point" in (tmp_path / "rep.html").read_text()
    refused(
        assay("scale", "fit", good, "--law", "power", "--x", "N", "--y", "loss", "-o", tmp_path / "nodir", check=False),
        "is a directory",
    )


def test_scale_chance_on_the_wrong_scale(tmp_path):
    rows = ["model,params,task,metric,value"]
    for i, n in enumerate(np.geomspace(1e7, 1e11, 8)):
        rows.append(f"m{i},{n:g},piqa,acc,{0.5 + 0.4 / (1 + np.exp(-2 * (np.log10(n) - 9))):.4f}")
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    args = [
        "scale",
        "fit",
        tmp_path / "data.csv",
        "--pivot",
        "task,metric",
        "--law",
        "sigmoid",
        "--x",
        "params",
        "--y",
        "piqa/acc",
    ]
    refused(assay(*args, "--chance", 50, check=False), "--chance 50 is outside [0, 1]", "piqa/acc")
    fit = json.loads(assay(*args, "--chance", 0.5, "--json").stdout)
    assert fit["params"]["floor"] == 0.5
    # the report widens the long table the fit names again and draws its points
    assay(*args, "--chance", 0.5, "-o", tmp_path / "fit.json")
    report = json.loads(
        assay("report", "--scaling", tmp_path / "fit.json", "-o", tmp_path / "rep.html", "--json").stdout
    )
    notes = " ".join(w for s in report["sections"] for w in s["warnings"])
    assert "not found" not in notes and "fitted point" in (tmp_path / "rep.html").read_text()


def test_readme_backtest_example_runs(tmp_path):
    line = next(x for x in (REPO / "README.md").read_text().splitlines() if x.startswith("assay scale backtest"))
    argv = shlex.split(line)[1:]
    # The synthetic table below is already wide and holds only the law's columns:
    # the options that select from the shipped long table do not apply to it.
    for option in ("--pivot", "--where", "-o"):
        if option in argv:
            at = argv.index(option)
            del argv[at : at + 2]
    rng = np.random.default_rng(3)
    n = np.exp(rng.uniform(np.log(4e7), np.log(1.6e10), 60))
    d = n * np.exp(rng.uniform(np.log(2), np.log(200), 60))
    loss = (1.82 + 482 / n**0.35 + 2085 / d**0.37) * np.exp(0.01 * rng.standard_normal(60))
    x_cols = argv[argv.index("--x") + 1].split(",")
    data = argv[2]
    pd.DataFrame({x_cols[0]: n, x_cols[1]: d, argv[argv.index("--y") + 1]: loss}).to_csv(tmp_path / data, index=False)
    proc = assay(*argv, "--bootstrap", 20, env={"COLUMNS": "200"}, cwd=tmp_path)
    assert "chinchilla" in proc.stdout and "power" in proc.stdout
    assert f"power takes 1 x column(s): fitted on {x_cols[0]} only" in proc.stdout
    result = json.loads(assay(*argv, "--bootstrap", 20, "--json", cwd=tmp_path).stdout)
    assert result["laws"] == ["chinchilla", "power"] and result["columns"]["power"]["x"] == x_cols[:1]
    assert all(np.isfinite(result["summary"][law]["mean_rel_error"]) for law in result["laws"])


def test_help_texts():
    env = {"COLUMNS": "250"}
    run_help = assay("run", "--help", env=env).stdout
    assert "--no-cache" in run_help and "--no-no-cache" not in run_help
    judge_help = assay("judge", "--help", env=env).stdout
    base_url = next(x for x in judge_help.splitlines() if "--base-url" in x)
    assert "endpoint" in base_url
    backtest_help = assay("scale", "backtest", "--help", env=env).stdout
    options = [x for x in backtest_help.splitlines() if x.lstrip("│ *").startswith("--") and "--help" not in x]
    assert len(options) >= 11
    for option in options:
        # "--name  <type>  help text [default: ...]": some text after the type besides the brackets
        assert re.sub(r"\[[^\]]*\]", "", option.split(">", 1)[1]).strip(" │"), option
