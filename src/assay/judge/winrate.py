"""Win rates against a baseline, raw and length-controlled.

The raw win rate and its standard error follow AlpacaEval: 100 x the mean
preference and 100 x its sample standard deviation (ddof=1) over sqrt(n).

The length-controlled win rate follows Dubois et al. (2024): a logistic GLM
of the preference on tanh of the standardised length difference (one slope
shared by all models: per-model slopes are not identifiable when a model is
always longer), a per-model term and an instruction-difficulty term, fitted
jointly to every model in the file; the LC win rate is the mean predicted
preference with the length difference set to zero. See docs/judge-audit.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import ConfigError, DataError
from assay.jsonable import jsonable
from assay.judge.tables import WHERE, is_missing, load_table, located, require_columns

# Ridge penalties on the logit scale, as the precision of a Gaussian prior:
# instruction effects get a unit-variance prior, which keeps them finite when
# every model wins (or loses) an instruction; model terms get a negligible one
# that only stops a model winning every instruction from diverging.
DIFFICULTY_PENALTY = 1.0
MODEL_TERM_PENALTY = 1e-6


@dataclass
class ModelWinRate:
    """One model's win rate against the baseline, in percent."""

    model: str
    n: int
    win_rate: float
    standard_error: float
    lc_win_rate: float | None
    lc_standard_error: float | None
    avg_length: float
    n_length_ties: int

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "n": self.n,
                "win_rate": self.win_rate,
                "standard_error": self.standard_error,
                "lc_win_rate": self.lc_win_rate,
                "lc_standard_error": self.lc_standard_error,
                "avg_length": self.avg_length,
                "n_length_ties": self.n_length_ties,
            }
        )


@dataclass
class WinRateResult:
    """Win rates of every model in the annotations file against one baseline."""

    models: dict[str, ModelWinRate]
    baseline: str | None
    source: str
    length_controlled: bool
    method: str
    length_coefficient: float | None = None
    length_tie_chars: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "models": {name: m.to_dict() for name, m in self.models.items()},
                "baseline": self.baseline,
                "source": self.source,
                "length_controlled": self.length_controlled,
                "method": self.method,
                "length_coefficient": self.length_coefficient,
                "length_tie_chars": self.length_tie_chars,
                "notes": list(self.notes),
            }
        )

    def render(self) -> str:
        header = f"Win rates against {self.baseline or 'the baseline'} ({self.source})"
        lines = [header, f"{'model':<30} {'n':>5} {'win rate':>16} {'LC win rate':>16}"]
        ranked = sorted(
            self.models.values(),
            key=lambda m: -(m.lc_win_rate if m.lc_win_rate is not None else m.win_rate),
        )
        for m in ranked:
            raw = (
                f"{m.win_rate:6.2f} ± {m.standard_error:5.2f}"
                if math.isfinite(m.standard_error)
                else f"{m.win_rate:6.2f}"
            )
            lc = "" if m.lc_win_rate is None else f"{m.lc_win_rate:6.2f} ± {m.lc_standard_error:5.2f}"
            lines.append(f"{m.model:<30} {m.n:>5} {raw:>16} {lc:>16}")
        if self.length_coefficient is not None:
            lines.append(
                f"Length slope (logit per unit of tanh(length difference / sd)): {self.length_coefficient:.3f}"
            )
        lines.append(f"Method: {self.method}")
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)


def _lengths(frame: pd.DataFrame, source: str) -> tuple[np.ndarray, np.ndarray]:
    if {"len_model", "len_baseline"} <= set(frame.columns):
        out = []
        for column in ("len_model", "len_baseline"):
            values = []
            for raw, where in zip(frame[column], frame[WHERE]):
                try:
                    number = float(raw)
                except (TypeError, ValueError):
                    number = float("nan")
                if not math.isfinite(number) or number < 0:
                    raise DataError(f"{where}, column {column}: {raw!r} is not a length (a number of characters >= 0)")
                values.append(number)
            out.append(np.asarray(values))
        return out[0], out[1]
    if {"output", "baseline_output"} <= set(frame.columns):
        out = []
        for column in ("output", "baseline_output"):
            values = []
            for raw, where in zip(frame[column], frame[WHERE]):
                if raw is None or (isinstance(raw, float) and math.isnan(raw)):
                    raise DataError(f"{where}, column {column}: empty; every row needs both outputs")
                values.append(len(str(raw)))
            out.append(np.asarray(values, dtype=float))
        return out[0], out[1]
    found = ", ".join(c for c in frame.columns if c != WHERE)
    raise DataError(
        f"annotations {source} need either output and baseline_output, or len_model and len_baseline "
        f"(lengths in characters); found: {found}"
    )


def _preferences(frame: pd.DataFrame) -> np.ndarray:
    values = []
    for raw, where in zip(frame["preference"], frame[WHERE]):
        try:
            number = float(raw)
        except (TypeError, ValueError):
            number = float("nan")
        if not (0.0 <= number <= 1.0):
            raise DataError(
                f"{where}, column preference: {raw!r} is not a probability in [0, 1] "
                "(1: the model's output is better, 0: the baseline's, 0.5: a tie)"
            )
        values.append(number)
    return np.asarray(values)


def apply_length_tie_rule(preference: np.ndarray, length_difference: np.ndarray, max_chars: int) -> np.ndarray:
    """WildBench's rule: a slight win by an output more than ``max_chars`` longer becomes a tie.

    A slight win for the model is a preference in (0.5, 0.75]; for the
    baseline, in [0.25, 0.5) ("slightly better" on a five-point scale).
    ``length_difference`` is the model's length minus the baseline's.
    """
    preference = np.asarray(preference, dtype=float).copy()
    slight_model_win = (preference > 0.5) & (preference <= 0.75) & (length_difference > max_chars)
    slight_baseline_win = (preference >= 0.25) & (preference < 0.5) & (-length_difference > max_chars)
    preference[slight_model_win | slight_baseline_win] = 0.5
    return preference


def _logistic(eta: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * eta))  # overflow-free form of 1 / (1 + exp(-eta))


def _fit_fractional_logit(design: Any, preference: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """Penalised maximum quasi-likelihood for a logit model of a preference in [0, 1].

    Minimises sum(-p log s(eta) - (1 - p) log(1 - s(eta))) + sum(penalty * beta^2) / 2,
    eta = design @ beta; the design is sparse, as instruction effects make it wide.
    """
    from scipy.optimize import minimize

    design_t = design.T.tocsr()

    def objective(beta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = design @ beta
        loss = float(np.sum(preference * np.logaddexp(0.0, -eta) + (1.0 - preference) * np.logaddexp(0.0, eta)))
        fitted = _logistic(eta)
        gradient = design_t @ (fitted - preference) + penalty * beta
        return loss + 0.5 * float(np.sum(penalty * beta**2)), gradient

    start = np.zeros(design.shape[1])
    result = minimize(
        objective, start, jac=True, method="L-BFGS-B", options={"maxiter": 10000, "gtol": 1e-9, "ftol": 1e-14}
    )
    if not result.success and np.max(np.abs(result.jac)) > 1e-3:
        raise RuntimeError(f"length-controlled GLM did not converge: {result.message}")
    return result.x


def _length_controlled(
    models: np.ndarray, instructions: np.ndarray, preference: np.ndarray, length_difference: np.ndarray
) -> tuple[dict[str, tuple[float, float]], float, list[str]]:
    """Fit the GLM jointly; per model (LC win rate, LC standard error); the length slope.

    The length slope is shared by all models: a per-model slope is barely
    identified for a model whose outputs are all longer than the baseline's
    (its length feature then hardly varies and mimics the model term).
    """
    from scipy import sparse

    notes: list[str] = []
    model_names, model_codes = np.unique(models, return_inverse=True)
    n_rows, n_models = preference.size, model_names.size
    scale = float(np.std(length_difference, ddof=1)) if n_rows > 1 else 0.0
    if scale > 0:
        # Not centred: zero must keep meaning "equal length".
        length_feature = np.tanh(length_difference / scale)
    else:
        length_feature = np.zeros(n_rows)
        notes.append("every output has the baseline's length; nothing to control for")
    rows = np.arange(n_rows)
    # Columns: one term per model, one shared length slope, then (with
    # several models) one difficulty term per instruction.
    blocks = [
        sparse.csr_matrix((np.ones(n_rows), (rows, model_codes)), shape=(n_rows, n_models)),
        sparse.csr_matrix(length_feature[:, None]),
    ]
    penalty = [np.full(n_models + 1, MODEL_TERM_PENALTY)]
    with_difficulty = n_models >= 2
    if with_difficulty:
        _, instruction_codes = np.unique(instructions, return_inverse=True)
        n_instructions = int(instruction_codes.max()) + 1
        blocks.append(sparse.csr_matrix((np.ones(n_rows), (rows, instruction_codes)), shape=(n_rows, n_instructions)))
        penalty.append(np.full(n_instructions, DIFFICULTY_PENALTY))
    else:
        notes.append(
            "only one model in the file: the instruction-difficulty term needs several models "
            "and was dropped (the GLM has the model term and the length term only)"
        )
    design = sparse.hstack(blocks, format="csr")
    beta = _fit_fractional_logit(design, preference, np.concatenate(penalty))
    slope = float(beta[n_models])
    eta_equal_length = beta[model_codes]
    if with_difficulty:
        eta_equal_length = eta_equal_length + beta[n_models + 1 + instruction_codes]
    fitted_equal_length = _logistic(eta_equal_length)
    fitted = _logistic(eta_equal_length + slope * length_feature)
    # Each preference with the fitted length effect taken out. Its mean is the
    # LC win rate (the model term's score equation makes the fitted values sum
    # to the observed ones), and its spread carries the judge's noise on each
    # instruction, as the raw standard error does.
    adjusted = preference - fitted + fitted_equal_length
    out = {}
    for code, name in enumerate(model_names):
        mask = model_codes == code
        n = int(mask.sum())
        se = 100.0 * float(np.std(adjusted[mask], ddof=1)) / math.sqrt(n) if n > 1 else float("nan")
        out[str(name)] = (100.0 * float(fitted_equal_length[mask].mean()), se)
    return out, slope, notes


def winrate(
    annotations: str | Path | pd.DataFrame,
    *,
    baseline: str | None = None,
    length_controlled: bool = True,
    length_tie_chars: int | None = None,
) -> WinRateResult:
    """Win rate of each model against the baseline, raw and length-controlled.

    ``annotations`` (path or DataFrame) has columns ``model, instruction,
    preference`` (probability in [0, 1] that the model's output beats the
    baseline's) and either ``output, baseline_output`` or ``len_model,
    len_baseline``. With a ``baseline`` column, ``baseline`` picks the rows
    against that baseline (required when there are several). ``length_tie_chars``
    applies WildBench's rule before anything is computed.
    """
    if length_tie_chars is not None and length_tie_chars < 0:
        raise ConfigError(f"length_tie_chars must be 0 or more, not {length_tie_chars}")
    frame = located(load_table(annotations, name="annotations"))
    source = str(frame.attrs.get("source", "annotations"))
    require_columns(frame, ["model", "instruction", "preference"], "annotations")
    notes: list[str] = []
    for column in ("model", "instruction"):
        for raw, where in zip(frame[column], frame[WHERE]):
            if is_missing(raw):
                raise DataError(f"{where}, column {column}: empty; every row needs a {column}")
        frame[column] = [str(v) for v in frame[column]]

    if "baseline" in frame.columns:
        frame["baseline"] = [None if is_missing(b) else str(b) for b in frame["baseline"]]
        names = sorted({b for b in frame["baseline"] if b is not None})
        if baseline is None:
            if len(names) > 1:
                raise ConfigError(
                    f"annotations {source} compare against several baselines ({', '.join(names)}); "
                    "choose one with baseline=NAME (--baseline NAME)"
                )
            baseline = names[0] if names else None
        elif baseline not in names:
            raise ConfigError(
                f"baseline {baseline!r} does not appear in the baseline column of {source}; "
                f"found: {', '.join(names) or 'none'}"
            )
        keep = frame["baseline"] == baseline
        if (~keep).any():
            notes.append(f"{int((~keep).sum())} rows against other baselines were left out")
        frame = frame[keep].reset_index(drop=True)

    # With an item column (as assay's own annotations have), instructions are
    # told apart by item: two items may share a text ("Write a haiku.").
    key = "item" if "item" in frame.columns and not any(is_missing(v) for v in frame["item"]) else "instruction"
    frame[key] = [str(v) for v in frame[key]]
    duplicated = frame.duplicated(["model", key], keep=False)
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        same = frame[(frame["model"] == first["model"]) & (frame[key] == first[key])]
        instruction = first["instruction"] if len(first["instruction"]) <= 60 else first["instruction"][:57] + "..."
        raise DataError(
            f"annotations {source}: model {first['model']!r} is judged twice on instruction {instruction!r} "
            f"({'; '.join(same[WHERE])}); each model needs one preference per instruction"
        )
    preference = _preferences(frame)
    len_model, len_baseline = _lengths(frame, source)
    length_difference = len_model - len_baseline
    if length_tie_chars is not None:
        adjusted = apply_length_tie_rule(preference, length_difference, length_tie_chars)
        tied = adjusted != preference
        preference = adjusted
    else:
        tied = np.zeros(preference.size, dtype=bool)

    models = frame["model"].to_numpy(dtype=str)
    lc: dict[str, tuple[float, float]] = {}
    slope = None
    if length_controlled:
        lc, slope, lc_notes = _length_controlled(models, frame[key].to_numpy(dtype=str), preference, length_difference)
        notes += lc_notes
    results = {}
    for name in dict.fromkeys(models):
        mask = models == name
        values = preference[mask]
        n = int(mask.sum())
        se = 100.0 * float(np.std(values, ddof=1)) / math.sqrt(n) if n > 1 else float("nan")
        lc_rate, lc_se = lc.get(name, (None, None))
        results[name] = ModelWinRate(
            model=name,
            n=n,
            win_rate=100.0 * float(values.mean()),
            standard_error=se,
            lc_win_rate=lc_rate,
            lc_standard_error=lc_se,
            avg_length=float(len_model[mask].mean()),
            n_length_ties=int(tied[mask].sum()),
        )
    method = "win rate = 100 x mean preference; SE = 100 x sd(ddof=1)/sqrt(n)"
    if length_controlled:
        method += (
            "; LC: logistic GLM on tanh(length difference / sd) with a per-model term"
            + (", instruction difficulty" if len(results) > 1 else "")
            + ", predicted at equal length; LC SE from length-adjusted preferences, GLM taken as fixed"
        )
    if length_tie_chars is not None:
        method += f"; slight wins by outputs more than {length_tie_chars} characters longer counted as ties"
    return WinRateResult(
        models=results,
        baseline=baseline,
        source=source,
        length_controlled=length_controlled,
        method=method,
        length_coefficient=slope,
        length_tie_chars=length_tie_chars,
        notes=notes,
    )
