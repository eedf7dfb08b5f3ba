"""Dataset formats end to end with the real embedded model: GSM8K and HumanEval
from ../shared/data (a few items, short outputs)."""

import pytest

from assay.api import passk, run
from assay.run.store import samples_frame

pytestmark = pytest.mark.slow


def test_gsm8k_end_to_end(shared_data, tmp_path):
    result = run(
        str(shared_data / "gsm8k" / "test.jsonl"),
        ["smollm2"],
        limit=2,
        max_tokens=48,
        out=tmp_path / "r",
        progress=False,
    )
    summary = result.models["smollm2"]
    assert result.metric == "numeric" and summary.n_items == 2 and summary.errors == 0
    frame = samples_frame(tmp_path / "r")
    assert sorted(frame["target"]) == ["18", "3"]  # the numbers after #### of the first two items
    assert frame["prompt"].str.contains("The answer is N").all()


def test_humaneval_code_scorer_runs_generated_code(shared_data, tmp_path):
    result = run(
        str(shared_data / "humaneval" / "HumanEval.jsonl.gz"),
        ["smollm2"],
        limit=2,
        samples=2,
        temperature=0.8,
        max_tokens=96,
        out=tmp_path / "r",
        progress=False,
    )
    summary = result.models["smollm2"]
    assert result.metric == "code" and summary.n_samples == 4 and summary.errors == 0
    frame = samples_frame(tmp_path / "r")
    assert set(frame["score_code"].unique()) <= {0.0, 1.0}
    report = passk(tmp_path / "r", [1, 2]).to_dict()
    value = report["models"]["smollm2"]["pass@2"]["value"]
    assert 0.0 <= value <= 1.0
