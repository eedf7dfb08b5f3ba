"""Backtest: fit on all but the largest models, predict those, score the forecasts."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from assay.errors import ConfigError, DataError
from assay.jsonable import jsonable
from assay.scaling.calibration import held_out_intervals
from assay.scaling.fit import ScalingFit, fit_law
from assay.scaling.laws import get_law
from assay.scaling.table import TableLike, apply_where, describe_row, load_table, table_source


@dataclass
class BacktestResult:
    """Held-out forecasts of one or more laws, side by side."""

    laws: list[str]
    x: list[str]
    y: list[str]
    holdout_largest: int
    holdout_values: list[float]  # the held-out values of the first x column
    n_train: int
    n_test: int
    rows: list[dict]  # one per (law, held-out point)
    summary: dict[str, dict]  # per law: errors, coverage, convergence
    fits: dict[str, ScalingFit]
    level: float
    warnings: list[str] = field(default_factory=list)
    columns: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # per law: the x and y it used
    source: str | None = None  # the data file (so a report can draw the points), or "the table"
    where: str | None = None

    def to_dict(self) -> dict:
        return jsonable(
            {
                "laws": self.laws,
                "x": self.x,
                "y": self.y,
                "holdout_largest": self.holdout_largest,
                "holdout_values": self.holdout_values,
                "n_train": self.n_train,
                "n_test": self.n_test,
                "level": self.level,
                "summary": self.summary,
                "rows": self.rows,
                # Fits keep their bootstrap draws so a saved backtest can still draw its bands.
                "fits": {law: fit.to_dict() for law, fit in self.fits.items()},
                "columns": self.columns,
                "source": self.source,
                "where": self.where,
                "warnings": self.warnings,
            }
        )

    def render(self) -> str:
        lines = [
            f"backtest: fit on {self.n_train} rows, predict the {self.holdout_largest} largest "
            f"{self.x[0]} ({', '.join(f'{v:g}' for v in self.holdout_values)}), {self.n_test} rows"
        ]
        header = f"{'law':<11}{'MAE':>10}{'mean rel':>10}{'max rel':>10}{'coverage':>22}  converged"
        kind = next(iter(self.summary.values()), {}).get("intervals", "bootstrap")
        lines.append(
            f"{self.level:.0%} intervals: "
            + (
                "prediction intervals calibrated by nested backtests on the training rows"
                if kind == "calibrated"
                else "bootstrap of the fitted curve"
            )
        )
        lines.append(header)
        for law in self.laws:
            s = self.summary[law]
            coverage = "n/a" if s["coverage"] is None else f"{s['coverage']:.0%}"
            if s.get("coverage_ci"):
                coverage += f" [{s['coverage_ci'][0]:.0%}, {s['coverage_ci'][1]:.0%}]"
            lines.append(
                f"{law:<11}{s['mean_abs_error']:>10.4g}{s['mean_rel_error']:>10.2%}{s['max_rel_error']:>10.2%}"
                f"{coverage:>22}  {s['converged']}"
            )
        for law in self.laws:
            used = self.columns.get(law)
            if used and used["x"] != self.x:
                lines.append(f"note: {law} takes {len(used['x'])} x column(s): fitted on {', '.join(used['x'])} only")
            if used and used["y"] != self.y:
                lines.append(f"note: {law} takes {len(used['y'])} y column: fitted to {', '.join(used['y'])} only")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass
class LawCoverage:
    """The share of held-out truths inside their forecast interval, for one law (None: the only one)."""

    law: str | None
    share: float
    n: int


def coverage_by_law(rows: pd.DataFrame) -> list[LawCoverage]:
    """Coverage of a backtest's held-out rows (``covered`` per row; None where no interval), per law when
    the rows hold competing laws: a pooled rate would describe neither."""
    if "law" in rows.columns and rows["law"].nunique() > 1:
        groups = [(str(law), part) for law, part in rows.groupby("law", sort=False)]
    else:
        groups = [(None, rows)]
    found = []
    for law, part in groups:
        covered = part["covered"].dropna() if "covered" in part.columns else pd.Series(dtype=float)
        if len(covered):
            found.append(LawCoverage(law, float(covered.mean()), len(covered)))
    return found


def _split_columns(value: str | Sequence[str]) -> list[str]:
    """``"a, b"`` or ``["a", "b"]`` as a list of column names."""
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    return list(value)


def backtest(
    data: TableLike,
    law: str,
    x: str | Sequence[str],
    y: str | Sequence[str],
    *,
    holdout_largest: int = 1,
    compare: Sequence[str] | str | None = None,
    where: str | None = None,
    bootstrap: int = 200,
    seed: int = 0,
    cluster: str | None = None,
    chance: float | None = None,
    level: float = 0.95,
    intervals: str = "bootstrap",
) -> BacktestResult:
    """Hold out every row whose first x column is among its K largest values, fit the rest, predict.

    With checkpoints, "largest" means the K largest model sizes, all their
    checkpoints held out together. ``compare`` adds laws fitted and scored on
    the same split; a compare law that takes fewer x columns than given uses
    the first ones (``power`` beside ``chinchilla`` on N,D fits N), and one
    that takes fewer y columns uses the last (``sigmoid`` beside ``two-step``
    fits the accuracy). ``chance`` goes to the laws that take it (sigmoid,
    two-step). Coverage is the share of held-out truths inside the bootstrap
    interval of the fitted curve (parameter uncertainty only: it does not
    include the scatter of individual models around the curve), or with
    ``intervals="calibrated"`` inside the prediction interval of
    ``assay scale forecast``, calibrated by nested backtests on the training
    rows (``assay.scaling.law_intervals``). The summary gives coverage and
    mean absolute error each with a 95% interval, clustered by model when a
    ``model`` column repeats.
    """
    if intervals not in ("bootstrap", "calibrated"):
        raise ConfigError(
            f"--intervals {intervals!r}: choose bootstrap (of the curve) or calibrated (prediction "
            "intervals from nested backtests)"
        )
    laws = [law] + [c for c in (_split_columns(compare) if compare else []) if c != law]
    x_cols, y_cols = _split_columns(x), _split_columns(y)
    if holdout_largest < 1:
        raise ConfigError(f"--holdout-largest must be 1 or more, got {holdout_largest}")
    columns = {name: _columns_for(name, x_cols, y_cols, main=name == law) for name in laws}
    frame = data if isinstance(data, pd.DataFrame) else load_table(data)
    source = table_source(frame)
    frame = apply_where(frame, where, source)
    if not x_cols or x_cols[0] not in frame.columns:
        raise DataError(
            f"{source}: no column {x_cols[0] if x_cols else '(none)'!r}; columns are {', '.join(map(str, frame.columns))}"
        )
    sizes = pd.to_numeric(frame[x_cols[0]], errors="coerce")
    distinct = np.sort(sizes.dropna().unique())
    if len(distinct) <= holdout_largest:
        raise DataError(
            f"{source}: {x_cols[0]!r} has {len(distinct)} distinct values; holding out {holdout_largest} "
            f"would leave nothing to fit on"
        )
    held = distinct[-holdout_largest:]
    test_mask = sizes.isin(held).to_numpy()
    train, test = frame[~test_mask], frame[test_mask]
    for column in [*x_cols, y_cols[-1]]:
        if column not in test.columns:
            continue  # fit_law names the missing column
        values = pd.to_numeric(test[column], errors="coerce").to_numpy(float)
        if not np.all(np.isfinite(values)):
            label = test.index[int(np.argmax(~np.isfinite(values)))]
            raise DataError(
                f"{describe_row(test, label, source)}: held-out row has no numeric {column!r} "
                f'(got {test[column].loc[label]!r}); drop it with --where "{column}.notna()"'
            )
    rows, summary, fits, notes = [], {}, {}, []
    for name in laws:
        law_x, law_y = columns[name]["x"], columns[name]["y"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = fit_law(
                train,
                name,
                law_x,
                law_y,
                bootstrap=bootstrap,
                seed=seed,
                cluster=cluster,
                chance=chance if name == law or name in CHANCE_LAWS else None,
                level=level,
            )
        notes += [f"{name}: {w.message}" for w in caught if issubclass(w.category, UserWarning)]
        fits[name] = fit
        x_all = np.vstack([pd.to_numeric(test[c], errors="coerce").to_numpy(float) for c in x_cols])
        truth = pd.to_numeric(test[y_cols[-1]], errors="coerce").to_numpy(float)
        value, low, high = fit.predict_arrays(x_all[: len(law_x)], interval=intervals == "bootstrap")
        calibration = None
        if intervals == "calibrated":
            from assay.scaling.law_intervals import calibrated_intervals

            labels = train["model"] if "model" in train.columns else pd.Series(train.index, index=train.index)
            found = calibrated_intervals(
                train,
                fit,
                x_all[: len(law_x)],
                chance=chance if name == law or name in CHANCE_LAWS else None,
                level=level,
                cluster=labels.astype(str).to_numpy(dtype=object),
            )
            low, high, calibration = found.low, found.high, found.calibration
        abs_error = np.abs(value - truth)
        rel_error = abs_error / np.abs(truth)
        covered = None if low is None else (low <= truth) & (truth <= high)
        if covered is not None and not np.all(np.isfinite(low)):
            covered = None  # too few backtest errors to bound an interval: see the calibration
        for i, label in enumerate(test.index):
            rows.append(
                {
                    "law": name,
                    "row": label,
                    **{c: x_all[j, i] for j, c in enumerate(x_cols)},
                    "truth": truth[i],
                    "predicted": value[i],
                    "low": None if low is None or not np.isfinite(low[i]) else low[i],
                    "high": None if high is None or not np.isfinite(high[i]) else high[i],
                    "abs_error": abs_error[i],
                    "rel_error": rel_error[i],
                    "covered": None if covered is None else bool(covered[i]),
                }
            )
        summary[name] = {
            "mean_abs_error": float(np.mean(abs_error)),
            "mean_rel_error": float(np.mean(rel_error)),
            "max_rel_error": float(np.max(rel_error)),
            "coverage": None if covered is None else float(np.mean(covered)),
            **_summary_intervals(test, abs_error, covered),
            "intervals": intervals,
            **({"calibration": calibration} if calibration is not None else {}),
            "converged": fit.converged,
            "params": fit.params,
            "x": law_x,
            "y": law_y,
        }
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return BacktestResult(
        laws=laws,
        x=x_cols,
        y=y_cols,
        holdout_largest=holdout_largest,
        holdout_values=[float(v) for v in held],
        n_train=len(train),
        n_test=len(test),
        rows=rows,
        summary=summary,
        fits=fits,
        level=level,
        warnings=notes,
        columns=columns,
        source=source,
        where=where,
    )


CHANCE_LAWS = ("sigmoid", "two-step")


def _summary_intervals(test: pd.DataFrame, abs_error: np.ndarray, covered: np.ndarray | None) -> dict:
    """95% intervals for the held-out mean absolute error and coverage, clustered by model when a
    ``model`` column repeats (checkpoints of one model err together)."""
    if len(abs_error) < 2:
        return {}
    labels = test["model"].astype(str).to_numpy() if "model" in test.columns else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mae, cov = held_out_intervals(abs_error, covered, labels)
    out = {"mean_abs_error_ci": [mae.low, mae.high], "mean_abs_error_ci_method": mae.method}
    if cov is not None:
        out.update({"coverage_ci": [cov.low, cov.high], "coverage_ci_method": cov.method})
    return out


def _columns_for(name: str, x_cols: list[str], y_cols: list[str], *, main: bool) -> dict[str, list[str]]:
    """The x and y columns law ``name`` is fitted on: all of them for the main law (fit_law
    checks the count), the first x and last y columns for a compare law that takes fewer."""
    spec = get_law(name)
    if main:
        return {"x": list(x_cols), "y": list(y_cols)}
    fitting = [k for k in spec.n_x if k <= len(x_cols)]
    if not fitting:
        raise ConfigError(
            f"--compare {name}: the {name} law takes {' or '.join(map(str, spec.n_x))} x column(s) "
            f"({', '.join(spec.symbols)}), but --x gives {len(x_cols)}: {','.join(x_cols)}"
        )
    if len(y_cols) < spec.n_y:
        raise ConfigError(
            f"--compare {name}: the {name} law takes y as LOSS,ACCURACY (two columns), but --y gives {','.join(y_cols)}"
        )
    return {"x": list(x_cols[: max(fitting)]), "y": list(y_cols[len(y_cols) - spec.n_y :])}
