"""Forecast held-out rows of a table with prediction intervals calibrated on extrapolation error.

``forecast`` fits on the rows a ``train`` query selects and predicts every
other row that has the inputs, each with an interval meant to hold the
*observed* value of that row (not the curve) at the stated rate. Three ways
to forecast, chosen by the options:

* compute: a sigmoid (accuracies) or power law (losses) in log10 compute,
  compute being the product of the x columns (params × tokens ∝ 6ND);
* compute with ``group``: the same with a shrunken per-family compute-
  efficiency offset (``assay.scaling.curves``);
* ``observed``: observational scaling (Ruan et al. 2024), the target as a
  sigmoid of principal components of cheap benchmark scores, applied to each
  predicted row's own scores.

Whatever the way, the intervals come from nested backtests on the training
rows (``assay.scaling.calibration``): the procedure is rerun with its largest
models cut off, and the errors it then makes, scaled by how far it
extrapolated, set the width at every distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.special

from assay.errors import ConfigError, DataError
from assay.jsonable import jsonable
from assay.scaling.calibration import (
    BacktestErrors,
    calibrate,
    cross_validated_coverage,
    held_out_intervals,
    nested_backtests,
    training_span,
)
from assay.scaling.curves import Components, Curve, fit_compute_curve, fit_link, fit_two_step, principal_components
from assay.scaling.laws import choose_transform
from assay.scaling.table import LOCATIONS, TableLike, apply_where, describe_row, load_table, table_source
from assay.stats.bootstrap import check_level

CURVES = ("auto", "sigmoid", "power")
MAX_AUTO_COMPONENTS = 3  # Ruan et al. find three components carry nearly all of the benchmarks' variance
SHOWN_ROWS = 5  # rows named in a message before "and N more"


@dataclass
class ForecastResult:
    """Forecasts for every predicted row and target, the fits, and how the intervals were calibrated."""

    x: list[str]
    y: list[str]
    train: str
    level: float
    predictions: list[dict]
    fits: dict[str, dict]
    calibration: dict[str, dict]
    mode: str  # compute | compute+group | observed
    id_column: str | None = None
    group: str | None = None
    observed: list[str] = field(default_factory=list)
    via: str | None = None
    source: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return jsonable(
            {
                "mode": self.mode,
                "x": self.x,
                "y": self.y,
                "train": self.train,
                "level": self.level,
                "id": self.id_column,
                "group": self.group,
                "observed": self.observed,
                "via": self.via,
                "source": self.source,
                "predictions": self.predictions,
                "fits": self.fits,
                "calibration": self.calibration,
                "notes": self.notes,
            }
        )

    def render(self) -> str:
        source = ", ".join(self.observed or self.x) + (f" via {self.via}" if self.via else "")
        lines = [
            f"forecast ({self.mode}) of {', '.join(self.y)} from {source}; "
            f"fit on --train {self.train!r}; {self.level:.0%} prediction intervals"
        ]
        header = f"{'id':<28}{'target':<22}{'truth':>9}{'forecast':>10}  {'interval':<21}{'error':>9}"
        lines.append(header)
        for p in self.predictions:
            truth = "" if p["y"] is None else f"{p['y']:.4g}"
            interval = "(none)" if p["low"] is None else f"[{p['low']:.4g}, {_fmt(p['high'])}]"
            error = "" if p["error"] is None else f"{p['error']:+.3g}"
            mark = "" if p["covered"] is None else ("" if p["covered"] else " *")
            lines.append(
                f"{str(p['id'])[:27]:<28}{p['target'][:21]:<22}{truth:>9}{p['prediction']:>10.4g}  "
                f"{interval:<21}{error:>9}{mark}"
            )
        for target, c in self.calibration.items():
            lines.append(f"{target}: {c['summary']}")
            if c.get("note"):
                lines.append(f"  {c['note']}")
            held = c.get("held_out")
            if held:
                cov = (
                    ""
                    if held["coverage_low"] is None
                    else f" [{held['coverage_low']:.0%}, {held['coverage_high']:.0%}]"
                )
                mae = (
                    ""
                    if held["mean_abs_error_low"] is None
                    else f" [{held['mean_abs_error_low']:.4g}, {held['mean_abs_error_high']:.4g}]"
                )
                lines.append(
                    f"  held-out rows with a truth: {held['n']}; inside the interval "
                    f"{held['coverage']:.0%}{cov}; mean absolute error {held['mean_abs_error']:.4g}{mae}"
                )
        if any(p["covered"] is False for p in self.predictions):
            lines.append("* truth outside the interval")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _fmt(value) -> str:
    return "inf" if value is None or not math.isfinite(value) else f"{value:.4g}"


# -------------------------------------------------------------------------------------------------
# options


def parse_chance(values: Sequence[str] | Mapping[str, object] | None) -> dict[str, tuple[float | None, float | None]]:
    """``COL=FLOOR`` or ``COL=FLOOR:CEILING`` (either side may be empty) into {column: (floor, ceiling)}."""
    if not values:
        return {}
    items = values.items() if isinstance(values, Mapping) else []
    out: dict[str, tuple[float | None, float | None]] = {}
    if not isinstance(values, Mapping):
        parsed = []
        for text in values:
            for part in filter(None, (p.strip() for p in str(text).split(","))):
                column, sep, value = part.partition("=")
                if not sep or not column.strip():
                    raise ConfigError(
                        f"--chance {part!r}: expected COLUMN=FLOOR or COLUMN=FLOOR:CEILING, "
                        "e.g. arc_easy=0.25 or piqa=0.5:1"
                    )
                parsed.append((column.strip(), value.strip()))
        items = parsed
    for column, value in items:
        if isinstance(value, (tuple, list)):
            floor, ceiling = value
        else:
            low, sep, high = str(value).partition(":")
            try:
                floor = float(low) if low.strip() else None
                ceiling = float(high) if sep and high.strip() else None
            except ValueError:
                raise ConfigError(
                    f"--chance {column}={value}: FLOOR and CEILING must be numbers, e.g. 0.25 or 0.25:0.9"
                ) from None
        for bound in (floor, ceiling):
            if bound is not None and not math.isfinite(bound):
                raise ConfigError(f"--chance {column}={value}: give finite numbers")
        if floor is not None and ceiling is not None and not floor < ceiling:
            raise ConfigError(f"--chance {column}={value}: the floor must be below the ceiling")
        out[column] = (None if floor is None else float(floor), None if ceiling is None else float(ceiling))
    return out


def _columns(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    return list(value)


def _rows_named(frame: pd.DataFrame, labels, source: str) -> str:
    """ "models.csv line 5, line 7" for rows read from a file, else "row 3 of the table; row 9 of ..."."""
    labels = list(labels)
    more = f" and {len(labels) - SHOWN_ROWS} more" if len(labels) > SHOWN_ROWS else ""
    places = [(frame.attrs.get(LOCATIONS) or {}).get(label) for label in labels[:SHOWN_ROWS]]
    if all(place is not None for place in places):
        return f"{source} {', '.join(places)}{more}"
    return "; ".join(describe_row(frame, label, source) for label in labels[:SHOWN_ROWS]) + more


def _numeric(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bad.any():
        label = bad[bad].index[0]
        raise DataError(
            f"{describe_row(frame, label, source)}: column {column!r} has a non-numeric value "
            f"{frame[column].loc[label]!r}"
        )
    return values.to_numpy(dtype=float)


def _select_train(frame: pd.DataFrame, train: str, source: str) -> np.ndarray:
    from assay.scaling.table import query_rows

    return frame.index.isin(query_rows(frame, train, source, option="--train").index)


# -------------------------------------------------------------------------------------------------
# the forecast


def forecast(
    data: TableLike,
    x: str | Sequence[str],
    y: str | Sequence[str],
    *,
    train: str,
    id: str | None = None,
    where: str | None = None,
    group: str | None = None,
    observed: str | Sequence[str] | None = None,
    via: str | None = None,
    chance: Sequence[str] | Mapping[str, object] | None = None,
    curve: str = "auto",
    components: int | None = None,
    level: float = 0.9,
) -> ForecastResult:
    """Fit on the rows matching ``train`` and forecast every other row that has the inputs.

    ``x``: one column of compute or several multiplied into it (params,tokens);
    the first also ranks models for the backtests. ``y``: target columns,
    each forecast on its own. ``id`` names rows in the output (and clusters
    checkpoints of one model when it repeats). ``group``: family column for
    compute-efficiency offsets. ``observed``: benchmark columns for
    observational scaling. ``via``: a loss column for two-step forecasts
    (compute → loss → target). ``chance``: ``COL=FLOOR[:CEILING]`` per target.
    ``curve``: sigmoid or power for compute forecasts (auto: sigmoid for
    targets in [0, 1], else power). ``components``: principal components for
    ``observed`` (default: chosen by the backtests among 1 to 3).
    """
    check_level(level, name="--level", example=0.9)
    if curve not in CURVES:
        raise ConfigError(f"--curve {curve!r}: choose one of {', '.join(CURVES)}")
    frame = data if isinstance(data, pd.DataFrame) else load_table(data)
    source = table_source(frame)
    if where:
        frame = apply_where(frame, where, source)
    x_cols, y_cols, obs_cols = _columns(x), _columns(y), _columns(observed)
    if not x_cols:
        raise ConfigError("--x: give the compute column, or params,tokens")
    if not y_cols:
        raise ConfigError("--y: give at least one target column")
    if group and obs_cols:
        raise ConfigError(
            "--group applies to compute forecasts; an --observed forecast takes each model's "
            "efficiency from its own observed scores, so drop one of them"
        )
    if via and obs_cols:
        raise ConfigError(
            "--via (compute -> loss -> target) and --observed (benchmarks -> target) are two ways "
            "to forecast; give one of them"
        )
    if components is not None and not obs_cols:
        raise ConfigError("--components applies to --observed forecasts")
    if components is not None and components < 1:
        raise ConfigError(f"--components {components}: give 1 or more")
    chances = parse_chance(chance)
    for column in [*x_cols, *y_cols, *obs_cols] + [c for c in (id, group, via) if c]:
        if column not in frame.columns:
            raise DataError(f"{source}: no column {column!r}; columns are {', '.join(map(str, frame.columns))}")
    unknown = [c for c in chances if c not in y_cols]
    if unknown:
        raise ConfigError(f"--chance names {', '.join(unknown)}, which is not a --y target ({', '.join(y_cols)})")

    notes: list[str] = []
    xs = np.vstack([_numeric(frame, c, source) for c in x_cols])
    has_x = np.all(np.isfinite(xs), axis=0)
    for j, column in enumerate(x_cols):
        bad = has_x & (xs[j] <= 0)
        if bad.any():
            raise DataError(
                f"column {column!r} must be positive (a size, token count or compute) but is "
                f"{xs[j][bad][0]:g} at {_rows_named(frame, frame.index[bad], source)}"
            )
    train_mask = _select_train(frame, train, source)
    if not train_mask.any():
        raise DataError(f"{source}: --train {train!r} selects no rows (of {len(frame)})")
    missing_x = ~has_x
    if (missing_x & ~train_mask).any():
        notes.append(
            f"{int((missing_x & ~train_mask).sum())} row(s) outside --train lack "
            f"{', '.join(x_cols)} and are not predicted"
        )
    if (missing_x & train_mask).any():
        notes.append(
            f"{int((missing_x & train_mask).sum())} training row(s) lack {', '.join(x_cols)} and are left "
            f"out: {_rows_named(frame, frame.index[missing_x & train_mask], source)}"
        )
    usable = has_x.copy()
    obs = None
    if obs_cols:
        obs = np.column_stack([_numeric(frame, c, source) for c in obs_cols])
        has_obs = np.all(np.isfinite(obs), axis=1)
        lacking_rows = ((~has_obs & ~train_mask & has_x, "predicted"), (~has_obs & train_mask & has_x, "training"))
        for mask, what in lacking_rows:
            if mask.any():
                lacking = sorted(
                    {c for i in np.flatnonzero(mask) for c, ok in zip(obs_cols, np.isfinite(obs[i])) if not ok}
                )
                notes.append(
                    f"{int(mask.sum())} {what} row(s) lack --observed {', '.join(lacking)} and are left "
                    f"out: {_rows_named(frame, frame.index[mask], source)}"
                )
        usable &= has_obs
    train_rows = usable & train_mask
    predict_rows = usable & ~train_mask
    if not predict_rows.any():
        raise DataError(
            f"{source}: --train {train!r} selects every row that has the inputs "
            f"({int(train_rows.sum())}); nothing is left to forecast"
        )

    ids = frame[id].astype(str).to_numpy() if id else np.array([str(label) for label in frame.index], dtype=object)
    cluster = ids
    groups = frame[group].astype(str).to_numpy() if group else None
    log_x = np.log10(np.where(xs > 0, xs, np.nan))
    t = np.nansum(log_x, axis=0)
    rank = log_x[0]

    pcs_all, comps = None, None
    if obs_cols:
        # Components from every row with observed scores, training and predicted: the scores are
        # cheap and known for the rows being forecast, as in Ruan et al.; only the target is held out.
        comps = principal_components(
            obs[usable], obs_cols, min(MAX_AUTO_COMPONENTS if components is None else components, len(obs_cols))
        )
        pcs_all = np.full((len(frame), comps.loadings.shape[0]), np.nan)
        pcs_all[usable] = comps.transform(obs[usable])

    loss = None
    if via:
        loss = _numeric(frame, via, source)
        bad = train_rows & np.isfinite(loss) & (loss <= 0)
        if bad.any():
            raise DataError(
                f"--via {via!r} must be a positive loss or perplexity but is {loss[bad][0]:g} at "
                f"{_rows_named(frame, frame.index[bad], source)}"
            )
        missing_loss = train_rows & ~np.isfinite(loss)
        if missing_loss.any():
            notes.append(
                f"{int(missing_loss.sum())} training row(s) lack --via {via} and are left out: "
                f"{_rows_named(frame, frame.index[missing_loss], source)}"
            )
            train_rows = train_rows & np.isfinite(loss)
        loss_transform = choose_transform(loss[train_rows])

    predictions: list[dict] = []
    fits: dict[str, dict] = {}
    calibrations: dict[str, dict] = {}
    for target in y_cols:
        values = _numeric(frame, target, source)
        has_y = np.isfinite(values)
        fit_rows = np.flatnonzero(train_rows & has_y)
        lacking = train_rows & ~has_y
        if lacking.any():
            notes.append(f"{target}: {int(lacking.sum())} training row(s) have no value and are left out")
        floor, ceiling = chances.get(target, (None, None))
        observed_y = values[fit_rows]
        unit = bool(len(observed_y)) and bool(np.all((observed_y >= 0) & (observed_y <= 1)))
        kind = "link" if obs_cols else "two-step" if via else _choose_curve(curve, observed_y, target, source, unit)
        if kind == "power" and (floor is not None or ceiling is not None):
            raise ConfigError(
                f"--chance {target}: a floor or ceiling applies to accuracies (sigmoid curve), "
                f"but {target!r} is forecast as a loss with a power law"
            )
        bounds = (0.0, 1.0) if unit else (-np.inf, np.inf)
        for bound in (floor, ceiling):
            if unit and bound is not None and not 0 <= bound <= 1:
                raise ConfigError(
                    f"--chance {target}={bound:g}: {target!r} lies in [0, 1]; give the chance "
                    f"accuracy on that scale (e.g. {bound / 100:g} for {bound:g}%)"
                )
        fit_scale = np.log(np.where(values > 0, values, np.nan)) if kind == "power" else values

        n_free = _free_parameters(kind, floor, ceiling)
        if len(fit_rows) < n_free + 1:
            raise DataError(
                f"{target}: --train {train!r} selects {len(fit_rows)} row(s) with inputs and a value, "
                f"but the {kind} curve has {n_free} free parameters; need at least {n_free + 1}"
            )
        if len(np.unique(values[fit_rows])) < 2:
            raise DataError(f"{target}: constant over the {len(fit_rows)} training rows; nothing to fit")

        def fit_on(rows: np.ndarray, k: int | None = None) -> Curve:
            if kind == "two-step":
                return fit_two_step(
                    t[rows],
                    loss[rows],
                    values[rows],
                    transform=loss_transform,
                    groups=None if groups is None else groups[rows],
                    floor=floor,
                    ceiling=ceiling,
                    bounds=bounds,
                )
            if kind == "link":
                return fit_link(pcs_all[rows][:, :k], values[rows], floor=floor, ceiling=ceiling, bounds=bounds)
            return fit_compute_curve(
                kind,
                t[rows],
                fit_scale[rows],
                groups=None if groups is None else groups[rows],
                floor=floor,
                ceiling=ceiling,
                bounds=bounds,
            )

        def apply(fitted: Curve, rows: np.ndarray, k: int | None = None) -> np.ndarray:
            if kind == "link":
                return fitted.value(pcs_all[rows][:, :k])
            return fitted.value(t[rows], None if groups is None else groups[rows])

        def distance(train_index: np.ndarray, test_index: np.ndarray) -> np.ndarray:
            reach = np.nanmax(log_x[:, train_index], axis=1)
            return np.max(np.maximum(log_x[:, test_index] - reach[:, None], 0.0), axis=0)

        def backtests(k: int | None) -> BacktestErrors:
            local_rank, local_truth = rank[fit_rows], fit_scale[fit_rows]

            def fit_and_forecast(train_index, test_index):
                try:
                    fitted = fit_on(fit_rows[train_index], k)
                    return apply(fitted, fit_rows[test_index], k)
                except (ValueError, np.linalg.LinAlgError, FloatingPointError):
                    return None

            return nested_backtests(
                local_rank,
                fit_and_forecast,
                lambda tr, te: distance(fit_rows[tr], fit_rows[te]),
                local_truth,
                cluster[fit_rows],
                min_train=n_free + 2 + (0 if k is None else k - 1),
            )

        chosen_k = None
        component_choice = None
        if kind == "link":
            available = pcs_all.shape[1]
            options = [components] if components is not None else list(range(1, available + 1))
            options = [k for k in options if k <= available]
            trials = {k: backtests(k) for k in options}
            scored = {k: float(np.mean(np.abs(e.error))) for k, e in trials.items() if len(e.error)}
            # Without backtests to judge by, the fewest components: the simplest capability measure.
            chosen_k = min(scored, key=scored.get) if scored and components is None else options[0]
            errors = trials[chosen_k]
            component_choice = {
                "chosen": chosen_k,
                "backtest_mae": scored,
                "rule": "given by --components"
                if components is not None
                else "fewest backtest mean absolute error among 1 to 3 components",
            }
        else:
            errors = backtests(None)
        final = fit_on(fit_rows, chosen_k)
        rule = calibrate(errors, final.sigma, level)
        crossed = cross_validated_coverage(errors, final.sigma, level)

        rows = np.flatnonzero(predict_rows)
        centre = apply(final, rows, chosen_k)
        d = distance(fit_rows, rows)
        span = training_span(rank[fit_rows])
        half = rule.half_width(d, span)
        unseen = np.zeros(len(rows), dtype=bool)
        if groups is not None and not final.offsets:
            notes.append(
                f"{target}: the training rows hold one group of --group {group!r}; no offsets are "
                "fitted and every row gets the one curve"
            )
        if groups is not None and final.offsets:
            unseen = np.array([g not in final.offsets for g in groups[rows]])
            if unseen.any():
                # An unknown family's offset is a draw from the families' spread tau: add its effect.
                z = float(scipy.special.ndtri(0.5 + level / 2))
                extra = z * np.abs(final.slope(t[rows])) * (final.tau or 0.0)
                half = np.where(unseen, np.sqrt(half**2 + extra**2), half)
                names = sorted(set(groups[rows][unseen]))
                notes.append(
                    f"{target}: group(s) {', '.join(names)} of --group {group!r} have no training row; "
                    "their rows get the pooled curve and a wider interval"
                )
        low, high = centre - half, centre + half
        if kind == "power":
            centre, low, high = np.exp(centre), np.exp(low), np.exp(high)
        else:
            low, high = np.clip(low, *bounds), np.clip(high, *bounds)
        method = _method_text(kind, rule, groups is not None and bool(final.offsets))
        covered_flags = []
        for i, row in enumerate(rows):
            truth = values[row] if np.isfinite(values[row]) else None
            inside = None if truth is None or not np.isfinite(half[i]) else bool(low[i] <= truth <= high[i])
            entry = {
                "id": ids[row],
                "target": target,
                "y": truth,
                "prediction": float(centre[i]),
                "low": float(low[i]) if np.isfinite(half[i]) else None,
                "high": float(high[i]) if np.isfinite(half[i]) else None,
                "error": None if truth is None else float(truth - centre[i]),
                "covered": inside,
                "distance": float(d[i]),
                "method": method,
                "inputs": {c: float(xs[j, row]) for j, c in enumerate(x_cols)},
                # The product of the x columns, the scale the curves and the report's figures use.
                "compute": float(10 ** t[row]),
            }
            if groups is not None:
                entry["group"] = groups[row]
                if unseen[i]:
                    entry["note"] = "unseen group: pooled curve"
            predictions.append(entry)
            if truth is not None:
                covered_flags.append((row, inside, abs(truth - centre[i])))
        fit_info = final.to_dict()
        if comps is not None:
            fit_info["components"] = Components(
                comps.columns, comps.mean, comps.std, comps.loadings[:chosen_k], comps.explained[:chosen_k]
            ).to_dict()
            fit_info["component_choice"] = component_choice
        fits[target] = fit_info
        calibrations[target] = _calibration_report(rule, errors, crossed, covered_flags, cluster, level, kind, span)
    mode = "observed" if obs_cols else "two-step" if via else "compute"
    if group:
        mode += "+group"
    return ForecastResult(
        x=x_cols,
        y=y_cols,
        train=train,
        level=level,
        predictions=predictions,
        fits=fits,
        calibration=calibrations,
        mode=mode,
        id_column=id,
        group=group,
        observed=obs_cols,
        via=via,
        source=source,
        notes=notes,
    )


def _choose_curve(curve: str, values: np.ndarray, target: str, source: str, unit: bool) -> str:
    if curve != "auto":
        if curve == "power" and np.any(values <= 0):
            raise DataError(f"{source}: {target!r} has values <= 0; a power law forecasts positive losses")
        return curve
    if unit:
        return "sigmoid"
    if np.all(values > 0):
        return "power"
    raise DataError(
        f"{source}: {target!r} is neither an accuracy in [0, 1] nor a positive loss; "
        "choose --curve sigmoid to fit it as an unbounded sigmoid"
    )


def _free_parameters(kind: str, floor, ceiling) -> int:
    """Parameters the curve fits: power E, A, alpha; sigmoid floor, ceiling, k, x0; link floor, ceiling,
    intercept and one weight per component (counted here for one)."""
    if kind == "power":
        return 3
    if kind == "two-step":  # the larger of the steps: the power law's 3 or the sigmoid's
        return max(3, 4 - (floor is not None) - (ceiling is not None))
    return 4 - (floor is not None) - (ceiling is not None)


def _method_text(kind: str, rule, offsets: bool) -> str:
    shape = {
        "sigmoid": "sigmoid in log10 compute",
        "power": "power law in compute (on log y)",
        "link": "sigmoid link of observed-score components",
        "two-step": "power law of the --via loss in compute, then a sigmoid of that loss",
    }[kind]
    if offsets:
        shape += " with shrunken family offsets"
    kind_of = "split-conformal" if rule.quantile_method == "conformal" else "Student-t"
    return (
        f"{shape}; {kind_of} interval from {rule.n_folds} nested backtest fold(s), "
        f"half-width = q * sqrt(sigma0^2 + (growth * d * (d + lever * span))^2), d = decades beyond the training data"
    )


def _calibration_report(
    rule, errors: BacktestErrors, crossed: dict, held: list, cluster: np.ndarray, level: float, kind: str, span: float
) -> dict:
    scale = "log y" if kind == "power" else "y"
    out = {
        "level": level,
        "method": "split conformal on nested backtests: the training rows are cut below each of their larger "
        "sizes in turn, refitted and forecast above the cut; errors scaled by sqrt(sigma0^2 + "
        "(growth * d * (d + lever * span))^2), d = decades beyond the fitted data, span = decades fitted, "
        "growth and lever by maximum likelihood of the backtest errors; each fold weighs the same",
        "error_scale": scale,
        "folds": rule.n_folds,
        "failed_folds": errors.failed,
        "cuts": errors.cuts,
        "n_errors": rule.n_errors,
        "max_distance": float(np.max(errors.distance)) if len(errors.distance) else None,
        "sigma0": rule.sigma0,
        "growth": rule.growth,
        "lever": rule.lever,
        "span": span,
        "quantile": rule.quantile if math.isfinite(rule.quantile) else None,
        "quantile_method": rule.quantile_method,
        "backtest_coverage": crossed.get("coverage"),
        "per_fold": crossed.get("per_fold", []),
    }
    if "note" in crossed:
        out["backtest_note"] = crossed["note"]
    if not math.isfinite(rule.quantile):
        out["note"] = (
            f"{rule.n_errors} backtest error(s) from {rule.n_folds} fold(s) are too few to bound a "
            f"{level:.0%} interval (a fold needs two sizes and the curve's parameters + 2 rows below "
            "a cut, and rows above it); add smaller models to the training rows"
        )
    summary = (
        f"{rule.n_folds} backtest fold(s), {rule.n_errors} errors; error scale sqrt({rule.sigma0:.3g}^2 + "
        f"({rule.growth:.3g} d (d + {rule.lever:.2g} * {span:.2g}))^2) on {scale}, quantile "
        f"{'inf' if not math.isfinite(rule.quantile) else f'{rule.quantile:.3g}'} ({rule.quantile_method})"
    )
    if crossed.get("coverage") is not None:
        summary += f"; cross-validated backtest coverage {crossed['coverage']:.0%}"
    out["summary"] = summary
    judged = [(row, inside, err) for row, inside, err in held if inside is not None]
    unbounded = len(held) - len(judged)
    if unbounded:
        out["held_out_without_interval"] = unbounded
    if judged:
        rows = np.array([r for r, _, _ in judged])
        inside = np.array([1.0 if c else 0.0 for _, c, _ in judged])
        abs_err = np.array([e for _, _, e in judged])
        labels = cluster[rows]
        mae, cov = held_out_intervals(abs_err, inside, labels)
        out["held_out"] = {
            "n": int(len(inside)),
            "n_models": int(len(np.unique(labels))),
            "coverage": float(inside.mean()),
            "coverage_low": None if cov is None else cov.low,
            "coverage_high": None if cov is None else cov.high,
            "coverage_method": None if cov is None else cov.method,
            "mean_abs_error": float(abs_err.mean()),
            "mean_abs_error_low": None if mae is None else mae.low,
            "mean_abs_error_high": None if mae is None else mae.high,
            "mean_abs_error_method": None if mae is None else mae.method,
        }
    return out
