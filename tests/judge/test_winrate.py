import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from assay.errors import ConfigError, DataError
from assay.judge.winrate import apply_length_tie_rule, winrate


def simulated_annotations(seed: int = 0, n_instructions: int = 200) -> pd.DataFrame:
    """Four models against one baseline; the judge adds a length bonus.

    "same" and "same_verbose" are equally good; "same_verbose" writes ~600
    characters more than the baseline.
    """
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, 1, n_instructions)
    rows = []
    for model, quality, extra in (("good", 0.5, 0), ("same", 0.0, 0), ("same_verbose", 0.0, 600), ("bad", -0.7, 0)):
        for i in range(n_instructions):
            len_baseline = 1000 + rng.normal(0, 200)
            len_model = max(len_baseline + extra + rng.normal(0, 200), 1.0)
            eta = quality + difficulty[i] + 1.5 * np.tanh((len_model - len_baseline) / 400)
            win = rng.random() < 1 / (1 + np.exp(-eta))
            rows.append(
                {
                    "model": model,
                    "instruction": f"instruction {i}",
                    "preference": float(win),
                    "len_model": round(len_model),
                    "len_baseline": round(len_baseline),
                }
            )
    return pd.DataFrame(rows)


def test_raw_win_rate_and_standard_error_as_alpacaeval():
    frame = simulated_annotations()
    result = winrate(frame, length_controlled=False)
    for model, group in frame.groupby("model"):
        prefs = group["preference"].to_numpy()
        m = result.models[model]
        assert m.n == len(prefs)
        assert m.win_rate == pytest.approx(100 * prefs.mean())
        assert m.standard_error == pytest.approx(100 * prefs.std(ddof=1) / np.sqrt(len(prefs)))
        assert m.lc_win_rate is None
    assert result.models["good"].avg_length == pytest.approx(frame[frame.model == "good"].len_model.mean())


def test_length_control_removes_verbosity_advantage():
    result = winrate(simulated_annotations(n_instructions=400))
    same, verbose = result.models["same"], result.models["same_verbose"]
    raw_gap = verbose.win_rate - same.win_rate
    lc_gap = verbose.lc_win_rate - same.lc_win_rate
    assert raw_gap > 15
    assert abs(lc_gap) < raw_gap / 3
    assert result.length_coefficient > 0.5
    # Models with no length difference barely move.
    assert result.models["good"].lc_win_rate == pytest.approx(result.models["good"].win_rate, abs=4)
    assert result.models["good"].lc_win_rate > same.lc_win_rate > result.models["bad"].lc_win_rate
    assert 0 < verbose.lc_standard_error < 10
    assert not result.notes


def test_single_model_matches_statsmodels_glm_and_says_difficulty_dropped():
    frame = simulated_annotations(seed=1)
    one = frame[frame.model == "same_verbose"].reset_index(drop=True)
    result = winrate(one)
    assert any("only one model" in note for note in result.notes)
    difference = (one.len_model - one.len_baseline).to_numpy(dtype=float)
    feature = np.tanh(difference / difference.std(ddof=1))
    fit = sm.GLM(one.preference, sm.add_constant(feature), family=sm.families.Binomial()).fit()
    expected = 100 / (1 + np.exp(-fit.params.iloc[0]))
    assert result.models["same_verbose"].lc_win_rate == pytest.approx(expected, abs=0.01)
    assert result.length_coefficient == pytest.approx(fit.params.iloc[1], abs=0.01)


def test_equal_lengths_give_raw_win_rate():
    frame = simulated_annotations(seed=2)
    frame["len_model"] = frame["len_baseline"]
    result = winrate(frame)
    for m in result.models.values():
        assert m.lc_win_rate == pytest.approx(m.win_rate, abs=0.05)
    assert result.notes == ["every output has the baseline's length; nothing to control for"]


def test_outputs_give_same_result_as_lengths():
    with_lengths = pd.DataFrame(
        {
            "model": ["m"] * 4 + ["n"] * 4,
            "instruction": list("abcd") * 2,
            "preference": [1, 0.5, 0, 1, 0.25, 1, 0, 0.75],
            "len_model": [5, 1, 3, 8, 2, 2, 6, 4],
            "len_baseline": [3, 3, 3, 3, 3, 3, 3, 3],
        }
    )
    with_outputs = with_lengths.assign(output=[("x" * n) for n in with_lengths.len_model], baseline_output="yyy").drop(
        columns=["len_model", "len_baseline"]
    )
    assert winrate(with_lengths).to_dict()["models"] == winrate(with_outputs).to_dict()["models"]


def test_length_tie_rule():
    preference = np.array([0.75, 0.75, 1.0, 0.25, 0.25, 0.6, 0.5])
    difference = np.array([600, 400, 600, -600, 600, 501, 900])
    out = apply_length_tie_rule(preference, difference, 500)
    # Slight model win by a much longer output -> tie; by a short one -> kept;
    # a clear win is never touched; a slight baseline win by a longer baseline -> tie.
    assert out.tolist() == [0.5, 0.75, 1.0, 0.5, 0.25, 0.5, 0.5]
    frame = pd.DataFrame(
        {
            "model": "m",
            "instruction": list("abcdefg"),
            "preference": preference,
            "len_model": 1000 + difference,
            "len_baseline": 1000,
        }
    )
    result = winrate(frame, length_tie_chars=500, length_controlled=False)
    assert result.models["m"].n_length_ties == 3
    assert result.models["m"].win_rate == pytest.approx(100 * out.mean())
    with pytest.raises(ConfigError, match="length_tie_chars"):
        winrate(frame, length_tie_chars=-1)


def test_json_shape_and_render():
    result = winrate(simulated_annotations(n_instructions=50))
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert set(d["models"]) == {"good", "same", "same_verbose", "bad"}
    assert {"n", "win_rate", "standard_error", "lc_win_rate", "lc_standard_error"} <= set(d["models"]["good"])
    text = result.render()
    assert "same_verbose" in text and f"{result.models['good'].win_rate:.2f}" in text


def test_baseline_column_selection():
    frame = simulated_annotations(n_instructions=30)
    both = pd.concat([frame.assign(baseline="gpt4"), frame.assign(baseline="other")], ignore_index=True)
    with pytest.raises(ConfigError, match="several baselines \\(gpt4, other\\)"):
        winrate(both)
    result = winrate(both, baseline="gpt4", length_controlled=False)
    assert result.baseline == "gpt4" and result.models["good"].n == 30
    assert result.notes == [f"{len(frame)} rows against other baselines were left out"]
    with pytest.raises(ConfigError, match="baseline 'nobody' does not appear"):
        winrate(both, baseline="nobody")


def test_preference_outside_unit_interval(tmp_path):
    frame = simulated_annotations(n_instructions=10)
    frame.loc[4, "preference"] = 1.5
    path = tmp_path / "ann.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"ann\.csv line 6, column preference: '1\.5' is not a probability in \[0, 1\]"):
        winrate(path)


def test_instruction_judged_twice_for_one_model(tmp_path):
    frame = simulated_annotations(n_instructions=10)
    frame = pd.concat([frame, frame.iloc[[2]]], ignore_index=True)
    path = tmp_path / "ann.jsonl"
    frame.to_json(path, orient="records", lines=True)
    with pytest.raises(
        DataError,
        match=r"model 'good' is judged twice on instruction 'instruction 2' \(.*ann\.jsonl line 3; .*ann\.jsonl line 41\)",
    ):
        winrate(path)


def test_missing_length_information():
    frame = simulated_annotations(n_instructions=5).drop(columns=["len_baseline"])
    with pytest.raises(DataError, match="need either output and baseline_output, or len_model and len_baseline"):
        winrate(frame)
    frame = simulated_annotations(n_instructions=5)
    frame.loc[1, "len_model"] = -3
    with pytest.raises(DataError, match=r"row 2, column len_model: -3 is not a length"):
        winrate(frame)


def test_items_sharing_an_instruction_text_are_told_apart_by_item():
    frame = simulated_annotations(n_instructions=40)
    frame["item"] = frame["instruction"]
    frame["instruction"] = "Write a haiku."  # every item has the same text
    by_item = winrate(frame)
    frame["instruction"] = frame.pop("item")
    by_text = winrate(frame)
    assert by_item.to_dict()["models"] == by_text.to_dict()["models"]
