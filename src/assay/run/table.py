"""A run directory as a table of one row per model, for ``assay scale``.

Scaling laws are fitted on continuous quantities per model: the loss or bits
per byte of a perplexity run, the accuracy, probability of the right answer or
Brier score of a choices run. ``model_table`` turns a run's store into that
table (``scale fit RUN_DIR --x params --y bits_per_byte``); ``params`` is
filled for the models whose size assay knows and is otherwise left empty for
the user to join.
"""

from __future__ import annotations

import math
from pathlib import Path

from assay.errors import DataError
from assay.run.store import open_run, read_config, scores_frame


def model_table(run_dir: str | Path):
    import pandas as pd

    from assay.models.registry import known_params

    config = read_config(run_dir)
    mode = config.get("mode", "generate")
    with open_run(run_dir) as store:
        metrics = store.scorers()
    if not metrics:
        raise DataError(f"{run_dir}: the run has no scores to tabulate")
    per_metric = {m: scores_frame(run_dir, metric=m) for m in metrics}
    rows = []
    for model in sorted(set().union(*(set(f["model"]) for f in per_metric.values()))):
        row: dict = {"model": model, "task": config.get("task_name"), "mode": mode, "params": known_params(model)}
        if mode == "perplexity":
            sums = {m: float(f.loc[f["model"] == model, "score"].sum()) for m, f in per_metric.items()}
            row["n_items"] = int((per_metric["logprob"]["model"] == model).sum())
            row["loss"] = -sums["logprob"] / sums["tokens"]  # nats per token
            row["perplexity"] = math.exp(row["loss"])
            row["word_perplexity"] = math.exp(-sums["logprob"] / sums["words"])
            row["bits_per_byte"] = -sums["logprob"] / sums["bytes"] / math.log(2)
        else:
            for metric, frame in per_metric.items():
                mine = frame[frame["model"] == model]
                # Samples are averaged within an item first, as every score is.
                row[metric] = float(mine.groupby("item")["score"].mean().mean()) if len(mine) else None
            row["n_items"] = int(per_metric[metrics[0]].loc[lambda f: f["model"] == model, "item"].nunique())
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs["source"] = str(run_dir)
    return frame
