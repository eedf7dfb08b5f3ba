"""The report's content: sections, numbers that match the statistics, self-containment, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assay.errors import ConfigError, DataError
from assay.report import write_report
from assay.report.page import Figure

ALL_SECTIONS = [
    "leaderboard",
    "differences",
    "difficulty",
    "judges",
    "agreement",
    "bias",
    "scaling",
    "passk",
    "provenance",
    "samples",
]


def arr(value) -> np.ndarray:
    """A trace's array as plotly stores it: a JSON list or a base64 typed array."""
    if isinstance(value, dict) and "bdata" in value:
        import base64

        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value, dtype=float)


def figure_specs(result, section_id: str) -> list[dict]:
    section = next(s for s in result.sections if s.id == section_id)
    return [json.loads(b.spec) for b in section.blocks if isinstance(b, Figure)]


def test_every_section_present_with_its_method(report):
    assert [s.id for s in report.sections] == ALL_SECTIONS
    assert report.absent == {}
    d = report.to_dict()
    assert d["figures"] == 9 and d["path"] == report.path
    text = Path(report.path).read_text()
    for section in report.sections:
        body = section.html()
        assert 'class="caption"><b>Method.</b>' in body, section.id
    # every figure's points carry a hover text that names an interval or a method
    for section in report.sections:
        for spec in figure_specs(report, section.id):
            hovers = [t.get("hovertemplate", "") for t in spec["data"] if t.get("hovertemplate")]
            assert hovers, section.id
            assert any(re.search(r"CI|interval|bootstrap|forecast", h) for h in hovers), section.id
    assert text.count('<section class="part"') == len(ALL_SECTIONS)


def test_self_contained_with_plotly_once(report):
    from plotly.offline import get_plotlyjs

    text = Path(report.path).read_text()
    assert not re.search(r"<script[^>]+src=", text) and not re.search(r"<link[^>]+href=", text)
    assert not re.search(r"url\(\s*['\"]?https?:", text)
    marker = get_plotlyjs()[200:400]
    assert text.count(marker) == 1
    assert report.n_bytes == len(text.encode())


def test_leaderboard_matches_compare(report, inputs):
    from assay.api import compare

    with pytest.warns(UserWarning):
        expected = compare([inputs["run"]])
    (spec,) = figure_specs(report, "leaderboard")
    drawn = {}
    for trace in spec["data"]:
        for x, y, custom in zip(trace["x"], trace["y"], trace["customdata"]):
            drawn[y] = (x, custom[0], custom[1])
    assert list(expected.models) == ["large", "medium", "small"]
    for name, m in expected.models.items():
        assert drawn[name] == pytest.approx((m.ci.mean, m.ci.low, m.ci.high))
    # tied groups become one trace each; three clearly different models are three groups
    assert [t["name"] for t in spec["data"]] == [f"tied group {i + 1}" for i in range(len(expected.tied_groups))]
    (forest,) = figure_specs(report, "differences")
    diffs = sorted(x for t in forest["data"] for x in t["x"])
    assert diffs == pytest.approx(sorted(p.result.diff for p in expected.pairs))


def test_difficulty_means_and_intervals(report, inputs):
    from assay.run.store import open_run, scores_frame
    from assay.stats.intervals import mean_ci

    (spec,) = figure_specs(report, "difficulty")
    scores = scores_frame(inputs["run"])
    with open_run(inputs["run"]) as store:
        level = {k: v.meta["difficulty"] for k, v in store.items().items()}
    scores["difficulty"] = scores["item"].map(level)
    per_item = scores.groupby(["model", "difficulty", "item"])["score"].mean()
    levels = ["digits=1,ops=1", "digits=2,ops=1", "digits=3,ops=1"]
    assert spec["layout"]["xaxis"]["ticktext"] == levels
    shifts = set()
    for trace in spec["data"]:
        assert [c[4] for c in trace["customdata"]] == levels
        # Each model's points sit beside their level, apart from the other models' points.
        offsets = np.asarray(trace["x"], dtype=float) - np.arange(3)
        assert np.allclose(offsets, offsets[0]) and abs(offsets[0]) <= 0.15
        shifts.add(round(float(offsets[0]), 6))
        for x, y, custom in zip(levels, trace["y"], trace["customdata"]):
            ci = mean_ci(per_item.loc[(trace["name"], x)].to_numpy(), seed=0, n_resamples=2000)
            assert (y, custom[0], custom[1], custom[3]) == pytest.approx((ci.mean, ci.low, ci.high, ci.n))
            assert custom[0] <= y <= custom[1]
    assert len(shifts) == len(spec["data"])
    small = next(t for t in spec["data"] if t["name"] == "small")
    assert small["y"][0] > small["y"][-1]  # three-digit sums are harder for the weak model


def test_a_model_has_one_colour_in_every_figure(report):
    (board,) = figure_specs(report, "leaderboard")
    colour = {}
    for trace in board["data"]:
        for model, c in zip(trace["y"], trace["marker"]["color"]):
            colour[model] = c
    assert len(set(colour.values())) == len(colour)  # one colour each
    for section in ("difficulty", "passk"):
        for spec in figure_specs(report, section):
            for trace in spec["data"]:
                if trace.get("name") in colour:
                    assert trace["line"]["color"] == colour[trace["name"]], (section, trace["name"])


def test_bias_effects_in_different_units_get_their_own_axes(inputs, tmp_path):
    audit = json.loads(Path(inputs["audit"]).read_text())
    audit["probes"] = [
        {"probe": "verbosity", "judge": "j", "effect": 0.8, "low": 0.2, "high": 1.4, "n": 40,
         "unit": "rating points (1–10 scale)"},
        {"probe": "position", "judge": "j", "effect": 0.1, "low": 0.02, "high": 0.2, "n": 40,
         "unit": "share of verdicts"},
    ]  # fmt: skip
    result = write_report(audit=audit, out=tmp_path / "r.html")
    specs = figure_specs(result, "bias")
    assert len(specs) == 2
    by_axis = {spec["layout"]["xaxis"]["title"]["text"]: spec["data"][0]["y"] for spec in specs}
    ratings = next(names for title, names in by_axis.items() if "rating points" in title)
    shares = next(names for title, names in by_axis.items() if "share of verdicts" in title)
    assert ratings == ["j · verbosity"] and "j · position" in shares and "j · verbosity" not in shares


def test_competing_laws_get_their_own_coverage_and_curves(tmp_path):
    from assay.scaling import backtest

    evals = pd.read_csv(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pythia_opt_bloom_evals.csv")
    lambada = evals.query("family == 'pythia' and shots == 0 and task == 'lambada_openai' and metric == 'ppl'")
    lambada = lambada.rename(columns={"value": "ppl"}).query("step in (33000, 143000)")
    test = backtest(lambada, "kaplan", "params,tokens", "ppl", holdout_largest=2, compare="power", bootstrap=20)
    result = write_report(scaling=[(test, lambada)], out=tmp_path / "r.html")
    section = next(s for s in result.sections if s.id == "scaling")
    caption = next(b for b in section.blocks if isinstance(b, str) and "held-out" in b)
    rows = pd.DataFrame(test.rows)
    for law in ("kaplan", "power"):
        judged = rows.loc[rows["law"] == law, "covered"].dropna()
        assert f"{judged.mean():.0%} of {len(judged)} for {law}" in caption
    (spec,) = figure_specs(result, "scaling")
    power = [t["name"] for t in spec["data"] if t.get("name", "").startswith("fit: power")]
    kaplan = [t["name"] for t in spec["data"] if t.get("name", "").startswith("fit: kaplan")]
    assert power == ["fit: power"] and all("tokens=" in n for n in kaplan) and len(kaplan) > 1
    assert spec["layout"]["legend"]["orientation"] == "h"


def test_judges_jury_and_costs(report, inputs):
    audit = json.loads(Path(inputs["audit"]).read_text())
    (spec,) = figure_specs(report, "judges")
    accuracy, kappa, cost = spec["data"]
    names = [j["judge"] for j in audit["judges"]] + [audit["jury"]["majority"]["judge"]]
    assert accuracy["y"] == names
    assert accuracy["x"] == pytest.approx(
        [j["accuracy"]["value"] for j in audit["judges"]] + [audit["jury"]["majority"]["accuracy"]["value"]]
    )
    verdicts = pd.read_csv(Path(inputs["tmp"]) / "verdicts.csv")
    tokens = (verdicts["tokens_in"] + verdicts["tokens_out"]).groupby(verdicts["judge"]).mean()
    assert cost["x"][:3] == pytest.approx([tokens[n] for n in names[:3]])
    assert cost["x"][3] == pytest.approx(tokens.sum())  # every judge rated every item in both orders
    (heat,) = figure_specs(report, "agreement")
    z = np.array(heat["data"][0]["z"], dtype=float)
    assert np.allclose(z, z.T, equal_nan=True) and np.all(np.isnan(np.diag(z)))
    assert z[0, 1] == pytest.approx(audit["judges"][0]["cohens_kappa"]["value"])
    assert np.all(np.isfinite(z[1:, 1:][~np.eye(3, dtype=bool)]))  # judge-to-judge kappas from the verdicts file


def test_scaling_band_data_and_heldout(report):
    fit_spec, backtest_spec = figure_specs(report, "scaling")
    traces = {t["name"]: t for t in fit_spec["data"]}
    band, curve, points = traces["95% band (sigmoid)"], traces["fit: sigmoid"], traces["fitted data"]
    assert len(points["x"]) == 10  # Pythia piqa at the final step, read back from the CSV the fit names
    y, band_y = arr(curve["y"]), arr(band["y"])
    n = len(y)
    upper, lower = band_y[:n], band_y[n:][::-1]
    assert len(band_y) == 2 * n and np.all(upper - lower > 0)
    assert np.all(lower <= y + 1e-12) and np.all(y <= upper + 1e-12)
    held = [t for t in backtest_spec["data"] if t["name"].startswith("held-out truth")]
    assert held and all(len(arr(t["x"])) > 0 for t in held)
    assert min(arr(t["x"]).min() for t in held) > 2e9  # the two largest Pythia models are the held-out ones
    assert backtest_spec["layout"]["yaxis"]["type"] == "log"  # perplexity spans decades


def test_sections_absent_say_why(tmp_path):
    scores = tmp_path / "scores.csv"
    pd.DataFrame(
        {"model": "only", "item": [f"i{i}" for i in range(20)], "score": [i % 3 == 0 for i in range(20)]}
    ).astype({"score": int}).to_csv(scores, index=False)
    result = write_report([scores], out=tmp_path / "r.html")
    assert [s.id for s in result.sections] == ["leaderboard", "samples"]
    assert "fewer than two models" in result.absent["pairwise differences"]
    assert "no audit" in result.absent["judges"]
    assert "several samples" in result.absent["pass@k"]
    assert "Absent sections" in Path(result.path).read_text()


def test_difficulty_column_in_a_score_file(tmp_path):
    from tests.report.data import make_scores_csv

    result = write_report([make_scores_csv(tmp_path / "s.csv")], out=tmp_path / "r.html")
    (spec,) = figure_specs(result, "difficulty")
    assert [c[4] for c in spec["data"][0]["customdata"]] == ["easy", "hard"]
    assert all(t["y"][0] > t["y"][1] for t in spec["data"])


def test_passk_from_a_saved_result(tmp_path):
    from assay.stats.passk import passk_report

    rng = np.random.default_rng(0)
    rows = [
        {"model": m, "item": f"i{i}", "sample": s, "score": int(rng.random() < p)}
        for m, p in (("a", 0.3), ("b", 0.1))
        for i in range(40)
        for s in range(10)
    ]
    saved = tmp_path / "passk.json"
    saved.write_text(json.dumps(passk_report(pd.DataFrame(rows), [1, 2, 5, 10], n_boot=200).to_dict()))
    result = write_report(passk=saved, out=tmp_path / "r.html")
    assert [s.id for s in result.sections] == ["passk"]
    (spec,) = figure_specs(result, "passk")
    a = next(t for t in spec["data"] if t["name"] == "a")
    b = next(t for t in spec["data"] if t.get("name") == "b")
    assert [c[3] for c in a["customdata"]] == [1, 2, 5, 10] and a["y"] == sorted(a["y"])
    # Drawn a few percent either side of k on the log axis, so equal values do not hide each other.
    assert np.allclose(np.asarray(a["x"]) / [1, 2, 5, 10], a["x"][0]) and a["x"][0] != b["x"][0]
    assert 0.9 < a["x"][0] < 1.1 and 0.9 < b["x"][0] < 1.1
    assert any(t["line"].get("dash") == "dash" for t in spec["data"] if t.get("mode") == "lines")


def test_bad_input_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="nothing to report"):
        write_report([], out=tmp_path / "r.html")
    bad = tmp_path / "fit.json"
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(DataError, match=r"fit\.json: neither a scaling fit nor a backtest; give a fit JSON"):
        write_report(scaling=[bad], out=tmp_path / "r.html")
    bad.write_text("{not json")
    with pytest.raises(DataError, match=r"fit\.json: not a JSON scaling fit file"):
        write_report(scaling=[bad], out=tmp_path / "r.html")
    with pytest.raises(DataError, match=r"missing\.json: no such audit file"):
        write_report(audit=tmp_path / "missing.json", out=tmp_path / "r.html")
    audit = tmp_path / "audit.json"
    audit.write_text(json.dumps({"models": {}}))
    with pytest.raises(DataError, match=r"audit\.json: not a judge audit"):
        write_report(audit=audit, out=tmp_path / "r.html")
    with pytest.raises(ConfigError, match="is a directory"):
        write_report(passk={"models": {"a": {"pass@1": {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6}}}}, out=tmp_path)


def test_attached_bias_probes_are_drawn(inputs, tmp_path):
    audit = json.loads(Path(inputs["audit"]).read_text())
    audit["probes"] = [
        {
            "probe": "verbosity",
            "judge": "judge-large",
            "applicable": True,
            "effect": 0.12,
            "low": 0.05,
            "high": 0.2,
            "method": "paired bootstrap",
            "n": 150,
        },
        {
            "probe": "self-preference",
            "judge": "judge-mid",
            "applicable": False,
            "effect": None,
            "low": None,
            "high": None,
            "method": "",
            "n": 0,
            "reason": "no outputs of the judge's own family",
        },
    ]
    result = write_report(audit=audit, out=tmp_path / "r.html")
    (spec,) = figure_specs(result, "bias")
    names = spec["data"][0]["y"]
    row = names.index("judge-large · verbosity")
    assert spec["data"][0]["x"][row] == pytest.approx(0.12)
    assert not any("self-preference" in n for n in names)  # not applicable: nothing to draw


def test_a_run_without_scores_is_left_out_with_a_note(tmp_path):
    from assay.run.runner import run_eval
    from assay.tasks.arithmetic import arithmetic_task
    from assay.tasks.registry import get_task
    from tests.run.fakes import ArithmeticFake

    run_eval(arithmetic_task({"n": "4"}), [ArithmeticFake()], out=tmp_path / "scored", progress=False)
    (tmp_path / "open.jsonl").write_text('{"question": "2 + 2"}\n{"question": "3 + 3"}\n')
    run_eval(get_task(str(tmp_path / "open.jsonl")), [ArithmeticFake()], out=tmp_path / "open", progress=False)
    result = write_report([tmp_path / "scored", tmp_path / "open"], out=tmp_path / "r.html")
    assert any("stored without a scorer" in w for w in result.warnings)
    assert "leaderboard" not in result.absent
    with pytest.raises(DataError, match="nothing to report: .*open: its outputs were stored without a scorer"):
        write_report([tmp_path / "open"], out=tmp_path / "r2.html")
