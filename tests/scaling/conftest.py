from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# <repo>/../shared/data: CI clones the repository with shared/ beside it.
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
EVALS = SHARED_DATA / "pythia_opt_bloom_evals.csv"

# Besiroglu et al. (2024) refit of the Chinchilla data.
CHINCHILLA_TRUE = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37}


def chinchilla_table(n_points: int = 240, noise: float = 0.01, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(np.log(4e7), np.log(1.6e10), n_points))
    d = n * np.exp(rng.uniform(np.log(2), np.log(200), n_points))
    t = CHINCHILLA_TRUE
    loss = (t["E"] + t["A"] / n ** t["alpha"] + t["B"] / d ** t["beta"]) * np.exp(noise * rng.standard_normal(n_points))
    return pd.DataFrame({"N": n, "D": d, "loss": loss})


@pytest.fixture(scope="session")
def chinchilla_data() -> pd.DataFrame:
    return chinchilla_table()


@pytest.fixture(scope="session")
def evals() -> pd.DataFrame:
    if not EVALS.exists():
        pytest.skip(f"shared data not found at {EVALS}")
    return pd.read_csv(EVALS)


@pytest.fixture(scope="session")
def lambada(evals) -> pd.DataFrame:
    """Pythia lambada_openai, zero-shot, one row per checkpoint with ppl and acc side by side."""
    rows = evals.query("family == 'pythia' and shots == 0 and task == 'lambada_openai'")
    return rows.pivot_table(index=["model", "params", "step", "tokens"], columns="metric", values="value").reset_index()
