"""Read what the report draws: scores with difficulty, audits, judge verdicts, scaling fits, pass@k.

Each reader takes a path, a result object or a plain dict (the result's
``to_dict()``), and raises ``DataError`` naming the file and what would be
valid when it cannot use it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import ConfigError, DataError


def _read_json(path: Path, what: str, valid: str) -> dict:
    if not path.exists():
        raise DataError(f"{path}: no such {what} file; give {valid}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a JSON {what} file ({exc}); give {valid}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(data).__name__}; give {valid}")
    return data


# ---- difficulty ----------------------------------------------------------------------------------


def level_key(level: str):
    """Sort difficulty levels by the numbers in them ("digits=2,ops=1" < "digits=10,ops=1"), then by text."""
    numbers = tuple(float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", level))
    return (numbers, level)


def scored_sources(sources: list, notes: list[str]) -> list:
    """The sources that hold scores: a run directory whose outputs were stored
    without a scorer (a dataset without targets) is left out with a note, so
    that it does not stop the report of the others."""
    from assay.run.store import open_run, read_config

    kept = []
    for source in sources:
        if isinstance(source, (str, Path)) and Path(source).is_dir():
            with open_run(source) as store:
                if not store.scorers():
                    if read_config(source).get("scorers"):
                        notes.append(
                            f"{source}: no sample was scored (every request failed), so it is not in "
                            "the leaderboard; re-run it to retry them"
                        )
                    else:
                        notes.append(
                            f"{source}: its outputs were stored without a scorer (no targets), so it "
                            "is not in the leaderboard; judge its outputs and give --audit to report them"
                        )
                    continue
        kept.append(source)
    return kept


def difficulty_scores(source, metric: str | None = None) -> pd.DataFrame | None:
    """Per-sample scores with a difficulty level: model, item, score, difficulty (None if the source has none).

    Run directories take the level from each item's meta ``difficulty``; score
    files from a ``difficulty`` column.
    """
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        path = Path(source)
        if path.is_dir():
            from assay.run.store import open_run, scores_frame

            scores = scores_frame(path, metric=metric)
            with open_run(path) as store:
                levels = {item_id: item.meta.get("difficulty") for item_id, item in store.items().items()}
            scores["difficulty"] = scores["item"].map(levels)
            frame = scores
        else:
            from assay.tables import read_frame

            frame = read_frame(path, what="score")
            if metric is not None and "metric" in frame.columns:
                frame = frame[frame["metric"].astype(str) == metric]
    if "difficulty" not in frame.columns:
        return None
    frame = frame[frame["difficulty"].notna()]
    if frame.empty:
        return None
    out = pd.DataFrame(
        {
            "model": frame["model"].astype(str).to_numpy(),
            "item": frame["item"].astype(str).to_numpy(),
            "score": pd.to_numeric(frame["score"], errors="coerce").to_numpy(),
            "difficulty": frame["difficulty"].astype(str).to_numpy(),
        }
    )
    return out[np.isfinite(out["score"])]


# ---- audits and verdicts -------------------------------------------------------------------------

AUDIT_VALID = "an audit JSON written by `assay audit --json` (keys kind, judges, jury) or an AuditResult"


def load_audit(audit) -> dict:
    """An audit as the plain dict of ``AuditResult.to_dict()``."""
    if hasattr(audit, "to_dict"):
        data, label = audit.to_dict(), "audit result"
    elif isinstance(audit, dict):
        data, label = audit, "audit dict"
    else:
        path = Path(audit)
        data, label = _read_json(path, "audit", AUDIT_VALID), str(path)
    if not isinstance(data.get("judges"), list) or "kind" not in data:
        raise DataError(f"{label}: not a judge audit (no 'kind' and 'judges'); give {AUDIT_VALID}")
    for judge in data["judges"]:
        if not isinstance(judge, dict) or "judge" not in judge or not isinstance(judge.get("accuracy"), dict):
            raise DataError(f"{label}: a judge entry lacks 'judge' or 'accuracy'; give {AUDIT_VALID}")
    return data


VERDICT_COST_COLUMNS = (
    ("cost", "cost per verdict"),
    ("tokens", "tokens per verdict"),
    ("latency", "seconds per verdict"),
)


def load_verdicts(judge) -> pd.DataFrame:
    """Judge verdicts with item, judge, verdict, order, unit and cost columns.

    ``judge`` is a verdicts table (CSV/TSV/JSONL/JSON/Parquet or DataFrame, as
    for ``assay.judge.audit.audit``) or a run directory whose store holds verdicts.
    """
    from assay.judge.tables import canonical, flag, load_table

    if isinstance(judge, pd.DataFrame):
        frame, label = judge.copy(), "verdicts table"
    elif Path(judge).is_dir():
        from assay.run.store import open_run

        with open_run(judge) as store:
            frame = store.verdicts_frame()[
                [
                    "item",
                    "model",
                    "model_b",
                    "judge",
                    "order",
                    "verdict",
                    "invalid",
                    "tokens_in",
                    "tokens_out",
                    "latency",
                ]
            ]
        label = f"{judge} (verdicts table of the run)"
        if frame.empty:
            raise DataError(f"{judge}: the run holds no judge verdicts; run a judge on it or give a verdicts file")
    else:
        frame, label = load_table(judge, name="verdicts"), str(judge)
    missing = [c for c in ("item", "judge", "verdict") if c not in frame.columns]
    if missing:
        raise DataError(
            f"{label}: missing column(s) {', '.join(missing)}; a verdicts table needs item, judge, "
            "verdict (optional order, model, model_b, invalid, cost, tokens_in, tokens_out, latency)"
        )
    out = pd.DataFrame(
        {
            "item": frame["item"].astype(str),
            "judge": frame["judge"].astype(str),
            "order": frame["order"].fillna("original").astype(str).str.lower()
            if "order" in frame.columns
            else "original",
        }
    )
    out["unit"] = out["item"]
    for column in ("model", "model_b"):
        if column in frame.columns:
            out["unit"] = out["unit"] + "\x1f" + frame[column].fillna("").astype(str)
    invalid = (
        [flag(v, label, "invalid") for v in frame["invalid"]] if "invalid" in frame.columns else [False] * len(frame)
    )
    out["verdict"] = [None if bad else canonical(v) for v, bad in zip(frame["verdict"], invalid)]
    if "cost" in frame.columns:
        out["cost"] = pd.to_numeric(frame["cost"], errors="coerce")
    if "tokens_in" in frame.columns or "tokens_out" in frame.columns:
        tokens = sum(
            pd.to_numeric(frame[c], errors="coerce") for c in ("tokens_in", "tokens_out") if c in frame.columns
        )
        out["tokens"] = tokens
    if "latency" in frame.columns:
        out["latency"] = pd.to_numeric(frame["latency"], errors="coerce")
    out.attrs["source"] = label
    return out


# ---- scaling -------------------------------------------------------------------------------------

SCALING_VALID = (
    "a fit JSON from `assay scale fit --json` (keys law, params, x, y), a backtest JSON from "
    "`assay scale backtest --json` (keys laws, rows, fits) or a forecast JSON from `assay scale forecast "
    "--json` (keys predictions, fits, calibration), or a ScalingFit/BacktestResult/ForecastResult, "
    "a fit optionally paired with its data as (fit, table)"
)
PREDICTION_KEYS = ("target", "prediction", "low", "high", "y", "covered", "inputs")


@dataclass
class ScalingPanel:
    """What one scaling figure draws: fitted laws, the data they saw and the points held out."""

    label: str
    fits: dict  # law -> ScalingFit
    x: list[str]
    y: list[str]
    train: pd.DataFrame | None = None
    heldout: pd.DataFrame | None = None  # rows of a backtest: x columns, truth, predicted, low, high, law
    notes: list[str] = field(default_factory=list)


@dataclass
class ForecastPanel:
    """What the figures of one ``scale forecast`` result draw, as the result gives it: each forecast with its
    interval and the held-out truth, and per target how the intervals were calibrated."""

    label: str
    x: list[str]
    y: list[str]  # the targets, in the result's order
    level: float
    mode: str
    train: str | None
    predictions: list[dict]  # the result's predictions (id, target, y, prediction, low, high, covered, inputs...)
    calibration: dict  # target -> the result's calibration (backtest_coverage, per_fold, held_out...)
    notes: list[str] = field(default_factory=list)


def is_forecast(raw: dict) -> bool:
    return "predictions" in raw and "calibration" in raw


def load_forecast(raw: dict, label: str) -> ForecastPanel:
    """A forecast result's dict (``ForecastResult.to_dict()``) as a panel; checks it holds what is drawn."""
    predictions, calibration = raw.get("predictions"), raw.get("calibration")
    if not isinstance(predictions, list) or not isinstance(calibration, dict):
        raise DataError(f"{label}: 'predictions' must be a list and 'calibration' an object; give {SCALING_VALID}")
    for i, p in enumerate(predictions):
        missing = [k for k in PREDICTION_KEYS if not isinstance(p, dict) or k not in p]
        if missing:
            raise DataError(
                f"{label}: prediction {i} lacks {', '.join(missing)}; give the unchanged output of "
                "`assay scale forecast --json`"
            )
    x = list(raw.get("x") or [])
    if not x:
        raise DataError(f"{label}: no 'x' columns; give the unchanged output of `assay scale forecast --json`")
    targets = list(raw.get("y") or dict.fromkeys(p["target"] for p in predictions))
    level = raw.get("level")
    if not isinstance(level, (int, float)) or not 0 < level < 1:
        raise DataError(f"{label}: 'level' must be a number between 0 and 1, got {level!r}")
    source = f" of {raw['source']}" if raw.get("source") else ""
    notes = [str(n) for n in raw.get("notes") or []]
    for target, c in calibration.items():  # why an interval or a backtest coverage is missing
        notes += [f"{target}: {c[k]}" for k in ("note", "backtest_note") if isinstance(c, dict) and c.get(k)]
    return ForecastPanel(
        label=f"{label}: forecast ({raw.get('mode', 'compute')}){source}",
        x=x,
        y=targets,
        level=float(level),
        mode=str(raw.get("mode", "compute")),
        train=raw.get("train"),
        predictions=predictions,
        calibration=calibration,
        notes=notes,
    )


def _fit_from_dict(data: dict, label: str):
    from assay.scaling.fit import ScalingFit

    try:
        return ScalingFit.from_dict(data)
    except (DataError, ConfigError) as exc:
        raise DataError(f"{label}: {exc}; give {SCALING_VALID}") from None


# Tables read for this report's scaling figures, by file and version: several
# fits usually name the same large table, which is then read once.
_TABLES: dict[tuple[str, int, int], pd.DataFrame] = {}


def _table(data, label: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    from assay.scaling.table import load_table

    path = Path(data)
    try:
        stat = path.stat()
        version = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except OSError:
        version = None
    if version in _TABLES:
        return _TABLES[version]
    try:
        table = load_table(data)
    except DataError as exc:
        raise DataError(f"{label}: data table: {exc}") from None
    if version is not None:
        _TABLES.clear()  # one table kept: a report draws from one table or a few
        _TABLES[version] = table
    return table


def load_scaling(item) -> ScalingPanel | ForecastPanel:
    """A scaling figure's content from one ``scaling=`` entry (see ``SCALING_VALID``)."""
    from assay.scaling.table import apply_where

    data = None
    if isinstance(item, tuple):
        if len(item) != 2:
            raise ConfigError(f"a scaling entry given as a tuple must be (fit, table), got {len(item)} values")
        item, data = item
    if isinstance(item, (str, Path)):
        label = str(item)
        raw = _read_json(Path(item), "scaling fit", SCALING_VALID)
    elif isinstance(item, dict):
        label, raw = "scaling dict", item
    elif hasattr(item, "predictions") and hasattr(item, "calibration") and hasattr(item, "to_dict"):
        label, raw = type(item).__name__, item.to_dict()
    else:
        label, raw = type(item).__name__, None
    if raw is not None and is_forecast(raw):
        # A forecast carries its truths and calibration: the table is not needed, and not read.
        return load_forecast(raw, label)

    backtest = None
    if raw is not None and "laws" in raw and "rows" in raw:
        fits = {}
        for law, fit_dict in (raw.get("fits") or {}).items():
            fits[law] = _fit_from_dict(fit_dict, f"{label} (fit {law})")
        backtest = {
            "rows": raw["rows"],
            "holdout_values": raw.get("holdout_values") or [],
            "x": raw.get("x"),
            "y": raw.get("y"),
            "source": raw.get("source"),
            "where": raw.get("where"),
        }
    elif raw is not None and "law" in raw:
        fits = {raw["law"]: _fit_from_dict(raw, label)}
    elif raw is not None:
        raise DataError(f"{label}: neither a scaling fit nor a backtest; give {SCALING_VALID}")
    elif hasattr(item, "laws") and hasattr(item, "rows") and hasattr(item, "fits"):
        fits = dict(item.fits)
        backtest = {
            "rows": item.rows,
            "holdout_values": item.holdout_values,
            "x": item.x,
            "y": item.y,
            "source": getattr(item, "source", None),
            "where": getattr(item, "where", None),
        }
        label = f"backtest of {', '.join(item.laws)}"
    elif hasattr(item, "law") and hasattr(item, "predict_arrays"):
        fits = {item.law: item}
    else:
        raise DataError(f"{label}: cannot draw this as a scaling fit; give {SCALING_VALID}")
    if not fits:
        raise DataError(f"{label}: holds no fitted law; give {SCALING_VALID}")
    first = next(iter(fits.values()))
    panel = ScalingPanel(label=label, fits=fits, x=list(first.x), y=list(first.y))

    # The data: given with the fit, or the table the fit names, filtered as it was.
    where = backtest["where"] if backtest else first.where
    source = backtest["source"] if backtest else first.source
    table = None
    if data is not None:
        table = _table(data, label)
        where = None if backtest else where
    elif source and Path(str(source)).is_file():
        table = _table(str(source), label)
    elif (
        source
        and (pivoted := re.fullmatch(r"(.+) \(pivoted by (.+)\)", str(source)))
        and Path(pivoted.group(1)).is_file()
    ):
        # A fit made with --pivot names the long table and its keys: widen it again.
        from assay.scaling.table import widen

        table = widen(_table(pivoted.group(1), label), [k.strip() for k in pivoted.group(2).split(",")])
    elif source and source != "the table":
        panel.notes.append(f"the data table {source} named by the fit was not found; only the fitted curve is drawn")
    else:
        panel.notes.append(
            "the fit does not name a data file (it was fitted to an in-memory table); "
            "pass (fit, table) to draw the data"
        )
    if table is not None:
        if where:
            table = apply_where(table, where, str(source or label))
        missing = [c for c in panel.x + panel.y if c not in table.columns]
        if missing:
            raise DataError(f"{label}: data table lacks column(s) {', '.join(missing)} the fit uses")
        table = table[panel.x + panel.y].apply(pd.to_numeric, errors="coerce").dropna()
    if backtest:
        rows = pd.DataFrame(backtest["rows"])
        if not rows.empty:
            panel.heldout = rows
        if table is not None and backtest["holdout_values"]:
            held = np.isin(table[panel.x[0]].to_numpy(float), np.asarray(backtest["holdout_values"], float))
            table = table[~held]
    panel.train = table
    return panel


# ---- pass@k --------------------------------------------------------------------------------------

PASSK_VALID = "a pass@k JSON from `assay passk --json` (keys models, coverage, coverage_fit, ks) or a PassKReport"


def load_passk(passk) -> dict:
    """pass@k results as the plain dict of ``PassKReport.to_dict()``."""
    if hasattr(passk, "to_dict"):
        data, label = passk.to_dict(), "pass@k report"
    elif isinstance(passk, dict):
        data, label = passk, "pass@k dict"
    else:
        data, label = _read_json(Path(passk), "pass@k", PASSK_VALID), str(passk)
    if not isinstance(data.get("models"), dict) or not data["models"]:
        raise DataError(f"{label}: no 'models' with pass@k values; give {PASSK_VALID}")
    return data


def passk_from_runs(sources, metric: str | None, seed: int, warnings_out: list[str]) -> dict | None:
    """pass@k over a log grid of k for models that drew several samples per item in a run directory."""
    from assay.stats.passk import log_k_grid, passk_report

    frames = []
    for source in sources:
        if isinstance(source, pd.DataFrame) or not Path(source).is_dir():
            continue
        from assay.run.store import scores_frame

        frame = scores_frame(source, metric=metric)
        counts = frame.groupby(["model", "item"])["score"].size().groupby("model").min()
        repeated = counts[counts >= 2].index
        if len(repeated):
            frames.append(frame[frame["model"].isin(repeated)])
    if not frames:
        return None
    frame = pd.concat(frames, ignore_index=True)
    n_min = int(frame.groupby(["model", "item"])["score"].size().min())
    try:
        report = passk_report(frame, log_k_grid(n_min, 8).tolist(), seed=seed, n_boot=1000)
    except (DataError, ConfigError) as exc:
        warnings_out.append(f"pass@k not drawn: {exc}")
        return None
    return report.to_dict()


def as_list(value) -> list[Any]:
    """One source or many as a list; a (fit, DataFrame) pair counts as one scaling entry."""
    if value is None:
        return []
    if isinstance(value, (str, Path, pd.DataFrame, dict)):
        return [value]
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], pd.DataFrame):
        return [value]
    if hasattr(value, "to_dict"):  # one result object (a fit, a backtest, a forecast)
        return [value]
    return list(value)


def likelihood_runs(sources) -> list[tuple[str, str, dict]]:
    """(label, mode, metrics by model) of every likelihood run among the sources."""
    from assay.run.store import read_config
    from assay.run.table import likelihood_metrics

    runs = []
    for source in sources:
        if isinstance(source, (str, Path)) and Path(source).is_dir():
            mode = read_config(source).get("mode", "generate")
            if mode != "generate":
                metrics = likelihood_metrics(source)
                if metrics:
                    runs.append((str(source), mode, metrics))
    return runs


# ---- sequential comparisons ----------------------------------------------------------------------

SEQUENTIAL_VALID = (
    "the JSON of `assay compare --sequential --json`, or a run's sequential.json (`assay run --stop-when-decided`)"
)


def load_sequential(item, label: str | None = None) -> list[dict]:
    """Each pair's sequential test as a plain dict (``a``, ``b``, ``decision``, ``n_used``, ``sequence``, ...),
    from a compare result with ``--sequential``, a run's ``sequential.json`` (or either's ``to_dict()``)."""
    if hasattr(item, "to_dict") or isinstance(item, dict):
        data = item.to_dict() if hasattr(item, "to_dict") else item
        label = label or ("compare --sequential" if "models" in data else "run --stop-when-decided")
    else:
        path = Path(item)
        if path.is_dir():
            path = path / "sequential.json"
        data, label = _read_json(path, "sequential", SEQUENTIAL_VALID), label or str(item)
    pairs = []
    for pair in data.get("pairs") or []:
        # compare: {"a", "b", ..., "sequential": {...}}; a run's file: {"a", "b", ...the test's fields}
        test = pair.get("sequential", pair) if isinstance(pair, dict) else None
        if not isinstance(test, dict) or not isinstance(test.get("sequence"), dict):
            continue
        seed = test.get("order_seed") if test.get("order_seed") is not None else data.get("seed")
        pairs.append({**test, "order_seed": seed, "a": pair.get("a"), "b": pair.get("b"), "source": label})
    if not pairs:
        raise DataError(f"{label}: no pair with a confidence sequence ('sequence'); give {SEQUENTIAL_VALID}")
    return pairs


def sequential_from_runs(sources) -> list[dict]:
    """The pairs of every run directory among ``sources`` that stopped when decided (has a sequential.json)."""
    pairs = []
    for source in sources:
        if isinstance(source, pd.DataFrame) or not (Path(source) / "sequential.json").is_file():
            continue
        try:
            pairs += load_sequential(Path(source) / "sequential.json", label=str(source))
        except DataError:
            continue  # a stop before any item was scored by every model: nothing to draw
    return pairs
