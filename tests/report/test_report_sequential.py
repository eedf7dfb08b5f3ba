"""The report's sequential section: the confidence sequences computed by stats.sequential, drawn as they are."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from assay.api import compare
from assay.errors import DataError
from assay.report import write_report

from .test_report import arr, figure_specs


def scores_csv(path, n=300, seed=0):
    rng = np.random.default_rng(seed)
    rows = [
        {"model": model, "item": f"q{i}", "score": int(rng.random() < p)}
        for model, p in (("strong", 0.85), ("weak", 0.4), ("twin", 0.4))
        for i in range(n)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_compare_sequential_json_is_drawn_as_it_was_computed(tmp_path):
    source = scores_csv(tmp_path / "s.csv")
    result = compare([str(source)], sequential=True, seed=4, batch=10, margin=0.15)
    (tmp_path / "cmp.json").write_text(json.dumps(result.to_dict()))
    report = write_report([str(source)], sequential=tmp_path / "cmp.json", out=tmp_path / "r.html")
    assert [s.id for s in report.sections][:3] == ["leaderboard", "differences", "sequential"]
    (spec,) = figure_specs(report, "sequential")
    bands = [t for t in spec["data"] if t.get("fill") == "tonexty"]
    assert len(bands) == 3
    by_name = {t["name"]: t for t in bands}
    strokes = [t for t in spec["data"] if "decided" in (t.get("hovertemplate") or "")]
    for pair in result.pairs:
        seq = pair.sequential.to_dict()
        band = by_name[f"{pair.a} − {pair.b}"]
        assert arr(band["x"]) == pytest.approx(seq["sequence"]["n"])
        assert arr(band["y"]) == pytest.approx(seq["sequence"]["low"])
        upper = spec["data"][spec["data"].index(band) - 1]
        assert arr(upper["y"]) == pytest.approx(seq["sequence"]["high"])
        if seq["decision"] != "none":
            assert any(
                list(arr(s["x"])) == [seq["n_used"]] * 2
                and arr(s["y"]) == pytest.approx([seq["cs_low"], seq["cs_high"]])
                for s in strokes
            )
    decisions = {(p.a, p.b): p.sequential.decision for p in result.pairs}
    assert sorted(decisions.values()).count("none") < 3  # a 0.45 difference is decided on 300 items
    section = next(s for s in report.sections if s.id == "sequential")
    body = section.html()
    assert "Method.</b>" in body and "Waudby-Smith" in body and "seed 4" in body
    assert body.count("<tr>") == 1 + len(result.pairs)
    # the same result object, and a bad file
    again = write_report([str(source)], sequential=result, out=tmp_path / "r2.html")
    assert figure_specs(again, "sequential") == [spec]
    (tmp_path / "plain.json").write_text(json.dumps(compare([str(source)]).to_dict()))
    with pytest.raises(DataError, match=r"plain\.json: no pair with a confidence sequence"):
        write_report([str(source)], sequential=tmp_path / "plain.json", out=tmp_path / "r3.html")


def test_a_run_that_stopped_when_decided_is_drawn_without_asking(tmp_path):
    from assay.run.runner import run_eval
    from assay.run.stopping import StopRule
    from assay.tasks.arithmetic import arithmetic_task
    from tests.run.test_stop_when_decided import RateFake

    task = arithmetic_task({"digits": "1,2,3", "n": "60"})
    run = run_eval(
        task,
        [RateFake("good", 0.9), RateFake("bad", 0.3)],
        out=tmp_path / "run",
        progress=False,
        stop_when_decided=StopRule(batch=5),
    )
    report = write_report([str(tmp_path / "run")], out=tmp_path / "r.html")
    (spec,) = figure_specs(report, "sequential")
    (band,) = [t for t in spec["data"] if t.get("fill") == "tonexty"]
    stored = json.loads((tmp_path / "run" / "sequential.json").read_text())["pairs"][0]
    assert arr(band["x"])[-1] == run.sequential.n_run and arr(band["y"]) == pytest.approx(stored["sequence"]["low"])
    assert "seed 0" in next(s for s in report.sections if s.id == "sequential").html()
    # a run without the flag has no sequential section, and none is listed as absent
    run_eval(task, [RateFake("good", 0.9), RateFake("bad", 0.3)], out=tmp_path / "other", progress=False)
    other = write_report([str(tmp_path / "other")], out=tmp_path / "o.html")
    assert "sequential" not in [s.id for s in other.sections] and not any("sequential" in k for k in other.absent)
