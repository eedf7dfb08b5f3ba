"""The real two-judge jury (smollm2, a chat model of the smollm family, and
gemma3-270m, a base model of the gemma family) on a tiny run, and bias probes
with a real judge. Both judges are tiny, so their verdicts are poor: these
tests check the machinery (counts, orders, hashes, invalid kept as invalid)."""

from __future__ import annotations

import sqlite3

import pytest

from assay.judge.judging import judge_run
from assay.judge.prompts import load_template

pytestmark = pytest.mark.slow
JURY = ["smollm2", "gemma3-270m"]
MODELS = sorted(JURY)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from assay.api import run

    out = tmp_path_factory.mktemp("judged") / "run"
    run("arithmetic", JURY, limit=3, max_tokens=12, out=out, progress=False, use_cache=False)
    return out


def rows(run_dir, protocol):
    conn = sqlite3.connect(run_dir / "assay.db")
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute("SELECT * FROM verdicts WHERE protocol = ?", (protocol,))]


def check_invalid_not_coerced(stored):
    for row in stored:
        if row["invalid"]:
            assert row["score"] is None and row["verdict"] is None and row["raw"] is not None
        else:
            assert row["verdict"] is not None


def test_pointwise_jury(tiny_run):
    result = judge_run(
        tiny_run,
        JURY,
        protocol="pointwise",
        limit=1,
        max_tokens=48,
        progress=False,
        prices={"smollm2": (0.0, 0.0), "gemma3-270m": (0.1, 0.2)},
    )
    assert result.pool == "mean" and result.models == MODELS
    for name in JURY:
        s = result.judges[name]
        assert s.n == 2 and s.calls == 2 and s.tokens_in > 0 and s.cost is not None
        assert s.invalid <= s.n
        for model, mean in (s.mean_score or {}).items():
            assert 1 <= mean <= 10
    assert result.judges["smollm2"].cost == 0.0
    assert result.jury.calls == 4 and result.jury.cost == pytest.approx(result.judges["gemma3-270m"].cost)
    stored = rows(tiny_run, "pointwise")
    assert len(stored) == 4 and {r["template_hash"] for r in stored} == {load_template("pointwise").hash}
    check_invalid_not_coerced(stored)
    assert sum(r["invalid"] for r in stored) == sum(result.judges[j].invalid for j in JURY)
    again = judge_run(tiny_run, JURY, protocol="pointwise", limit=1, max_tokens=48, progress=False)
    assert again.jury.calls == 0 and again.jury.cache_hits == 4
    assert again.to_dict()["jury"]["mean_score"] == result.to_dict()["jury"]["mean_score"]


def test_pairwise_jury_judges_both_orders(tiny_run):
    result = judge_run(tiny_run, JURY, protocol="pairwise", limit=1, max_tokens=48, progress=False)
    stored = rows(tiny_run, "pairwise")
    assert len(stored) == 4
    for name in JURY:
        mine = [r for r in stored if r["judge"] == name]
        assert sorted(r["order"] for r in mine) == ["original", "swapped"]
        assert {(r["model"], r["model_b"]) for r in mine} == {tuple(MODELS)}
        assert {r["verdict"] for r in mine if not r["invalid"]} <= {"1", "2", "tie"}
        consistency = result.judges[name].position_consistency
        assert 0 <= consistency["n"] <= 1
        if consistency["n"]:
            assert 0.0 <= consistency["value"] <= 1.0
    check_invalid_not_coerced(stored)
    payload = result.to_dict()
    assert set(payload["jury"]["win_rates"]) <= set(MODELS) and payload["protocol"] == "pairwise"


def test_reference_jury(tiny_run):
    result = judge_run(tiny_run, JURY, protocol="reference", limit=1, max_tokens=48, progress=False)
    stored = rows(tiny_run, "reference")
    assert len(stored) == 4 and {r["verdict"] for r in stored if not r["invalid"]} <= {"0", "1"}
    check_invalid_not_coerced(stored)
    for name in JURY:
        assert result.judges[name].n == 2
    assert result.jury.n == 2


def test_probes_with_a_real_judge(shared_data, tiny_run):
    from assay.judge.audit import human_pairs_to_labels
    from assay.judge.probes import run_probes

    pairs = human_pairs_to_labels(shared_data / "judge_human_labels" / "llmeval2.json")
    # The shortest pairs keep the prompts (and this test) small on a shared CPU.
    length = pairs["input"].str.len() + pairs["output_1"].str.len() + pairs["output_2"].str.len()
    pairs = pairs.loc[length.nsmallest(6).index]
    results = run_probes("gemma3-270m", items=pairs, run_dir=tiny_run, n=2, max_tokens=40, n_boot=200)
    by_name = {r.probe: r for r in results}
    assert set(by_name) == {"verbosity", "position", "self_preference"}
    for probe in ("verbosity", "position"):
        r = by_name[probe]
        assert r.applicable and r.n + r.n_invalid >= 2
        if r.effect is not None:
            assert r.method and (r.low is None or r.low <= r.effect <= r.high)
    assert sum(by_name["position"].detail["identical_counts"].values()) <= 2
    selfpref = by_name["self_preference"]
    assert selfpref.applicable and selfpref.detail["own"] == ["gemma3-270m"] and selfpref.detail["other"] == ["smollm2"]
    assert -1.0 <= (selfpref.effect if selfpref.effect is not None else 0.0) <= 1.0
    alone = run_probes("gemma3-270m", probes=("self_preference",))
    assert not alone[0].applicable and "run directory" in alone[0].reason
    assert "not applicable" in alone[0].render()


def test_an_embedded_judge_takes_n_ctx(tiny_run):
    from assay.errors import IncompleteRunError

    # A 64-token window cannot hold a judge prompt: every request fails, naming the window it had.
    with pytest.raises(IncompleteRunError) as caught:
        judge_run(
            tiny_run,
            ["smollm2"],
            protocol="pointwise",
            limit=1,
            progress=False,
            n_ctx=64,
            use_cache=False,
            max_tokens=33,
        )  # settings no other test uses, so no stored verdict answers
    summary = caught.value.result.judges["smollm2"]
    assert summary.errors == 2 and summary.n == 0
    errors = {r["error"] for r in rows(tiny_run, "pointwise") if r["judge"] == "smollm2" and r["error"]}
    assert errors and all("--n-ctx (now 64)" in e for e in errors)
