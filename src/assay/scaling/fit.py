"""Fit a scaling law, bootstrap it, predict with intervals, save and load fits."""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from assay.errors import ConfigError, DataError
from assay.jsonable import jsonable
from assay.scaling.laws import (
    HUBER_DELTA,
    Law,
    choose_transform,
    get_law,
    param_names,
)
from assay.scaling.table import Selection, TableLike, select_columns
from assay.stats.bootstrap import Interval, check_level, percentile_bounds, resample_clusters

EXTRAPOLATION_WARN_RATIO = 100.0
FORMAT_VERSION = 1


@dataclass
class Prediction:
    """A prediction at one point, with a bootstrap interval when the fit has draws."""

    at: dict[str, float]
    value: float
    low: float | None
    high: float | None
    level: float
    method: str
    extrapolation: float  # requested x over the largest fitted x (largest over columns)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return jsonable(
            {
                "at": self.at,
                "value": self.value,
                "low": self.low,
                "high": self.high,
                "level": self.level,
                "method": self.method,
                "extrapolation": self.extrapolation,
                "warnings": self.warnings,
            }
        )

    def to_interval(self) -> Interval:
        return Interval(self.value, self.low, self.high, self.level, self.method)

    def render(self) -> str:
        at = ", ".join(f"{k}={v:g}" for k, v in self.at.items())
        interval = (
            f" [{self.low:.4g}, {self.high:.4g}] ({self.level:.0%}, {self.method})"
            if self.low is not None and self.high is not None
            else " (no interval: too few backtest errors to bound one)"
            if self.method.startswith("prediction")
            else " (no interval: fit without bootstrap)"
        )
        lines = [f"at {at}: {self.value:.4g}{interval}"]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass
class ScalingFit:
    """A fitted law with its parameters, bootstrap draws and provenance."""

    law: str
    x: list[str]
    y: list[str]
    params: dict[str, float]
    ci: dict[str, list[float]]
    objective: float
    n_points: int
    converged: bool
    starts: int
    seconds: float
    formula: str
    objective_kind: str
    options: dict
    x_min: dict[str, float]
    x_max: dict[str, float]
    bootstrap: int = 0
    bootstrap_method: str | None = None
    n_clusters: int | None = None
    draws: np.ndarray | None = None  # (successful replicates, parameters)
    failed_draws: int = 0
    level: float = 0.95
    seed: int = 0
    where: str | None = None
    source: str | None = None
    local_runs: int = 1
    message: str = ""
    objective_parts: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Prediction intervals from nested backtests (fit_law(intervals="calibrated")); when present,
    # predictions carry them instead of the bootstrap interval of the curve.
    calibration: dict | None = None

    def param_interval(self, name: str) -> Interval:
        """One fitted parameter and its bootstrap interval (low/high None when the fit had no bootstrap).

        ``n`` counts the points fitted, ``n_clusters`` the clusters resampled with ``--cluster``.
        """
        if name not in self.params:
            raise ConfigError(f"the {self.law} fit has no parameter {name!r}; it has {', '.join(self.params)}")
        low, high = self.ci.get(name) or (None, None)
        method = self.bootstrap_method or "point estimate (fit without bootstrap)"
        return Interval(self.params[name], low, high, self.level, method, self.n_points, self.n_clusters)

    # -- prediction -------------------------------------------------------------------------
    @property
    def _law(self) -> Law:
        return get_law(self.law)

    def _param_vector(self) -> np.ndarray:
        return np.array([self.params[name] for name in self.params], dtype=float)

    def _resolve_at(self, at: Mapping[str, float]) -> dict[str, float]:
        """Map user names (column names or the law's symbols N, D, S, x) to fitted columns."""
        symbols = self._law.symbols[: len(self.x)]
        aliases = {**{s: c for s, c in zip(symbols, self.x)}, **{c: c for c in self.x}}
        resolved: dict[str, float] = {}
        for key, value in at.items():
            if key not in aliases:
                raise ConfigError(
                    f"cannot predict at {key}={value}: the {self.law} fit takes "
                    f"{', '.join(self.x)} (or {', '.join(symbols)})"
                )
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{key}={value!r} is not a number") from None
            resolved[aliases[key]] = number
        missing = [c for c in self.x if c not in resolved]
        if missing:
            raise ConfigError(f"missing value for {', '.join(missing)} in --at; the fit takes {', '.join(self.x)}")
        return resolved

    def predict_arrays(
        self, x: np.ndarray, *, interval: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Point predictions and bounds for x of shape (n_x, m): the calibrated prediction interval
        when the fit has a calibration, else percentile-bootstrap bounds of the curve.

        Rows beyond the fit's x columns are ignored, so a law of fewer inputs can be drawn or
        scored on the same matrix as one of more (a power law in N beside Chinchilla's N, D).
        """
        x = np.asarray(x, dtype=float)
        if x.ndim == 2 and x.shape[0] > len(self.x):
            x = x[: len(self.x)]
        x = x.reshape(len(self.x), -1)
        law = self._law
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value = law.predict(self._param_vector()[None, :], x, self.options)[0]
            if not interval:
                return value, None, None
            if self.calibration is not None:
                from assay.scaling.calibration import interval_from_calibration

                low, high = interval_from_calibration(self.calibration, self.x, value, x)
                return value, low, high
            if self.draws is None or len(self.draws) == 0:
                return value, None, None
            curves = law.predict(self.draws, x, self.options)
        low, high = percentile_bounds(curves, self.level, skip_nan=True)
        return value, low, high

    def predict(self, at: Mapping[str, float]) -> Prediction:
        """Predict at one point, e.g. ``fit.predict({"N": 7e9, "D": 1.4e12})``."""
        point = self._resolve_at(at)
        if any(not np.isfinite(point[c]) or (self.law != "sigmoid" and point[c] <= 0) for c in self.x):
            raise ConfigError(f"--at values must be finite and positive, got {point}")
        x = np.array([[point[c]] for c in self.x])
        value, low, high = self.predict_arrays(x)
        ratio = max(point[c] / self.x_max[c] for c in self.x)
        notes = []
        if ratio > EXTRAPOLATION_WARN_RATIO:
            column = max(self.x, key=lambda c: point[c] / self.x_max[c])
            width = (
                f"the {self.level:.0%} interval is [{low[0]:.4g}, {high[0]:.4g}], width {high[0] - low[0]:.4g}"
                if low is not None and np.isfinite(low[0])
                else "no interval was computed (fit without bootstrap), so the error is unknown"
            )
            notes.append(
                f"{column}={point[column]:g} is {ratio:.0f}x the largest fitted {column} "
                f"({self.x_max[column]:g}): an extrapolation; {width}"
            )
        for note in notes:
            warnings.warn(note, stacklevel=2)
        return Prediction(
            at=point,
            value=float(value[0]),
            low=None if low is None or not np.isfinite(low[0]) else float(low[0]),
            high=None if high is None or not np.isfinite(high[0]) else float(high[0]),
            level=self.level,
            method=self._interval_method(),
            extrapolation=float(ratio),
            warnings=notes,
        )

    def _interval_method(self) -> str:
        if self.calibration is not None:
            c = self.calibration
            return (
                f"prediction interval calibrated by {c['folds']} nested backtest fold(s) "
                f"({c['quantile_method']}, error scale on {c['error_scale']})"
            )
        return f"percentile bootstrap over {len(self.draws)} refits" if self.draws is not None else "point estimate"

    # -- compute-optimal allocation (Chinchilla) ------------------------------------------
    def compute_optimal(self, compute: float | Sequence[float]) -> dict:
        """N_opt(C), D_opt(C) minimising L under C = 6 N D (Hoffmann et al. 2022, eq. 4)."""
        if self.law != "chinchilla":
            raise ConfigError(f"compute-optimal allocation needs the chinchilla law, not {self.law}")
        compute = np.atleast_1d(np.asarray(compute, dtype=float))

        def allocate(params: np.ndarray):
            e, a, b, alpha, beta = (params[:, i : i + 1] for i in range(5))
            with np.errstate(all="ignore"):
                g = (alpha * a / (beta * b)) ** (1 / (alpha + beta))
                n_opt = g * (compute[None, :] / 6) ** (beta / (alpha + beta))
            return n_opt, compute[None, :] / (6 * n_opt)

        n_opt, d_opt = allocate(self._param_vector()[None, :])
        p = self.params
        out = {
            "C": compute,
            "N_opt": n_opt[0],
            "D_opt": d_opt[0],
            "N_exponent": p["beta"] / (p["alpha"] + p["beta"]),
            "D_exponent": p["alpha"] / (p["alpha"] + p["beta"]),
            "G": (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"])),
        }
        if self.draws is not None and len(self.draws):
            n_draws, d_draws = allocate(self.draws)
            out["N_opt_ci"] = np.array(percentile_bounds(n_draws, self.level, skip_nan=True)).T
            out["D_opt_ci"] = np.array(percentile_bounds(d_draws, self.level, skip_nan=True)).T
        return out

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        out = {
            "law": self.law,
            "params": self.params,
            "ci": self.ci,
            "objective": self.objective,
            "n_points": self.n_points,
            "converged": self.converged,
            "starts": self.starts,
            "seconds": self.seconds,
            "x": self.x,
            "y": self.y,
            "formula": self.formula,
            "objective_kind": self.objective_kind,
            "objective_parts": self.objective_parts,
            "local_runs": self.local_runs,
            "message": self.message,
            "options": self.options,
            "x_min": self.x_min,
            "x_max": self.x_max,
            "bootstrap": self.bootstrap,
            "bootstrap_method": self.bootstrap_method,
            "n_clusters": self.n_clusters,
            "failed_draws": self.failed_draws,
            "level": self.level,
            "seed": self.seed,
            "where": self.where,
            "source": self.source,
            "warnings": self.warnings,
            "param_names": list(self.params),
            "draws": self.draws,
            "format_version": FORMAT_VERSION,
        }
        if self.calibration is not None:
            out["calibration"] = self.calibration
        if self.law == "chinchilla":
            out["compute_optimal"] = self.compute_optimal(10.0 ** np.arange(20, 26))
        return jsonable(out)

    @classmethod
    def from_dict(cls, d: Mapping) -> "ScalingFit":
        try:
            names = d.get("param_names") or list(d["params"])
            draws = d.get("draws")
            fit = cls(
                law=d["law"],
                x=list(d["x"]),
                y=list(d["y"]),
                params={n: float(d["params"][n]) for n in names},
                ci={k: list(v) for k, v in (d.get("ci") or {}).items()},
                objective=d["objective"],
                n_points=int(d["n_points"]),
                converged=bool(d["converged"]),
                starts=int(d["starts"]),
                seconds=float(d.get("seconds") or 0.0),
                formula=d.get("formula", ""),
                objective_kind=d.get("objective_kind", ""),
                options=dict(d.get("options") or {}),
                x_min={k: float(v) for k, v in d["x_min"].items()},
                x_max={k: float(v) for k, v in d["x_max"].items()},
                bootstrap=int(d.get("bootstrap") or 0),
                bootstrap_method=d.get("bootstrap_method"),
                n_clusters=d.get("n_clusters"),
                # NaN draws were written as null; keep them as NaN so quantiles skip them.
                draws=None
                if not draws
                else np.array([[np.nan if v is None else v for v in row] for row in draws], float),
                failed_draws=int(d.get("failed_draws") or 0),
                level=float(d.get("level", 0.95)),
                seed=int(d.get("seed") or 0),
                where=d.get("where"),
                source=d.get("source"),
                local_runs=int(d.get("local_runs") or 1),
                message=d.get("message", ""),
                objective_parts=dict(d.get("objective_parts") or {}),
                warnings=list(d.get("warnings") or []),
                calibration=dict(d["calibration"]) if d.get("calibration") else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(f"not a saved scaling fit (missing or malformed field: {exc})") from exc
        get_law(fit.law)
        return fit

    def save(self, path: str | Path) -> Path:
        """Write the fit as JSON, creating missing parent directories."""
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"{path} is a directory; give a file name for the fit, e.g. {path / 'fit.json'}")
        text = json.dumps(self.to_dict(), indent=1)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError as exc:
            raise ConfigError(f"cannot write the fit to {path}: {exc.strerror or exc}") from exc
        return path

    def render(self) -> str:
        lines = [f"{self.law} fit of {', '.join(self.y)} on {', '.join(self.x)}: {self.formula}"]
        for name, value in self.params.items():
            interval = self.ci.get(name)
            bounds = f"  [{interval[0]:.4g}, {interval[1]:.4g}]" if interval and None not in interval else ""
            lines.append(f"  {name:<8} {value:.6g}{bounds}")
        lines.append(
            f"  objective {self.objective:.6g} ({self.objective_kind}), {self.n_points} points, "
            f"{self.starts} starts screened, {'converged' if self.converged else 'NOT CONVERGED'}, {self.seconds:.2f} s"
        )
        if self.bootstrap:
            lines.append(
                f"  {self.level:.0%} intervals: {self.bootstrap_method}; {len(self.draws) if self.draws is not None else 0}"
                f" of {self.bootstrap} refits succeeded"
            )
        if self.law == "chinchilla":
            opt = self.compute_optimal([1e21, 1e23, 1e25])
            lines.append(
                f"  compute-optimal: N_opt ∝ C^{opt['N_exponent']:.3f}, D_opt ∝ C^{opt['D_exponent']:.3f}; "
                + "; ".join(f"C={c:.0e}: N={n:.3g}, D={d:.3g}" for c, n, d in zip(opt["C"], opt["N_opt"], opt["D_opt"]))
            )
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def load_fit(path: str | Path) -> ScalingFit:
    """Load a fit written by ``ScalingFit.save`` or ``assay scale fit --json``."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such fit file")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not JSON ({exc})") from exc
    try:
        return ScalingFit.from_dict(data)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from exc


def parse_at(text: str) -> dict[str, float]:
    """Parse ``N=7e9,D=1.4e12`` into ``{"N": 7e9, "D": 1.4e12}``."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--at {text!r}: {part!r} is not NAME=NUMBER (e.g. N=7e9,D=1.4e12)") from None
    if not out:
        raise ConfigError(f"--at {text!r}: give at least one NAME=NUMBER")
    return out


def check_chance(chance: float | None, accuracy: np.ndarray, column: str, source: str) -> None:
    """The sigmoid floor must be a number on the accuracy's own scale: a fraction when every
    accuracy is in [0, 1] (a floor of 50 there would pin the curve far above every point)."""
    if chance is None:
        return
    if not np.isfinite(chance):
        raise ConfigError(f"--chance {chance}: give a finite number, the accuracy of guessing (e.g. 0.25)")
    if np.all((accuracy >= 0) & (accuracy <= 1)) and not 0 <= chance <= 1:
        raise ConfigError(
            f"--chance {chance:g} is outside [0, 1], but {column!r} in {source} lies in [0, 1]; "
            f"give chance on the same scale (e.g. {chance / 100:g} for {chance:g}%)"
            if 1 < chance <= 100
            else f"--chance {chance:g} is outside [0, 1], but {column!r} in {source} lies in [0, 1]; "
            "give chance on the same scale, e.g. 0.25 for four options"
        )


def _split_columns(value: str | Sequence[str]) -> list[str]:
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    return list(value)


def _resample(rng: np.random.Generator, n: int, groups: np.ndarray | None) -> np.ndarray:
    """Rows of one bootstrap replicate: points drawn with replacement, or whole clusters when grouped."""
    codes = np.arange(n) if groups is None else np.unique(groups, return_inverse=True)[1].ravel()
    return resample_clusters(codes, rng)[0]


def fit_selection(
    selection: Selection,
    law: Law,
    options: dict,
    *,
    bootstrap: int = 0,
    seed: int = 0,
):
    """Fit arrays already checked by ``select_columns``; returns (solution, draws, failures)."""
    solution = law.fit(selection.x, selection.y, options)
    draws, failures = [], 0
    if bootstrap:
        rng = np.random.default_rng(seed)
        n = selection.x.shape[1]
        p = len(solution.params)
        for _ in range(bootstrap):
            idx = _resample(rng, n, selection.groups)
            x, y = selection.x[:, idx], selection.y[:, idx]
            # A replicate with too few distinct points or constant y cannot be refitted.
            if len(np.unique(x, axis=1).T) < min(p, len(np.unique(selection.x, axis=1).T)) or np.any(
                np.ptp(y, axis=1) == 0
            ):
                failures += 1
                continue
            try:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    # Warm start from the full-data optimum: replicates stay in its basin and
                    # each refit costs one local optimisation instead of a grid.
                    replicate = law.fit(x, y, options, warm=solution.params)
            except (ValueError, FloatingPointError, np.linalg.LinAlgError):
                failures += 1
                continue
            if np.all(np.isfinite(replicate.params)):
                draws.append(replicate.params)
            else:
                failures += 1
    return solution, (np.array(draws) if draws else None), failures


def fit_law(
    data: TableLike,
    law: str,
    x: str | Sequence[str],
    y: str | Sequence[str],
    *,
    where: str | None = None,
    bootstrap: int = 0,
    seed: int = 0,
    cluster: str | None = None,
    chance: float | None = None,
    x_transform: str = "auto",
    level: float = 0.95,
    intervals: str = "bootstrap",
) -> ScalingFit:
    """Fit ``law`` to a table (DataFrame or CSV/Parquet path) of one row per model or checkpoint.

    ``x`` and ``y`` are column names (lists or comma-separated). ``two-step``
    takes y as ``LOSS,ACCURACY``. ``chance`` fixes the sigmoid floor; without
    it the floor is fitted. ``bootstrap`` refits on B resamples of the rows,
    of whole clusters when ``cluster`` (default: a repeated ``model`` column)
    groups them, and gives percentile intervals at ``level``. ``intervals="calibrated"``
    adds prediction intervals calibrated by nested backtests on the rows (those of
    ``assay scale forecast``): the fit's predictions then carry them.
    """
    if intervals not in ("bootstrap", "calibrated"):
        raise ConfigError(
            f"--intervals {intervals!r}: choose bootstrap (of the curve) or calibrated (prediction "
            "intervals from nested backtests)"
        )
    began = time.perf_counter()
    spec = get_law(law)
    x_cols, y_cols = _split_columns(x), _split_columns(y)
    if len(x_cols) not in spec.n_x:
        raise ConfigError(
            f"the {law} law takes {' or '.join(map(str, spec.n_x))} x column(s) ({', '.join(spec.symbols)}), "
            f"got {len(x_cols)}: {','.join(x_cols) or '(none)'}"
        )
    if len(y_cols) != spec.n_y:
        shape = "LOSS,ACCURACY (two columns)" if spec.n_y == 2 else "one column"
        raise ConfigError(f"the {law} law takes y as {shape}, got {','.join(y_cols) or '(none)'}")
    if bootstrap < 0:
        raise ConfigError(f"--bootstrap must be 0 or more, got {bootstrap}")
    check_level(level, name="level")
    if x_transform not in ("auto", "log10", "linear"):
        raise ConfigError(f"x_transform must be auto, log10 or linear, got {x_transform!r}")
    positive_x = law != "sigmoid" or x_transform == "log10"
    selection = select_columns(data, x_cols, y_cols, where=where, cluster=cluster, positive_x=positive_x)
    spec.check_y(selection.y, y_cols, selection.source)
    # A law of x needs x to vary; Kaplan's batch size (third column) only corrects the steps and may be fixed.
    for index, column in enumerate(x_cols[:2] if law == "kaplan" else x_cols):
        values = selection.x[index]
        if np.ptp(values) == 0:
            raise DataError(
                f"{selection.source}: column {column!r} has one value ({values[0]:g}) in all "
                f"{values.size} selected rows; the {law} law is a function of it, so it needs rows at two or "
                "more values of it (models of different sizes, or checkpoints)"
            )
    names = param_names(spec, len(x_cols))
    n_points = selection.x.shape[1]
    free = len(names) - (1 if chance is not None and law in ("sigmoid", "two-step") else 0)
    if n_points < free:
        raise DataError(
            f"{selection.source}: {n_points} point(s) selected but the {law} law has {free} free parameters; "
            f"need at least {free}"
        )
    options: dict = {"delta": HUBER_DELTA}
    if law in ("sigmoid", "two-step"):
        check_chance(chance, selection.y[-1], y_cols[-1], selection.source)
        options["chance"] = chance
        sigmoid_input = selection.x[0] if law == "sigmoid" else selection.y[0]
        options["x_transform"] = choose_transform(sigmoid_input) if x_transform == "auto" else x_transform
    elif chance is not None:
        raise ConfigError(f"--chance applies to the sigmoid and two-step laws, not {law}")

    notes: list[str] = []
    if n_points == free:
        notes.append(f"{n_points} points for {free} parameters: the fit interpolates and has no residual check")
    solution, draws, failures = fit_selection(selection, spec, options, bootstrap=bootstrap, seed=seed)
    if not solution.converged:
        notes.append(f"the {law} fit did not converge ({solution.message})")
    ci: dict[str, list[float]] = {}
    if draws is not None:
        low, high = percentile_bounds(draws, level, skip_nan=True)
        ci = {name: [float(low[i]), float(high[i])] for i, name in enumerate(names)}
    if bootstrap and failures > 0.05 * bootstrap:
        notes.append(f"{failures} of {bootstrap} bootstrap refits failed; intervals rest on the rest")
    n_clusters = None if selection.groups is None else int(len(np.unique(selection.groups)))
    method = None
    if bootstrap:
        unit = (
            f"{n_clusters} clusters by {selection.cluster!r}" if selection.groups is not None else f"{n_points} points"
        )
        method = f"percentile bootstrap, {bootstrap} resamples of {unit}, refits warm-started at the full-data optimum"
    for note in notes:
        warnings.warn(note, stacklevel=2)
    fit = ScalingFit(
        law=law,
        x=x_cols,
        y=y_cols,
        params={name: float(v) for name, v in zip(names, solution.params)},
        ci=ci,
        objective=solution.objective,
        n_points=n_points,
        converged=solution.converged,
        starts=solution.starts,
        seconds=time.perf_counter() - began,
        formula=spec.formula,
        objective_kind=spec.objective,
        options=options,
        x_min={c: float(v) for c, v in zip(x_cols, selection.x.min(axis=1))},
        x_max={c: float(v) for c, v in zip(x_cols, selection.x.max(axis=1))},
        bootstrap=bootstrap,
        bootstrap_method=method,
        n_clusters=n_clusters,
        draws=draws,
        failed_draws=failures,
        level=level,
        seed=seed,
        where=where,
        source=selection.source,
        local_runs=solution.local_runs,
        message=solution.message,
        objective_parts=solution.parts,
        warnings=notes,
    )
    if intervals == "calibrated":
        import pandas as pd

        from assay.scaling.law_intervals import calibrate_law

        rows = pd.DataFrame(
            {c: selection.x[i] for i, c in enumerate(x_cols)} | {c: selection.y[i] for i, c in enumerate(y_cols)}
        )
        labels = (selection.groups if selection.groups is not None else np.arange(n_points)).astype(str)
        fit.calibration = calibrate_law(rows, fit, chance=chance, level=level, cluster=labels.astype(object))
    return fit
