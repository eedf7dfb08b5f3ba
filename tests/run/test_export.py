"""``assay export`` keeps what each scorer said of an output (its ``detail``) beside the score."""

import pandas as pd

from assay.run.export import export_run
from assay.run.runner import run_eval
from assay.tasks.arithmetic import arithmetic_task

from .fakes import ArithmeticFake


def test_export_keeps_the_scorers_detail(tmp_path):
    task = arithmetic_task({"digits": "1,2", "n": "6"})
    run_eval(task, [ArithmeticFake(wrong_every=5)], out=tmp_path / "r", progress=False)
    for name in ("e.csv", "e.jsonl", "e.parquet"):
        export_run(tmp_path / "r", tmp_path / name)
    frame = pd.read_csv(tmp_path / "e.csv", dtype={"detail": str, "detail_numeric": str, "output": str})
    columns = list(frame.columns)
    assert columns.index("detail") == columns.index("score") + 1
    assert "detail_numeric" in columns and "score_numeric" in columns
    # The numeric scorer's detail is the number it read from the output, so it equals the (bare number) output;
    # the score is 1 exactly when that number is the target.
    assert len(frame) == 12 and frame["detail"].notna().all()
    assert (frame["detail"] == frame["output"]).all()
    assert ((frame["detail"] == frame["target"].astype(str)) == (frame["score"] == 1.0)).all()
    assert 0 < frame["score"].sum() < len(frame)  # some right, some wrong: the check above means something
    for other in ("e.jsonl", "e.parquet"):
        read = (
            pd.read_json(tmp_path / other, lines=True) if other.endswith("jsonl") else pd.read_parquet(tmp_path / other)
        )
        assert read["detail"].astype(str).tolist() == frame["detail"].tolist()
