"""Per-sample scores as the statistics take them: read from a score file or a DataFrame, and checked.

A source is a score file (CSV/TSV, JSONL, JSON, Parquet), a DataFrame with
columns ``model, item, score`` and optional ``cluster`` and ``sample``, or a
``ScoreSource``: a frame of one metric with the name messages give it (how
``assay.run.sources`` hands over a run's scores; ``stats`` never opens a run).
A bad value is a ``DataError`` naming the source and the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from assay.errors import ConfigError, DataError
from assay.stats._inputs import warn
from assay.tables import read_frame

REQUIRED_COLUMNS = ("model", "item", "score")
OPTIONAL_COLUMNS = ("cluster", "sample")


@dataclass
class ScoreSource:
    """Scores of one metric from one source, and the source's name in messages and leaderboards.

    ``frame`` has ``model, item, score`` and optionally ``sample``, ``cluster`` and
    the ``across`` column; its metric is already chosen, so ``--metric`` does not
    filter it again.
    """

    label: str
    frame: pd.DataFrame


def read_score_file(path: str | Path) -> pd.DataFrame:
    """A score file with a ``_where`` column saying where each row is ("line 7", "row 3")."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(
            f"{path} is a run directory; assay.stats reads score files and DataFrames: read runs with the "
            "functions of assay.api (compare, load_scores, multiverse, ...), which take run directories too"
        )
    if not path.exists():
        raise DataError(f"{path}: no such file or run directory")
    frame = read_frame(path, what="score")
    return frame.assign(_where=frame.attrs["locations"])


def is_missing(value) -> bool:
    """None, NaN, pd.NA or pd.NaT: a cell the file or frame left empty."""
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT


def score_values(raw, where: Callable[[int], str], *, missing_first: bool = True) -> np.ndarray:
    """The ``score`` cells as finite floats, or a ``DataError`` starting with ``where(i)`` for the first bad one.

    With ``missing_first`` an empty cell is reported as missing; without it, as
    a value that is not a number or not finite.
    """
    scores = np.empty(len(raw))
    for i, v in enumerate(raw):
        if missing_first and (is_missing(v) or (isinstance(v, str) and v.strip() == "")):
            raise DataError(f"{where(i)}: score is missing; score every item or drop the row")
        try:
            scores[i] = float(v)
        except (TypeError, ValueError):
            raise DataError(f"{where(i)}: score {v!r} is not a number; scores must be numeric (e.g. 0/1)") from None
        if not np.isfinite(scores[i]):
            raise DataError(f"{where(i)}: score {v!r} is not finite; scores must be finite numbers")
    return scores


def sample_labels(raw, where: Callable[[int], str]) -> list[str]:
    """The ``sample`` cells as strings, or a ``DataError`` at the first empty one."""
    bad = [i for i, v in enumerate(raw) if is_missing(v)]
    if bad:
        raise DataError(f"{where(bad[0])}: sample is missing; fill the sample column on every row or drop it")
    return [str(v) for v in raw]


def check_scores(
    frame: pd.DataFrame, label: str, metric: str | None, notes: list[str], across: str | None = None
) -> pd.DataFrame:
    """Check columns and values of one source; return model, item, sample, score, cluster (+ _where),
    and the ``across`` column when one is named."""
    if "_where" not in frame.columns:
        frame = frame.assign(_where=[f"row {i + 1}" for i in range(len(frame))])
    absent = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if absent:
        found = ", ".join(c for c in frame.columns if c != "_where") or "none"
        raise DataError(
            f"{label}: missing column(s) {', '.join(absent)}; found {found}; need model, item, score "
            "(optional cluster, sample)"
        )
    if "metric" in frame.columns:
        metrics = sorted(frame["metric"].dropna().astype(str).unique())
        if metric is not None:
            if metric not in metrics:
                raise ConfigError(f"{label}: metric {metric!r} not found; it has {', '.join(metrics)}")
            frame = frame[frame["metric"].astype(str) == metric]
        elif len(metrics) > 1:
            raise ConfigError(f"{label}: scores for several metrics ({', '.join(metrics)}); choose one with --metric")
    elif metric is not None:
        warn(f"{label}: no metric column; --metric {metric} does not apply to it and all its scores are used", notes)
    if frame.empty:
        raise DataError(f"{label}: no scores")
    where = frame["_where"].to_numpy(dtype=object)
    out = pd.DataFrame(index=range(len(frame)))
    for column in ("model", "item"):
        raw = frame[column].to_numpy(dtype=object)
        bad = [i for i, v in enumerate(raw) if is_missing(v) or str(v).strip() == ""]
        if bad:
            raise DataError(f"{label} {where[bad[0]]}: {column} is missing; every row needs model, item and score")
        out[column] = [str(v) for v in raw]

    def row(i: int) -> str:
        return f"{label} {where[i]}"

    out["score"] = score_values(frame["score"].to_numpy(dtype=object), row)
    if "sample" in frame.columns:
        out["sample"] = sample_labels(frame["sample"].to_numpy(dtype=object), row)
    else:
        out["sample"] = "0"
    if "cluster" in frame.columns and not frame["cluster"].isna().all():
        raw = frame["cluster"].to_numpy(dtype=object)
        bad = [i for i, v in enumerate(raw) if is_missing(v)]
        if bad:
            raise DataError(f"{label} {where[bad[0]]}: cluster is missing; give every item a cluster or none")
        out["cluster"] = [str(v) for v in raw]
    else:
        out["cluster"] = None
    key = ["model", "item", "sample"]
    if across is not None:
        if across not in frame.columns:
            found = ", ".join(c for c in frame.columns if c != "_where")
            raise ConfigError(f"--across {across}: {label} has no column '{across}'; it has {found}")
        raw = frame[across].to_numpy(dtype=object)
        bad = [i for i, v in enumerate(raw) if is_missing(v)]
        if bad:
            raise DataError(f"{label} {where[bad[0]]}: {across} is missing; --across {across} needs it on every row")
        out[across] = [str(v) for v in raw]
        key.append(across)
    out["_where"] = where
    duplicated = out.duplicated(key, keep=False)
    if duplicated.any():
        first = out[duplicated].iloc[0]
        places = out.loc[
            (out["model"] == first["model"]) & (out["item"] == first["item"]) & (out["sample"] == first["sample"]),
            "_where",
        ]
        hint = "" if "sample" in frame.columns else "; mark repeated samples with a 'sample' column"
        raise DataError(
            f"{label}: model {first['model']!r} item {first['item']!r} sample {first['sample']!r} appears more than "
            f"once ({', '.join(places)}){hint}"
        )
    return out


def load_source(source, metric: str | None, notes: list[str], across: str | None = None) -> tuple[pd.DataFrame, str]:
    """One source's checked scores (``check_scores``) and its name."""
    if isinstance(source, pd.DataFrame):
        return check_scores(source, "<DataFrame>", metric, notes, across), "<DataFrame>"
    if isinstance(source, ScoreSource):
        # its metric is already chosen, so no metric column filtering here
        frame = source.frame.drop(columns=["metric"], errors="ignore")
        return check_scores(frame, source.label, None, notes, across), source.label
    label = str(Path(source))
    return check_scores(read_score_file(source), label, metric, notes, across), label


def load_sources(
    sources, metric: str | None, notes: list[str], across: str | None = None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every source's scores in one frame, and which source each model came from (a model in two is an error)."""
    if isinstance(sources, (str, Path, pd.DataFrame, ScoreSource)):
        sources = [sources]
    if not sources:
        raise ConfigError("no sources given; pass run directories or score files")
    frames, origin = [], {}
    for source in sources:
        frame, label = load_source(source, metric, notes, across)
        for model in frame["model"].unique():
            if model in origin:
                raise DataError(f"model {model!r} appears in both {origin[model]} and {label}; rename one of them")
            origin[model] = label
        frames.append(frame)
    return pd.concat(frames, ignore_index=True), origin


def load_scores(source, *, metric: str | None = None, across: str | None = None) -> pd.DataFrame:
    """Per-sample scores from a CSV/JSONL/Parquet file, a DataFrame or a ``ScoreSource``
    (``assay.api.load_scores`` reads run directories too).

    Returns columns ``model, item, sample, score, cluster`` (cluster None when
    not given), and the ``across`` column when named (``variant`` in a run of
    prompt variants, whose ``item`` is then the base item); raises
    ``DataError`` naming the file and line of a bad value.
    """
    frame, _ = load_source(source, metric, [], across)
    columns = ["model", "item", "sample", "score", "cluster"] + ([across] if across else [])
    return frame[columns].reset_index(drop=True)
