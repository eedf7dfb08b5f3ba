import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from assay.errors import ConfigError, DataError
from assay.stats import compare, paired_diff
from assay.stats.sequential import betting_bounds, naive_t_bounds, sequential_test

GRID = 401  # coarser than the default so that hundreds of replays run in a second or two


def exact_null_diffs(reps, n, seed, fractional=False):
    """Paired differences under an exact null: each item's two scores swapped with probability 1/2.

    The models share item difficulty (as on a real benchmark), so |a - b| is often 0;
    the random swap makes every difference symmetric about 0 whatever came before.
    """
    rng = np.random.default_rng(seed)
    difficulty = rng.random((reps, n))
    if fractional:
        a = np.clip(1 - difficulty + rng.normal(0, 0.25, (reps, n)), 0, 1)
        b = np.clip(1 - difficulty + rng.normal(0.1, 0.25, (reps, n)), 0, 1)
    else:
        a = (difficulty * 0.5 + rng.random((reps, n)) * 0.5 < 0.7).astype(float)
        b = (difficulty * 0.5 + rng.random((reps, n)) * 0.5 < 0.5).astype(float)
    swap = rng.random((reps, n)) < 0.5
    return np.where(swap, b - a, a - b)


def mc_upper(rate_nominal, reps):
    """Nominal rate plus three Monte Carlo standard errors: a failure here is not bad luck."""
    return rate_nominal + 3 * np.sqrt(rate_nominal * (1 - rate_nominal) / reps)


@pytest.mark.parametrize("fractional", [False, True])
def test_error_rate_under_continuous_monitoring_stays_below_alpha_while_naive_t_inflates(fractional):
    reps, n, alpha = 400, 300, 0.05
    d = exact_null_diffs(reps, n, seed=11 + fractional, fractional=fractional)
    low, high = betting_bounds(d, alpha=alpha, grid_points=GRID)
    cs_error = np.mean(((low > 0) | (high < 0)).any(axis=1))  # checked after every single item
    t_low, t_high = naive_t_bounds(d, alpha=alpha, min_n=10)
    t_error = np.mean(((t_low > 0) | (t_high < 0)).any(axis=1))
    assert cs_error <= mc_upper(alpha, reps)
    # peeking at the t-test after every item from the 10th on: several times alpha (about 0.25-0.35 here)
    assert t_error > 3 * alpha
    assert t_error > cs_error + 0.1


def test_covers_a_nonzero_mean_at_every_item():
    reps, n, alpha, true = 300, 300, 0.1, 0.15
    rng = np.random.default_rng(3)
    d = np.clip(rng.normal(true, 0.4, (reps, n)), -1, 1)
    true = np.clip(rng.normal(true, 0.4, 2_000_000), -1, 1).mean()  # the mean after clipping
    low, high = betting_bounds(d, alpha=alpha, grid_points=GRID)
    miss = np.mean(((low > true) | (high < true)).any(axis=1))
    assert miss <= mc_upper(alpha, reps)
    # the sequence narrows: after 300 items it is far inside [-1, 1]
    assert np.median(high[:, -1] - low[:, -1]) < 0.3
    assert np.all(np.diff(low, axis=1) >= 0) and np.all(np.diff(high, axis=1) <= 0)  # running intersection


def test_single_sequence_matches_a_row_of_many():
    d = exact_null_diffs(3, 50, seed=4)
    low, high = betting_bounds(d, alpha=0.05, grid_points=GRID)
    low1, high1 = betting_bounds(d[1], alpha=0.05, grid_points=GRID)
    assert low1 == pytest.approx(low[1]) and high1 == pytest.approx(high[1])
    assert np.all(low >= -1) and np.all(high <= 1) and np.all(low <= high)


def test_clear_difference_decides_like_the_full_test_with_fewer_items():
    rng = np.random.default_rng(8)
    n = 1000
    difficulty = rng.random(n)
    decided_fraction = []
    for seed in range(5):
        noise = np.random.default_rng(100 + seed)
        a = (difficulty * 0.5 + noise.random(n) * 0.5 < 0.75).astype(float)
        b = (difficulty * 0.5 + noise.random(n) * 0.5 < 0.55).astype(float)
        full = paired_diff(a, b)
        seq = sequential_test(b, a, alpha=0.05)  # b first: the decision names the better one
        assert full.p_value < 0.001 and full.diff > 0
        assert seq.decision == "b"
        assert seq.high_at_stop < 0 and seq.low_at_stop <= -full.diff <= seq.high_at_stop or seq.low_at_stop > -1
        decided_fraction.append(seq.fraction_used)
    assert max(decided_fraction) < 0.5


def test_identical_models_are_shown_equivalent_within_a_margin():
    rng = np.random.default_rng(2)
    a = (rng.random(2000) < 0.6).astype(float)
    b = a.copy()
    flip = rng.random(2000) < 0.05  # a few disagreements, balanced
    b[flip] = 1 - b[flip]
    seq = sequential_test(a, b, alpha=0.05, margin=0.1)
    assert seq.decision == "equivalent"
    assert -0.1 < seq.low_at_stop <= seq.high_at_stop < 0.1
    assert seq.n_used < 2000
    assert sequential_test(a, b, alpha=0.05).decision == "none"  # without a margin nothing is decided


def test_batches_only_look_at_multiples_and_the_last_item():
    rng = np.random.default_rng(5)
    a = (rng.random(103) < 0.9).astype(float)
    b = (rng.random(103) < 0.2).astype(float)
    seq = sequential_test(a, b, batch=25)
    assert list(seq.looks) == [25, 50, 75, 100, 103]
    assert seq.decision == "a" and seq.n_used % 25 == 0
    every = sequential_test(a, b, batch=1)
    assert every.n_used <= seq.n_used
    # the runner's use: the same call on a prefix gives the same bounds as the full replay at that look
    prefix = sequential_test(a[:50], b[:50], batch=25)
    assert prefix.high[-1] == pytest.approx(seq.high[1]) and prefix.low[-1] == pytest.approx(seq.low[1])
    d = seq.to_dict()
    assert set(d) >= {"n_used", "decision", "cs_low", "cs_high", "alpha", "sequence"}
    assert d["sequence"]["n"] == [25, 50, 75, 100, 103]


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"a": [0.5, 1.2], "b": [0, 1]}, DataError),
        ({"a": [0.5, np.nan], "b": [0, 1]}, DataError),
        ({"a": [1, 0, 1], "b": [0, 1]}, DataError),
        ({"a": [], "b": []}, DataError),
        ({"a": [1, 0], "b": [0, 1], "alpha": 1.5}, ConfigError),
        ({"a": [1, 0], "b": [0, 1], "batch": 0}, ConfigError),
        ({"a": [1, 0], "b": [0, 1], "margin": -0.1}, ConfigError),
    ],
)
def test_bad_input(kwargs, error):
    with pytest.raises(error):
        sequential_test(**kwargs)


def scores_frame(n=400, seed=0, accuracies=None):
    rng = np.random.default_rng(seed)
    difficulty = rng.random(n)
    rows = []
    for model, acc in (accuracies or {"big": 0.8, "small": 0.45, "tiny": 0.44}).items():
        correct = (difficulty * 0.5 + rng.random(n) * 0.5) < acc
        rows += [{"model": model, "item": f"q{i}", "score": int(c)} for i, c in enumerate(correct)]
    return pd.DataFrame(rows)


def test_compare_sequential_json_and_seeded_order():
    frame = scores_frame()
    result = compare(frame, sequential=True, seed=3)
    pairs = {(p.a, p.b): p for p in result.pairs}
    big_small = pairs[("big", "small")].to_dict()["sequential"]
    assert big_small["decision"] == "a" and big_small["n_used"] < big_small["n_available"] == 400
    assert big_small["alpha"] == pytest.approx(0.05 / 3)  # split over three pairs (holm by default)
    assert big_small["cs_low"] > 0
    json.dumps(result.to_dict())
    again = compare(frame, sequential=True, seed=3).to_dict()
    assert again["pairs"] == result.to_dict()["pairs"]
    other = compare(frame, sequential=True, seed=4).to_dict()
    assert [p["sequential"]["n_used"] for p in other["pairs"]] != [
        p["sequential"]["n_used"] for p in again["pairs"]
    ] or [p["sequential"]["diff"] for p in other["pairs"]] != [p["sequential"]["diff"] for p in again["pairs"]]
    # replaying the items in the seeded order by hand gives the same numbers
    items = np.array(sorted(frame["item"].unique()), dtype=object)
    order = np.random.default_rng(3).permutation(items)
    a = frame[frame.model == "big"].set_index("item").loc[order, "score"].to_numpy(float)
    b = frame[frame.model == "small"].set_index("item").loc[order, "score"].to_numpy(float)
    by_hand = sequential_test(a, b, alpha=0.05 / 3)
    assert by_hand.n_used == big_small["n_used"] and by_hand.low_at_stop == pytest.approx(big_small["cs_low"])
    uncorrected = compare(frame, sequential=True, seed=3, correction="none", alpha=0.1)
    assert uncorrected.pairs[0].sequential.alpha == pytest.approx(0.1)
    assert "sequential" not in compare(frame).to_dict()["pairs"][0]
    assert any("Sequential" in str(getattr(part, "title", "")) for part in result.render().renderables)


def test_compare_sequential_bad_input():
    frame = scores_frame(n=50)
    disjoint = frame.copy()
    disjoint.loc[disjoint.model == "small", "item"] += "-other"
    with pytest.raises(DataError, match="share 0 item"):
        compare(disjoint[disjoint.model != "tiny"], sequential=True)
    with pytest.raises(DataError, match="one model"):
        compare(frame[frame.model == "big"], sequential=True)
    rated = frame.assign(score=frame.score * 10)
    with pytest.raises(DataError, match=r"outside \[0, 1\]"):
        compare(rated, sequential=True)
    with pytest.raises(ConfigError):
        compare(frame, sequential=True, batch=0)
    with pytest.raises(ConfigError):
        compare(frame, sequential=True, margin=2)


def test_cli_sequential(tmp_path):
    path = tmp_path / "scores.csv"
    scores_frame(n=200).to_csv(path, index=False)
    cli = [sys.executable, "-m", "assay.cli", "compare", str(path)]
    proc = subprocess.run(
        [*cli, "--sequential", "--batch", "10", "--margin", "0.2", "--json"], capture_output=True, text=True, check=True
    )
    pairs = json.loads(proc.stdout)["pairs"]
    assert all(p["sequential"]["n_used"] % 10 == 0 for p in pairs)
    assert {p["sequential"]["decision"] for p in pairs} <= {"a", "b", "equivalent", "none"}
    refused = subprocess.run([*cli, "--alpha", "0.1"], capture_output=True, text=True)
    assert refused.returncode == 2 and "--sequential" in refused.stderr and "Traceback" not in refused.stderr


def test_sequential_pairs_is_the_runners_stopping_rule():
    from assay.stats.sequential import sequential_pairs

    rng = np.random.default_rng(9)
    seen = {
        "a": (rng.random(300) < 0.9).astype(float),
        "b": (rng.random(300) < 0.3).astype(float),
        "c": (rng.random(300) < 0.31).astype(float),
    }
    every = sequential_pairs(seen, alpha=0.05)
    assert every.alpha_per_pair == pytest.approx(0.05 / 3) and len(every.pairs) == 3
    assert every.pairs[("a", "b")].decision == "a" and not every.all_decided  # b vs c is too close to call
    against = sequential_pairs(seen, alpha=0.05, against="a")
    assert set(against.pairs) == {("a", "b"), ("a", "c")} and against.all_decided
    assert against.pairs[("a", "c")].alpha == pytest.approx(0.025)
    json.dumps(against.to_dict())
    with pytest.raises(ConfigError, match="against"):
        sequential_pairs(seen, against="z")
    with pytest.raises(ConfigError, match="at least two"):
        sequential_pairs({"a": seen["a"]})
