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
import warnings
from pathlib import Path
from typing import Any

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


def summarise_likelihood(
    values: dict[str, dict[str, float]], mode: str, clusters: dict[str, str | None]
) -> dict[str, dict[str, Any]]:
    """Per metric ``{value, ci_low, ci_high, method, n}`` from per-item values
    (``values[metric][item]``): means with the automatic interval for choices
    metrics; corpus ratios with a bootstrap over documents for perplexity."""
    import numpy as np

    from assay.run.runner import summary_ci
    from assay.stats.ratio import ratio_ci

    out: dict[str, dict[str, Any]] = {}
    if mode == "choices":
        for metric, by_item in values.items():
            ids = sorted(by_item)
            entry: dict[str, Any] = {"value": None, "ci_low": None, "ci_high": None, "method": None, "n": len(ids)}
            means = [by_item[i] for i in ids]
            if ids:
                entry["value"] = sum(means) / len(means)
            if len(ids) >= 2:
                cluster_list = [clusters.get(i) for i in ids]
                use = cluster_list if all(c is not None for c in cluster_list) and len(set(cluster_list)) > 1 else None
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a zero-width interval shows itself
                    ci = summary_ci(means, use)
                entry.update(value=ci.mean, ci_low=ci.low, ci_high=ci.high, method=ci.method)
            out[metric] = entry
        return out
    ids = sorted(set.intersection(*(set(values.get(k, {})) for k in ("logprob", "tokens", "bytes", "words"))))
    if not ids:
        return out
    minus_logprob = [-values["logprob"][i] for i in ids]
    for metric, denominator, transform in (
        ("perplexity", "tokens", np.exp),
        ("word_perplexity", "words", np.exp),
        ("bits_per_byte", "bytes", lambda r: r / math.log(2)),
    ):
        ci = ratio_ci(minus_logprob, [values[denominator][i] for i in ids], transform=transform)
        out[metric] = {
            "value": ci.mean,
            "ci_low": None if math.isnan(ci.low) else ci.low,
            "ci_high": None if math.isnan(ci.high) else ci.high,
            "method": ci.method,
            "n": len(ids),
        }
    out["tokens"] = {"value": sum(values["tokens"][i] for i in ids), "n": len(ids)}
    out["bytes"] = {"value": sum(values["bytes"][i] for i in ids), "n": len(ids)}
    return out


def likelihood_metrics(run_dir: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``summarise_likelihood`` for every model of a likelihood run (empty for a generation run)."""
    config = read_config(run_dir)
    mode = config.get("mode", "generate")
    if mode == "generate":
        return {}
    with open_run(run_dir) as store:
        items = store.items()
        scorers = store.scorers()
    clusters = {i: it.cluster for i, it in items.items()}
    frames = {m: scores_frame(run_dir, metric=m) for m in scorers}
    models = sorted(set().union(*(set(f["model"]) for f in frames.values()))) if frames else []
    result = {}
    for model in models:
        values = {m: f[f["model"] == model].groupby("item")["score"].mean().to_dict() for m, f in frames.items()}
        result[model] = summarise_likelihood(values, mode, clusters)
    return result
