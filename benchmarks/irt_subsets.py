"""Full-benchmark scores from K items: IRT (p-IRT on chosen or random items) against the plain mean of K random items.

1. Simulated from a known 2PL model: fit on M training models, estimate the
   full-benchmark mean of 200 new models from K items; error and coverage of
   the 95% intervals against each new model's actual full mean.
2. Real: the Pythia/OPT/BLOOM accuracies in /work/shared/data (rows: a model at
   a training step, zero-shot; columns: tasks, scores: accuracy in [0, 1] as
   fractional responses). Whole models (every checkpoint of one model, with its
   deduplicated twin) are left out of the fit in 4 folds; the held-out rows'
   mean over every task is the truth.

The random-subset baseline's interval is Student's t with the finite-population
correction (K of N items drawn without replacement). Run:

    PYTHONPATH=src python3 benchmarks/irt_subsets.py [--data PATH]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from scipy import special, stats

from assay.stats.irt import estimate_scores, fit_irt, select_items

BOOTSTRAP = 20
SUBSET_SEEDS = 5  # random subsets per fold and K


def random_mean(matrix: pd.DataFrame, items: list[str]) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Mean of the K items with a t interval corrected for sampling K of N without replacement."""
    k, n = len(items), matrix.shape[1]
    sub = matrix[items]
    mean = sub.mean(axis=1)
    se = sub.std(axis=1, ddof=1) / np.sqrt(k) * np.sqrt(1 - k / n)
    q = stats.t.ppf(0.975, k - 1)
    return mean, mean - q * se, mean + q * se


def irt_estimates(fit, matrix, items):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = estimate_scores(fit, matrix[items])
    get = lambda field: pd.Series({m: getattr(e, field) for m, e in result.models.items()})  # noqa: E731
    return get("estimate"), get("ci_low"), get("ci_high")


class Tally:
    """Squared errors, coverage and widths per (setting, method)."""

    def __init__(self):
        self.rows: dict[tuple, dict[str, list]] = {}

    def add(self, key, truth, est, low, high):
        row = self.rows.setdefault(key, {"err": [], "cover": [], "width": []})
        row["err"] += list((est - truth).to_numpy())
        row["cover"] += list(((low <= truth) & (truth <= high)).to_numpy())
        row["width"] += list((high - low).to_numpy())

    def print(self, header):
        print(header)
        for key, row in self.rows.items():
            err = np.array(row["err"])
            print(
                f"| {' | '.join(map(str, key))} | {np.sqrt(np.mean(err**2)):.4f} | {np.mean(np.abs(err)):.4f} | "
                f"{np.mean(row['cover']):.3f} | {np.mean(row['width']):.4f} | {len(err)} |"
            )


def simulate(n_models, slopes, difficulty, rng):
    theta = rng.normal(0, 1, n_models)
    p = special.expit(slopes[None, :] * (theta[:, None] - difficulty[None, :]))
    y = (rng.random(p.shape) < p).astype(float)
    return pd.DataFrame(y, index=[f"m{i}" for i in range(n_models)], columns=[f"q{j}" for j in range(len(slopes))])


def simulated(seed=11, n_items=500, n_test=200):
    tally = Tally()
    for n_train in (40, 150):
        rng = np.random.default_rng(seed + n_train)
        slopes, difficulty = rng.lognormal(0, 0.4, n_items), rng.normal(0, 1, n_items)
        train = simulate(n_train, slopes, difficulty, rng)
        test = simulate(n_test, slopes, difficulty, rng)
        truth = test.mean(axis=1)
        start = time.perf_counter()
        fit = fit_irt(train, bootstrap=BOOTSTRAP, seed=seed)
        fit_seconds = time.perf_counter() - start
        print(f"(fit on {n_train} x {n_items} with {BOOTSTRAP} refits: {fit_seconds:.1f} s)")
        for k in (25, 50, 100):
            for s in range(SUBSET_SEEDS):
                # k-means from different starts: different clustered subsets, so coverage is not one subset's luck
                chosen = select_items(fit, k, method="cluster", seed=s).items
                tally.add((n_train, k, "IRT, clustered items"), truth, *irt_estimates(fit, test, chosen))
                items = select_items(fit, k, method="random", seed=100 + s).items
                tally.add((n_train, k, "IRT, random items"), truth, *irt_estimates(fit, test, items))
                tally.add((n_train, k, "mean of random items"), truth, *random_mean(test, items))
    tally.print(
        "\n| training models | K | method | RMSE | mean abs error | 95% coverage | mean width | estimates |\n"
        "|---|---|---|---|---|---|---|---|"
    )


def real(path, folds=4, seed=3):
    data = pd.read_csv(path)
    acc = data[(data["metric"] == "acc") & (data["shots"].fillna(0) == 0)]
    acc = acc.assign(row=acc["model"] + "@" + acc["step"].fillna(-1).astype(int).astype(str))
    matrix = acc.pivot_table(index="row", columns="task", values="value", aggfunc="mean")
    matrix = matrix.loc[:, matrix.notna().mean() >= 0.9]
    matrix = matrix[matrix.notna().all(axis=1)]
    # a model and its deduplicated twin are held out together: otherwise the fit has seen a near-copy
    model_of = pd.Series([r.split("@")[0].removesuffix("-deduped") for r in matrix.index], index=matrix.index)
    names = np.array(sorted(model_of.unique()))
    np.random.default_rng(seed).shuffle(names)
    print(
        f"\nReal data: {matrix.shape[0]} checkpoints of {len(names)} models x {matrix.shape[1]} tasks "
        f"(zero-shot accuracy), {folds} folds over whole models"
    )
    tally = Tally()
    for f in range(folds):
        held = set(names[f::folds])
        test = matrix[model_of.isin(held)]
        train = matrix[~model_of.isin(held)]
        truth = test.mean(axis=1)
        # the refits resample whole models (all checkpoints of a model and its twin), as `--group` does
        fit = fit_irt(train, bootstrap=BOOTSTRAP, groups=model_of[train.index].tolist(), seed=seed)
        for k in (5, 10, 20):
            for s in range(SUBSET_SEEDS):
                chosen = select_items(fit, k, method="cluster", seed=s).items
                tally.add((k, "IRT, clustered tasks"), truth, *irt_estimates(fit, test, chosen))
                items = select_items(fit, k, method="random", seed=100 + s).items
                tally.add((k, "IRT, random tasks"), truth, *irt_estimates(fit, test, items))
                tally.add((k, "mean of random tasks"), truth, *random_mean(test, items))
    tally.rows = dict(sorted(tally.rows.items()))
    tally.print(
        "\n| K | method | RMSE | mean abs error | 95% coverage | mean width | estimates |\n|---|---|---|---|---|---|---|"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="/work/shared/data/pythia_opt_bloom_evals.csv")
    parser.add_argument("--skip-simulation", action="store_true")
    args = parser.parse_args()
    if not args.skip_simulation:
        simulated()
    real(args.data)
