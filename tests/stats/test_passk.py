import itertools
import json
import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from assay.errors import ConfigError, DataError
from assay.run.pass_until import resolve_pass_until
from assay.stats.passk import (
    aggregate_pass_at_k,
    aggregate_pass_at_k_many,
    coverage_curve,
    fit_coverage,
    log_k_grid,
    majority_vote_curve,
    pass_at_k,
    passk_report,
    vote_key,
)

from ..servers import stub_server


def enumerate_pass_at_k(n: int, c: int, k: int) -> float:
    outcomes = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize(
    "n,c,k", [(1, 0, 1), (1, 1, 1), (5, 1, 2), (6, 2, 3), (8, 3, 5), (7, 0, 4), (7, 5, 3), (9, 4, 9)]
)
def test_pass_at_k_matches_enumeration(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(enumerate_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_k_exact_for_large_n():
    for n, c, k in [(5000, 3, 100), (3000, 1, 1), (4000, 2000, 50), (2000, 7, 1999)]:
        exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
        assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-9, abs=1e-12)


def test_pass_at_1_is_the_pass_fraction_and_vectorises():
    n = np.array([10, 20, 30])
    c = np.array([3, 0, 30])
    assert np.allclose(pass_at_k(n, c, 1), c / n)
    assert np.allclose(pass_at_k(10, 3, [1, 2, 10]), [0.3, 1 - (7 * 6) / (10 * 9), 1.0])


def test_no_pass_is_plus_zero():
    # -expm1(0) is -0.0, which a table prints as "-0" and JSON as -0.0.
    for n, k in [(1, 1), (10, 3), (200, 200)]:
        value = pass_at_k(n, 0, k)
        assert value == 0.0 and math.copysign(1.0, value) == 1.0 and json.dumps(value) == "0.0"
    values = pass_at_k(np.array([5, 5]), np.array([0, 2]), 2)
    assert math.copysign(1.0, values[0]) == 1.0 and values[1] > 0


def test_pass_at_k_rejects_bad_input():
    with pytest.raises(ConfigError, match=r"k=11.*n=10"):
        pass_at_k(10, 2, 11)
    with pytest.raises(ConfigError, match="k=0"):
        pass_at_k(10, 2, 0)
    with pytest.raises(DataError, match="c"):
        pass_at_k(10, 11, 1)


def test_aggregate_bootstrap_is_over_items_and_seeded():
    rng = np.random.default_rng(3)
    n = np.full(40, 20)
    c = rng.binomial(20, rng.beta(0.5, 2, 40))
    res = aggregate_pass_at_k(n, c, 5, seed=11, n_boot=500)
    per_item = pass_at_k(n, c, 5)
    assert res.value == pytest.approx(per_item.mean())
    # The same resampling done naively gives the same interval.
    draws = per_item[np.random.default_rng(11).integers(0, 40, size=(500, 40))].mean(axis=1)
    assert res.ci_low == pytest.approx(np.quantile(draws, 0.025))
    assert res.ci_high == pytest.approx(np.quantile(draws, 0.975))
    assert res.ci_low < res.value < res.ci_high
    assert aggregate_pass_at_k(n, c, 5, seed=11, n_boot=500) == res
    assert aggregate_pass_at_k(n, c, 5, seed=12, n_boot=500).ci_low != res.ci_low
    many = aggregate_pass_at_k_many(n, c, [1, 5], seed=11, n_boot=500)
    assert many[1].ci_low == pytest.approx(res.ci_low)
    assert "bootstrap" in res.render() and res.to_dict()["method"].endswith("bootstrap over items")


def test_log_grid_covers_one_to_n():
    grid = log_k_grid(1000, 15)
    assert grid[0] == 1 and grid[-1] == 1000
    assert np.all(np.diff(grid) > 0)
    assert list(log_k_grid(1)) == [1]


def test_fit_recovers_an_exponentiated_power_law():
    ks = np.array([1, 2, 4, 8, 16, 32, 64, 128])
    coverage = np.exp(-1.7 * ks**-0.45)
    fit = fit_coverage(ks, coverage, extrapolate_to=[1280])
    assert fit.a == pytest.approx(-1.7, rel=1e-9)
    assert fit.b == pytest.approx(-0.45, rel=1e-9)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.extrapolation[1280] == pytest.approx(math.exp(-1.7 * 1280**-0.45))
    empty = fit_coverage([1, 2], [0.0, 1.0])
    assert empty.a is None and "fewer than two" in empty.note
    with pytest.raises(ConfigError):
        empty.predict(10)


def test_coverage_curve_rises_and_is_fitted():
    rng = np.random.default_rng(0)
    p = rng.beta(0.2, 3, 300)
    c = rng.binomial(200, p)
    curve = coverage_curve(np.full(300, 200), c)
    assert curve.ks[0] == 1 and curve.ks[-1] == 200
    assert np.all(np.diff(curve.coverage) >= 0)
    assert curve.coverage[0] == pytest.approx(c.mean() / 200)
    assert curve.fit.b < 0 < curve.fit.r2
    assert set(curve.fit.extrapolation) == {2000, 20000}
    assert curve.fit.extrapolation[20000] >= curve.fit.extrapolation[2000]


def test_majority_vote_matches_exact_small_case():
    # Answers a, a, b with a right. k=1: 2/3. k=2: {a,a} right, {a,b} a tie
    # counted half: (1 + 0.5 + 0.5) / 3. k=3: a wins.
    curve = majority_vote_curve([["a", "a", "b"]], [[1, 1, 0]], ks=[1, 2, 3], n_draws=6000, seed=1)
    assert curve.accuracy[0] == pytest.approx(2 / 3, abs=0.03)
    assert curve.accuracy[1] == pytest.approx(2 / 3, abs=0.03)
    assert curve.accuracy[2] == 1.0
    # Samples without an answer cast no vote; nobody voting counts wrong.
    none = majority_vote_curve([[None, None, "a"]], [[0, 0, 1]], ks=[3], n_draws=10)
    assert none.accuracy == [1.0]
    # One item where nobody voted counts wrong next to others...
    mixed = majority_vote_curve([[None, float("nan")], ["a", "a"]], [[0, 0], [1, 1]], ks=[1, 2], n_draws=10)
    assert mixed.accuracy == [0.5, 0.5]
    # ...but with no answer anywhere there is no majority vote, not an accuracy of 0.
    with pytest.raises(DataError, match="no sample has one"):
        majority_vote_curve([[None, float("nan")]], [[0, 0]], ks=[1, 2], n_draws=10)


def test_scorer_found_nothing_casts_no_vote():
    # The numeric scorer stores "no number" when it finds none; two such samples
    # must not outvote the one real answer (they used to, giving 0 at k=3).
    curve = majority_vote_curve([["no number", "no number", "42"]], [[0, 0, 1]], ks=[3], n_draws=10)
    assert curve.accuracy == [1.0]
    for detail in ("no match", "matched 'x' but no group captured", None, float("nan"), "  "):
        assert vote_key(detail) is None


def test_numbers_vote_by_value_and_text_normalised():
    # "1,000" and "1000" are one answer (as the numeric scorer sees them): it
    # wins every 3-subset 2 to 1. Voting on raw strings made a three-way tie (2/3).
    curve = majority_vote_curve([["1,000", "1000.0", "7"]], [[1, 1, 0]], ks=[3], n_draws=10)
    assert curve.accuracy == [1.0]
    assert vote_key("$1,000") == vote_key("1000") == vote_key("1000.") != vote_key("100")
    assert vote_key("The Paris.") == vote_key("paris") and vote_key("a") == "a"


def _frame(seed=0, items=60, samples=50, models=("small", "big")):
    rng = np.random.default_rng(seed)
    rows = []
    for m, model in enumerate(models):
        p = rng.beta(0.3 + m, 4, items)
        for i in range(items):
            for s in range(samples):
                ok = rng.random() < p[i]
                answer = "right" if ok else f"wrong{rng.integers(0, 3)}"
                rows.append({"model": model, "item": f"q{i}", "sample": s, "score": float(ok), "answer": answer})
    return pd.DataFrame(rows)


def test_passk_report_shape_and_values():
    frame = _frame()
    report = passk_report(frame, [1, 10, 50], seed=4, n_boot=300)
    d = report.to_dict()
    json.dumps(d, allow_nan=False)
    assert set(d["models"]) == {"small", "big"}
    for name, entry in d["models"].items():
        assert set(entry) == {"pass@1", "pass@10", "pass@50"}
        for value in entry.values():
            assert set(value) == {"value", "ci_low", "ci_high", "interval"}
            assert value["ci_low"] <= value["value"] <= value["ci_high"]
        assert entry["pass@1"]["value"] < entry["pass@10"]["value"] < entry["pass@50"]["value"]
        rows = frame[frame.model == name]
        assert entry["pass@1"]["value"] == pytest.approx(rows.score.mean())
        assert d["coverage_fit"][name]["b"] < 0
        mv = d["majority_vote"][name]
        # Majority vote plateaus below coverage at the largest k.
        assert mv["accuracy"][-1] < d["coverage"][name]["coverage"][-1]
    assert d["models"]["big"]["pass@1"]["value"] > d["models"]["small"]["pass@1"]["value"]
    assert passk_report(frame, [1, 10, 50], seed=4, n_boot=300).to_dict() == d
    assert "pass@10" in report.render()


def test_passk_report_errors_and_missing_scores():
    frame = _frame(items=5, samples=8, models=("m",))
    with pytest.raises(ConfigError, match=r"k=9 exceeds n=8"):
        passk_report(frame, [1, 9])
    with pytest.raises(DataError, match="score"):
        passk_report(frame.drop(columns=["score"]), [1])
    bad = frame.copy()
    bad.loc[0, "score"] = 0.5
    with pytest.raises(DataError, match="0.5"):
        passk_report(bad, [1])
    # An unscored (errored) sample is left out, so that item has n=7.
    holes = frame.copy()
    holes.loc[0, "score"] = np.nan
    with pytest.raises(ConfigError, match=r"n=7"):
        passk_report(holes, [8])
    report = passk_report(holes.drop(columns=["answer"]), [1, 7], n_boot=50)
    assert report.models["m"].samples_min == 7 and report.models["m"].majority_vote is None
    assert report.to_dict()["majority_vote"]["m"] is None
    assert "no answer column" in report.to_dict()["majority_vote_unavailable"]["m"]
    assert "majority vote: n/a (" in report.render()


# ---------------------------------------------------------------- intervals that must not collapse


def jeffreys(x, m, level=0.95):
    """Jeffreys interval by scipy, with the boundary fix at x = 0 and x = m."""
    a = (1 - level) / 2
    low = 0.0 if x == 0 else stats.beta.ppf(a, x + 0.5, m - x + 0.5)
    high = 1.0 if x == m else stats.beta.ppf(1 - a, x + 0.5, m - x + 0.5)
    return low, high


def test_all_zero_items_get_the_jeffreys_interval_over_items():
    # The bootstrap gave [0, 0] here.
    res = aggregate_pass_at_k([10] * 20, [0] * 20, 1)
    assert res.value == 0.0 and res.interval == "jeffreys"
    assert (res.ci_low, res.ci_high) == pytest.approx(jeffreys(0, 20), abs=1e-9)
    assert res.ci_high > 0.1  # items, not the 200 pooled samples (that bound would be about 0.012)
    assert "zero-width" in res.note and "jeffreys" in res.render()
    # Every item all-pass: the lower end comes off 1, at any k.
    for k in (1, 4, 10):
        full = aggregate_pass_at_k([10] * 20, [10] * 20, k)
        assert (full.ci_low, full.ci_high) == pytest.approx(jeffreys(20, 20), abs=1e-9)
        assert full.ci_low < 0.95


def test_binary_item_values_use_jeffreys_and_others_the_bootstrap():
    # One sample per item: pass@1 per item is 0 or 1; 7 of 25 right.
    c = np.array([1] * 7 + [0] * 18)
    res = aggregate_pass_at_k(np.ones(25, dtype=int), c, 1)
    assert res.value == pytest.approx(7 / 25)
    assert (res.ci_low, res.ci_high) == pytest.approx(jeffreys(7, 25), abs=1e-9)
    assert "Jeffreys interval for 7 of 25 items" in res.method and res.note is None
    # pass@n is always 0 or 1 per item (any pass among the n): Jeffreys; pass@1 here is not.
    n, c = np.full(30, 5), np.array([0, 1, 2, 5, 3] * 6)
    at1, at5 = aggregate_pass_at_k_many(n, c, [1, 5], n_boot=400)
    assert at1.interval == "bootstrap" and at5.interval == "jeffreys"
    assert (at5.ci_low, at5.ci_high) == pytest.approx(jeffreys(24, 30), abs=1e-9)


def test_identical_fractional_items_do_not_collapse():
    # Every item 2 of 5: pass@1 is 0.4 everywhere and the bootstrap would be [0.4, 0.4].
    res = aggregate_pass_at_k(np.full(30, 5), np.full(30, 2), 1)
    low, high = stats.beta.ppf([0.025, 0.975], 12 + 0.5, 18 + 0.5)
    assert res.value == pytest.approx(0.4)
    assert (res.ci_low, res.ci_high) == pytest.approx((low, high), abs=1e-9)
    assert res.ci_low < 0.3 and res.ci_high > 0.5 and res.note is not None


def test_report_lists_collapsing_intervals_as_warnings():
    frame = pd.DataFrame(
        [{"model": "m", "item": f"q{i}", "sample": s, "score": 0.0, "answer": "7"} for i in range(10) for s in range(3)]
    )
    report = passk_report(frame, [1, 3], n_boot=100)
    d = report.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["models"]["m"]["pass@1"]["interval"] == "jeffreys"
    assert d["models"]["m"]["pass@1"]["ci_high"] == pytest.approx(jeffreys(0, 10)[1], abs=1e-9)
    assert len(d["warnings"]) == 2 and all("zero-width" in w for w in d["warnings"])
    assert "warning: model 'm': pass@1" in report.render()


# ---------------------------------------------------------------- majority vote without answers


def _exact_scored(samples=5, items=6, outputs=None):
    rows = []
    for i in range(items):
        for s in range(samples):
            out = outputs[s] if outputs else "42"
            rows.append(
                {
                    "model": "m",
                    "item": f"q{i}",
                    "sample": s,
                    "score": float(out.strip(" .") == "42"),
                    "answer": None,
                    "output": out,
                }
            )
    return pd.DataFrame(rows)


def test_majority_vote_without_answers_is_not_available_never_zero():
    # The exact scorer stores no answer: every sample right used to give "majority vote 0.000".
    frame = _exact_scored().drop(columns=["output"])
    report = passk_report(frame, [1, 5], n_boot=50)
    m = report.models["m"]
    assert m.majority_vote is None and "no extracted answer" in m.majority_vote_note
    d = report.to_dict()
    assert d["majority_vote"]["m"] is None and "numeric" in d["majority_vote_unavailable"]["m"]
    assert "majority vote: n/a (the scorer stored no extracted answer" in report.render()


def test_majority_vote_falls_back_to_normalised_output_text():
    # Outputs "42", "42.", " 42", "7", "9": normalised, 42 has three votes of five.
    frame = _exact_scored(outputs=["42", "42.", " 42", "7", "9"])
    report = passk_report(frame, [1, 5], n_boot=50)
    mv = report.models["m"].majority_vote
    assert mv is not None and mv.votes_on == "normalised output text"
    assert mv.ks[-1] == 5 and mv.accuracy[-1] == 1.0
    assert mv.accuracy[0] == pytest.approx(3 / 5, abs=0.08)
    assert "votes on the normalised output text" in report.render()


# ---------------------------------------------------------------- default k values


def test_default_ks_keep_only_those_within_the_samples_drawn():
    frame = _frame(items=8, samples=5, models=("a", "b"))
    report = passk_report(frame, None, n_boot=50)
    assert report.ks == [1] and report.ks_were_default and report.requested_ks == [1, 10, 100]
    assert any("default k=10, 100 left out" in w and "5 scored sample" in w for w in report.warnings)
    assert set(report.to_dict()["models"]["a"]) == {"pass@1"}
    with pytest.raises(ConfigError, match=r"k=100 exceeds n=5"):  # the same values, asked for explicitly
        passk_report(frame, [1, 10, 100], n_boot=20)
    # The fewest samples of any item of any model decide: one item of b has 4.
    fewer = frame.drop(frame[(frame.model == "b") & (frame.item == "q3") & (frame["sample"] == 0)].index)
    assert passk_report(fewer, None, n_boot=20).to_dict()["warnings"][0].count("'q3'") == 1
    # Defaults that all fit are kept, without a warning.
    big = _frame(items=5, samples=100, models=("a",))
    report = passk_report(big, None, n_boot=20)
    assert report.ks == [1, 10, 100] and not any("left out" in w for w in report.warnings)
    # k values asked for explicitly are never dropped.
    with pytest.raises(ConfigError, match=r"k=10 exceeds n=5.*item 'q0'"):
        passk_report(frame, [1, 10], n_boot=20)
    with pytest.raises(ConfigError, match="at least one k"):
        passk_report(frame, [], n_boot=20)


# ---------------------------------------------------------------- PassUntil rule of a run


def test_resolve_pass_until_refuses_a_rule_the_run_was_not_sampled_with():
    recorded = {"pass_until": 2, "budget": 6, "samples": 1}
    assert resolve_pass_until(recorded, None, None) == (2, 6)
    assert resolve_pass_until(recorded, 2, 6) == (2, 6)
    with pytest.raises(ConfigError, match=r"--pass-until 3 does not match the run: .*pass_until=2 \(budget 6\)"):
        resolve_pass_until(recorded, 3, 6)
    with pytest.raises(ConfigError, match=r"--pass-until 3 does not match"):
        resolve_pass_until(recorded, 3, None)
    with pytest.raises(ConfigError, match=r"--budget 8 does not match the run: .*budget=6"):
        resolve_pass_until(recorded, 2, 8)
    plain = {"pass_until": None, "budget": None, "samples": 10}
    assert resolve_pass_until(plain, None, None) == (None, None)
    assert resolve_pass_until(plain, 3, 10) == (3, 10)
    with pytest.raises(ConfigError, match="needs --budget"):
        resolve_pass_until(plain, 3, None)
    with pytest.raises(ConfigError, match="needs --pass-until"):
        resolve_pass_until(plain, None, 10)


# ---------------------------------------------------------------- end to end


def test_passk_on_a_real_exact_scored_run(tmp_path):
    """`assay passk RUN` with its default --k on a 5-sample run scored `exact`
    (the default for dataset files) against a server that is always right."""
    from assay.api import passk, run

    items = tmp_path / "q.jsonl"
    items.write_text(
        "".join(json.dumps({"id": f"q{i}", "question": f"what {i}?", "answer": "42"}) + "\n" for i in range(10))
    )
    with stub_server() as url:
        run(
            str(items),
            ["openai:stub"],
            samples=5,
            temperature=0.7,
            out=tmp_path / "r",
            base_urls=[url + "/v1"],
            use_cache=False,
            progress=False,
        )
    report = passk(tmp_path / "r")  # what the CLI asks for without --k
    m = report.models["openai:stub"]
    assert report.ks == [1] and m.pass_at[0].value == 1.0
    assert m.pass_at[0].ci_low == pytest.approx(jeffreys(10, 10)[0], abs=1e-9)  # as `assay run` reports
    assert m.majority_vote is None and "exact" in m.majority_vote_note
    proc = subprocess.run(
        [sys.executable, "-m", "assay.cli", "passk", str(tmp_path / "r")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "pass@1 = 1.0000 [0.7828, 1.0000]" in proc.stdout
    assert "majority vote: n/a" in proc.stdout and "0.000" not in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "assay.cli", "passk", str(tmp_path / "r"), "--k", "1,6"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "k=6 exceeds n=5" in proc.stderr
