"""Chinchilla refit speed: the reference grid procedure against assay's fitter.

The reference is the procedure of Hoffmann et al. (2022, Approach 3) as
re-run by Besiroglu et al. (2024): the Huber loss (delta 1e-3) on the residual
of log L, minimised by plain scipy L-BFGS-B with finite-difference gradients
from each of the 4,500 points of their initial-value grid, keeping the best.
Both procedures fit the same 240 points drawn from a known Chinchilla law
with lognormal noise.

    PYTHONPATH=src python3 benchmarks/scaling/chinchilla_refit_speed.py

The reference takes minutes; ``--reference-json FILE`` stores its result the
first time and reuses it afterwards (the data are regenerated from the seed
and checked against the stored hash).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import time
from pathlib import Path

import numpy as np
import scipy.optimize
import scipy.special

# Besiroglu et al. (2024), Table 1: their refit of the Chinchilla data.
TRUE = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37}
NAMES = ["E", "A", "B", "alpha", "beta"]
DELTA = 1e-3


def make_data(n_points: int = 240, noise: float = 0.03, seed: int = 2024):
    """Points spread like a training sweep: N from 44M to 16B, 2 to 200 tokens per parameter."""
    rng = np.random.default_rng(seed)
    n_params = np.exp(rng.uniform(np.log(4.4e7), np.log(1.6e10), n_points))
    tokens = n_params * np.exp(rng.uniform(np.log(2.0), np.log(200.0), n_points))
    loss = TRUE["E"] + TRUE["A"] / n_params ** TRUE["alpha"] + TRUE["B"] / tokens ** TRUE["beta"]
    loss = loss * np.exp(noise * rng.standard_normal(n_points))
    return n_params, tokens, loss


def data_hash(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def reference_fit(n_params, tokens, loss):
    """Plain loop over the 4,500-start grid, scipy L-BFGS-B, numerical gradient."""
    log_n, log_d, log_l = np.log(n_params), np.log(tokens), np.log(loss)

    def objective(theta):
        a, b, e, alpha, beta = theta
        predicted = scipy.special.logsumexp([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)], axis=0)
        return np.sum(scipy.special.huber(DELTA, predicted - log_l))

    grid = itertools.product(
        np.arange(0, 30, 5),  # a
        np.arange(0, 30, 5),  # b
        np.arange(-1, 1.5, 0.5),  # e
        np.arange(0, 2.5, 0.5),  # alpha
        np.arange(0, 2.5, 0.5),  # beta
    )
    best = None
    starts = 0
    for start in grid:
        starts += 1
        result = scipy.optimize.minimize(objective, np.array(start, float), method="L-BFGS-B")
        if best is None or result.fun < best.fun:
            best = result
    a, b, e, alpha, beta = best.x
    params = {"E": np.exp(e), "A": np.exp(a), "B": np.exp(b), "alpha": alpha, "beta": beta}
    return {"objective": float(best.fun), "params": {k: float(v) for k, v in params.items()}, "starts": starts}


def assay_fit(n_params, tokens, loss):
    import pandas as pd

    from assay.scaling import fit_law

    table = pd.DataFrame({"N": n_params, "D": tokens, "loss": loss})
    fit = fit_law(table, "chinchilla", ["N", "D"], "loss")
    return {"objective": fit.objective, "params": dict(fit.params), "starts": fit.starts, "converged": fit.converged}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-json", type=Path, help="store/reuse the reference result here")
    parser.add_argument("--only", choices=["reference", "assay", "both"], default="both")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats of the assay fit")
    parser.add_argument(
        "--bootstrap", type=int, default=200, help="also time an assay fit with this many bootstrap refits"
    )
    args = parser.parse_args()

    n_params, tokens, loss = make_data()
    digest = data_hash(n_params, tokens, loss)
    out: dict = {"data": {"n_points": len(loss), "hash": digest, "true": TRUE}}

    reference = None
    if args.only in ("reference", "both"):
        if args.reference_json and args.reference_json.exists():
            stored = json.loads(args.reference_json.read_text())
            if stored.get("hash") == digest:
                reference = stored
        if reference is None:
            began = time.perf_counter()
            reference = reference_fit(n_params, tokens, loss)
            reference["seconds"] = time.perf_counter() - began
            reference["hash"] = digest
            if args.reference_json:
                args.reference_json.write_text(json.dumps(reference, indent=2))
        out["reference"] = reference

    if args.only in ("assay", "both"):
        assay_fit(n_params, tokens, loss)  # warm imports and caches before timing
        times = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            mine = assay_fit(n_params, tokens, loss)
            times.append(time.perf_counter() - began)
        mine["seconds_median"] = float(np.median(times))
        mine["seconds_all"] = times
        if args.bootstrap:
            import pandas as pd

            from assay.scaling import fit_law

            table = pd.DataFrame({"N": n_params, "D": tokens, "loss": loss})
            began = time.perf_counter()
            fit_law(table, "chinchilla", ["N", "D"], "loss", bootstrap=args.bootstrap, seed=0)
            mine[f"seconds_with_bootstrap_{args.bootstrap}"] = time.perf_counter() - began
        out["assay"] = mine

    if reference is not None and "assay" in out:
        mine = out["assay"]
        out["speedup"] = reference["seconds"] / mine["seconds_median"]
        out["objective_rel_diff"] = (mine["objective"] - reference["objective"]) / abs(reference["objective"])
        out["param_rel_diff"] = {
            k: abs(mine["params"][k] - reference["params"][k]) / abs(reference["params"][k]) for k in NAMES
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
