"""Do forecast intervals cover what larger models score? Calibrated intervals beside the bootstrap.

Simulations with known truth first (five misspecifications, 90 tables each, 21 compute levels × 2
models from 1e18 to 1e23, fit up to 1e21, forecast 2 decades beyond), then
three setups on real lm-eval results (``pythia_opt_bloom_evals.csv``), each
run with both methods on the same split:

1. Pythia, the last checkpoint of each model: fit 70M-1.4B (the standard
   and deduped runs), forecast 2.8B, 6.9B and 12B, for every zero-shot task,
   x = params × tokens. Old: ``fit_law(..., "sigmoid")`` on compute with 200
   bootstrap refits of whole models (percentile intervals of the curve).
   New: ``forecast`` (nested-backtest conformal).
2. Pythia, all checkpoints: the same split; and lambada accuracy forecast
   straight from compute against two-step (via perplexity), and
   ``backtest`` with bootstrap against calibrated intervals.
3. Pythia (final models), OPT and BLOOM, one row per model: fit the smaller
   75% by parameters (the file has no token counts for OPT and BLOOM),
   forecast the rest. Compute-only: pooled sigmoid per benchmark against
   ``group=family`` offsets. Observational: harder tasks from the easier
   ones' principal components, a two-component logistic (floor 0, ceiling 1)
   against the default (chance floor, components chosen by the backtests).

    PYTHONPATH=src python3 benchmarks/scaling/forecast_coverage.py [--data PATH] [--out FILE.json]

Coverage is the share of held-out truths inside the 90% interval, with a 95%
interval clustered by model (checkpoints of one model are not independent).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from assay.scaling import backtest, calibration, fit_law, forecast
from assay.stats.intervals import mean_ci

DEFAULT_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "pythia_opt_bloom_evals.csv"
LEVEL = 0.9
TABLES = 90  # simulated tables per misspecification
# Chance accuracy of each task's answer format (options per item), not fitted to the data.
CHANCE = {
    "arc_easy": 0.25,
    "arc_challenge": 0.25,
    "sciq": 0.25,
    "logiqa": 0.25,
    "piqa": 0.5,
    "winogrande": 0.5,
    "lambada_openai": 0.0,
    "wsc": 0.5,
    "mmlu": 0.25,
}
TASKS = list(CHANCE)
EASY = ["arc_easy", "piqa", "sciq", "lambada_openai"]
HARD = ["arc_challenge", "winogrande", "logiqa", "mmlu"]


def wide_tables(path: Path):
    evals = pd.read_csv(path)
    evals = evals[evals["metric"] == "acc"].copy()
    evals["task"] = evals["task"].where(~evals["task"].str.startswith("hendrycksTest-"), "mmlu")
    keys = ["family", "model", "params", "step", "tokens", "shots"]
    evals[["step", "tokens", "shots"]] = evals[["step", "tokens", "shots"]].fillna(-1)
    # MMLU is the mean over its subjects.
    wide = evals.pivot_table(index=keys, columns="task", values="value", aggfunc="mean").reset_index()
    wide[["step", "tokens", "shots"]] = wide[["step", "tokens", "shots"]].replace(-1, np.nan)
    pythia = wide[(wide["family"] == "pythia") & (wide["shots"] == 0)].copy()
    pythia["compute"] = pythia["params"] * pythia["tokens"]
    pythia = pythia.reset_index(drop=True)
    # The last checkpoint of each model (step 143000 for some sizes, 71500 for others).
    last = pythia.loc[pythia.groupby("model")["step"].idxmax()].reset_index(drop=True)
    others = wide[wide["family"] != "pythia"]
    finished = pythia[pythia["step"] == pythia["step"].max()]  # fully trained Pythia models only
    families = pd.concat([finished, others], ignore_index=True)
    return pythia, last, families


def coverage(flags, clusters) -> dict:
    flags = np.asarray(flags, dtype=float)
    ci = mean_ci(flags, clusters=np.asarray(clusters), confidence=0.95)
    return {
        "coverage": float(flags.mean()),
        "coverage_low": ci.low,
        "coverage_high": ci.high,
        "n": int(len(flags)),
        "n_models": int(len(np.unique(clusters))),
    }


def mae(errors, clusters) -> dict:
    errors = np.abs(np.asarray(errors, dtype=float))
    ci = mean_ci(errors, clusters=np.asarray(clusters), confidence=0.95)
    return {"mae": float(errors.mean()), "mae_low": ci.low, "mae_high": ci.high}


def simulated(kind: str, rng) -> tuple[pd.DataFrame, list[str] | None]:
    """A table from a known law that the fitted curve does not contain."""
    t = np.repeat(np.arange(18, 23.01, 0.25), 2)
    noise = 0.01 * rng.standard_normal(len(t))
    if kind == "steepening loss":  # log-log slope steepens steadily (the test's case)
        y, chance = np.exp(1.0 - 0.05 * (t - 18) - 0.008 * (t - 18) ** 2 + noise), None
    elif kind == "flattening loss":  # log-log slope flattens steadily: the irreducible term takes part of it
        y, chance = np.exp(1.0 - 0.09 * (t - 18) + 0.006 * (t - 18) ** 2 + noise), None
    elif kind == "sigmoid with drifting slope":  # an S-curve that sharpens with scale, fitted with a fixed one
        y, chance = 0.25 + 0.7 / (1 + np.exp(-(0.6 + 0.15 * (t - 18)) * (t - 21.5))) + noise, ["y=0.25"]
    elif kind == "broken power law":  # slope changes at the top of the training range
        c = 10**t
        y, chance = (1.5 + 3 * (c / 1e18) ** -0.1 * (1 + c / 1e21) ** -0.15) * np.exp(noise), None
    else:  # "gompertz accuracy": an asymmetric S-curve, fitted with a logistic
        y, chance = 0.25 + 0.7 * np.exp(-np.exp(-0.9 * (t - 20.5))) + noise, ["y=0.25"]
    return pd.DataFrame({"compute": 10**t, "y": y, "model": [f"m{i}" for i in range(len(t))]}), chance


def reach_of_edge(prediction: dict) -> float:
    """|truth - forecast| over the distance from the forecast to the interval's edge on the truth's side."""
    edge = prediction["high"] if prediction["error"] > 0 else prediction["low"]
    return abs(prediction["error"]) / max(abs(edge - prediction["prediction"]), 1e-12)


def new_method(table, x, tasks, train, *, chance=None, **options):
    """The calibrated forecast; returns the result and its predictions that have a truth."""
    chance = [f"{t}={CHANCE[t]}" for t in tasks] if chance is None else chance
    result = forecast(table, x, tasks, train=train, id="model", level=LEVEL, chance=chance, **options)
    return result, [p for p in result.predictions if p["y"] is not None]


def old_bootstrap(table, tasks, train):
    """The curve's percentile-bootstrap interval (200 refits, whole models resampled), same split."""
    rows = []
    training = table.query(train)
    held = table.drop(training.index)
    for task in tasks:
        fit = fit_law(
            training,
            "sigmoid",
            "compute",
            task,
            bootstrap=200,
            level=LEVEL,
            chance=CHANCE[task],
            cluster="model",
            seed=0,
        )
        value, low, high = fit.predict_arrays(held["compute"].to_numpy()[None, :])
        truth = held[task].to_numpy()
        for i, model in enumerate(held["model"]):
            rows.append(
                {
                    "target": task,
                    "id": model,
                    "covered": bool(low[i] <= truth[i] <= high[i]),
                    "error": float(truth[i] - value[i]),
                }
            )
    return rows


def summarise(rows) -> dict:
    """Coverage and mean absolute error over every (row, task), intervals clustered by model."""
    clusters = [r["id"] for r in rows]
    return {**coverage([r["covered"] for r in rows], clusters), **mae([r["error"] for r in rows], clusters)}


def per_task(rows) -> dict:
    out = {}
    for task in sorted({r["target"] for r in rows}):
        mine = [r for r in rows if r["target"] == task]
        out[task] = {
            "coverage": float(np.mean([r["covered"] for r in mine])),
            "mae": float(np.mean([abs(r["error"]) for r in mine])),
            "n": len(mine),
        }
    return out


# Ablations of the error scale's lever: held at the straight-line value 1, or estimated over a narrower or
# wider range than the default 0 to 4.
LEVER_ABLATIONS = {
    "held at 1": np.array([1.0]),
    "0 to 2": np.linspace(0.0, 2.0, 21),
    "0 to 10": np.linspace(0.0, 10.0, 101),
}


@contextlib.contextmanager
def levers(values: np.ndarray):
    """Run the calibration with the lever chosen among ``values`` instead of ``calibration.LEVERS``."""
    default = calibration.LEVERS
    calibration.LEVERS = values
    try:
        yield
    finally:
        calibration.LEVERS = default


def simulation_coverage(kind: str) -> dict:
    rng = np.random.default_rng(0)
    flags, clusters = [], []
    for rep in range(TABLES):
        table, chance = simulated(kind, rng)
        result = forecast(table, "compute", "y", train="compute <= 1e21", id="model", level=LEVEL, chance=chance)
        flags += [p["covered"] for p in result.predictions]
        clusters += [rep] * len(result.predictions)
    return coverage(flags, clusters)  # clustered by table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("forecast_coverage.json"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    pythia, last, families = wide_tables(args.data)
    report: dict = {"level": LEVEL, "data": str(args.data)}
    began = time.perf_counter()

    report["simulations"] = {}
    kinds = (
        "steepening loss",
        "flattening loss",
        "broken power law",
        "gompertz accuracy",
        "sigmoid with drifting slope",
    )
    report["lever_ablations"] = {name: {"simulations": {}} for name in LEVER_ABLATIONS}
    for kind in kinds:
        report["simulations"][kind] = simulation_coverage(kind)
        for name, values in LEVER_ABLATIONS.items():
            with levers(values):
                report["lever_ablations"][name]["simulations"][kind] = simulation_coverage(kind)

    # 1. Pythia, the last checkpoint of each model; 2. every checkpoint. x = params x tokens.
    tasks = pythia_tasks = [t for t in TASKS if pythia[t].notna().all()]
    for name, table in (("pythia_last_checkpoint", last), ("pythia_checkpoints", pythia)):
        result, new_rows = new_method(table, "params,tokens", tasks, "params < 2e9")
        old_rows = old_bootstrap(table, tasks, "params < 2e9")
        report[name] = {
            "tasks": tasks,
            "n_train": int((table["params"] < 2e9).sum()),
            "n_forecast": len(new_rows) // len(tasks),
            "calibrated": summarise(new_rows),
            "bootstrap": summarise(old_rows),
            "calibrated_per_task": per_task(new_rows),
            "bootstrap_per_task": per_task(old_rows),
            "calibration": {
                t: {
                    k: result.calibration[t][k]
                    for k in (
                        "folds",
                        "n_errors",
                        "backtest_coverage",
                        "sigma0",
                        "growth",
                        "lever",
                        "span",
                        "quantile",
                        "quantile_method",
                    )
                }
                for t in tasks
            },
        }

    # 2b. Lambada two-step (params x tokens -> perplexity -> accuracy) and backtest's two kinds of interval.
    evals = pd.read_csv(args.data)
    lambada = (
        evals.query("family == 'pythia' and shots == 0 and task == 'lambada_openai'")
        .pivot_table(index=["model", "params", "step", "tokens"], columns="metric", values="value")
        .reset_index()
    )
    lambada_report = {}
    for name, via in (("direct sigmoid", None), ("two-step via ppl", "ppl")):
        result = forecast(lambada, "params,tokens", "acc", train="params < 2e9", id="model", level=LEVEL, via=via)
        lambada_report[name] = result.calibration["acc"]["held_out"]
    for law, y in (("chinchilla", "ppl"), ("two-step", "ppl,acc")):
        for kind in ("bootstrap", "calibrated"):
            bt = backtest(
                lambada,
                law,
                "params,tokens",
                y,
                holdout_largest=3,
                level=LEVEL,
                intervals=kind,
                bootstrap=200 if kind == "bootstrap" else 0,
            )
            s = bt.summary[law]
            lambada_report[f"backtest {law} {kind}"] = {
                k: s.get(k) for k in ("coverage", "coverage_ci", "mean_abs_error", "mean_abs_error_ci")
            }
    report["pythia_lambada"] = lambada_report

    # 3. Several families, one row per model.
    cut = float(families["params"].quantile(0.75))
    train = f"params <= {cut}"
    tasks = [t for t in TASKS if families[t].notna().all()]
    _, pooled = new_method(families, "params", tasks, train)
    grouped_result, grouped = new_method(families, "params", tasks, train, group="family")
    hard = [t for t in HARD if t in tasks]
    easy = [t for t in EASY if t in tasks]
    observed_result, observed = new_method(families, "params", hard, train, observed=easy)
    _, baseline = new_method(
        families, "params", hard, train, observed=easy, components=2, chance=[f"{t}=0:1" for t in hard]
    )
    for name, values in LEVER_ABLATIONS.items():
        with levers(values):
            _, grouped_a = new_method(families, "params", tasks, train, group="family")
            _, observed_a = new_method(families, "params", hard, train, observed=easy)
            _, pythia_a = new_method(pythia, "params,tokens", pythia_tasks, "params < 2e9")
        report["lever_ablations"][name].update(
            pythia_checkpoints=summarise(pythia_a), group_offsets=summarise(grouped_a), observed=summarise(observed_a)
        )
    report["families"] = {
        "train": train,
        "n_train": int((families["params"] <= cut).sum()),
        "n_forecast": int((families["params"] > cut).sum()),
        "compute_tasks": tasks,
        "pooled_sigmoid": summarise(pooled),
        "group_offsets": summarise(grouped),
        "pooled_per_task": per_task(pooled),
        "group_per_task": per_task(grouped),
        "hard": hard,
        "easy": easy,
        "observed": summarise(observed),
        "two_component_logistic": summarise(baseline),
        "observed_per_task": per_task(observed),
        # The lever each target's calibration estimated (0 to 4; the bounds are reached on some).
        "group_levers": {t: grouped_result.calibration[t]["lever"] for t in tasks},
        # How the same rule did on the backtests (each fold judged by the rule learned on the others), beside
        # how far toward the interval's edge the held-out truths fell (median; above 1 is outside).
        "group_backtest_coverage": {t: grouped_result.calibration[t]["backtest_coverage"] for t in tasks},
        "group_held_out_reach_of_edge": float(np.median([reach_of_edge(r) for r in grouped])),
        "observed_levers": {t: observed_result.calibration[t]["lever"] for t in hard},
        "logistic_per_task": per_task(baseline),
    }
    report["seconds"] = time.perf_counter() - began
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items()}, indent=1))


if __name__ == "__main__":
    main()
