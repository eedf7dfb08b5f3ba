"""Pooling the verdicts of a jury into one verdict per judged unit.

- ``majority``: the most frequent verdict; a tied vote is reported as a tie
  (``vote_tie``), never broken at random.
- ``mean`` / ``median``: of the judges' scores (pointwise ratings).
- ``weighted``: each judge's vote or score weighted by its agreement with
  human labels, read from an audit JSON (``assay audit --json`` output).

Invalid verdicts are not votes: they are excluded and counted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from assay.errors import ConfigError
from assay.judge.protocols import POOLS, Protocol, get_protocol, protocols

SCORE_POOLS = ("mean", "median")
VOTE_TIE = "tie"


@dataclass(frozen=True)
class Vote:
    judge: str
    verdict: str | None
    score: float | None
    invalid: bool


@dataclass(frozen=True)
class Pooled:
    """The jury's verdict on one unit. ``verdict`` is None when no judge gave a
    valid verdict; ``vote_tie`` is set when the top of the vote was shared."""

    verdict: str | None
    score: float | None
    n_votes: int
    n_invalid: int
    vote_tie: bool = False


def default_pool(protocol: str | Protocol) -> str:
    return get_protocol(protocol).default_pool


def check_pool(pool: str, protocol: str | Protocol) -> None:
    if pool not in POOLS:
        raise ConfigError(f"--pool {pool}: valid are {', '.join(POOLS)}")
    record = get_protocol(protocol)
    if pool not in record.pools:
        takers = [p.name for p in protocols() if pool in p.pools]
        what = "averages scores" if pool in SCORE_POOLS else "pools verdicts"
        where = f"the {takers[0]} protocol only" if len(takers) == 1 else f"the {', '.join(takers)} protocols only"
        raise ConfigError(
            f"--pool {pool} {what} and applies to {where}; for {record.name} verdicts use {' or '.join(record.pools)}"
        )


def _numeric(verdict: str) -> float | None:
    try:
        value = float(verdict)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def pool_votes(
    votes: Sequence[Vote], pool: str, weights: Mapping[str, float] | None = None, *, scores: bool = False
) -> Pooled:
    """Pool one unit's votes. ``scores`` says the verdicts are ratings (so that
    ``weighted`` takes a weighted mean rather than a weighted vote)."""
    valid = [v for v in votes if not v.invalid and v.verdict is not None]
    n_invalid = sum(1 for v in votes if v.invalid)
    if not valid:
        return Pooled(None, None, 0, n_invalid)
    if pool in SCORE_POOLS or (pool == "weighted" and scores):
        values = [v.score for v in valid if v.score is not None]
        if not values:
            return Pooled(None, None, 0, n_invalid)
        if pool == "mean":
            value = sum(values) / len(values)
        elif pool == "median":
            ordered = sorted(values)
            middle = len(ordered) // 2
            value = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        else:
            w = [_weight(weights, v.judge) for v in valid if v.score is not None]
            total = sum(w)
            if total <= 0:
                # Every voting judge has weight 0: the jury has no usable say.
                return Pooled(None, None, len(values), n_invalid)
            value = sum(wi * x for wi, x in zip(w, values)) / total
        return Pooled(f"{value:.6g}", value, len(values), n_invalid)
    tally: dict[str, float] = {}
    for v in valid:
        weight = 1.0 if pool == "majority" else _weight(weights, v.judge)
        tally[v.verdict] = tally.get(v.verdict, 0.0) + weight  # type: ignore[index]
    top = max(tally.values())
    if pool == "weighted" and top <= 0:
        return Pooled(None, None, len(valid), n_invalid)
    leaders = [k for k, count in tally.items() if math.isclose(count, top, rel_tol=1e-12, abs_tol=1e-12)]
    if len(leaders) > 1:
        return Pooled(VOTE_TIE, None, len(valid), n_invalid, vote_tie=True)
    verdict = leaders[0]
    return Pooled(verdict, _numeric(verdict), len(valid), n_invalid)


def _weight(weights: Mapping[str, float] | None, judge: str) -> float:
    if weights is None or judge not in weights:
        raise ConfigError(
            f"no weight for judge '{judge}'; weights given for: {', '.join(sorted(weights or {})) or 'none'}"
        )
    return weights[judge]


def load_weights(
    source: str | Path | Mapping[str, Any], *, metric: str = "cohens_kappa", judges: Sequence[str] | None = None
) -> dict[str, float]:
    """Per-judge weights for ``--pool weighted``.

    ``source`` is an audit JSON (``AuditResult.to_dict()``: each judge's
    ``metric`` value, e.g. ``cohens_kappa`` or ``accuracy``), or a plain
    ``{"judge": weight}`` object. A negative agreement (worse than chance) gets
    weight 0: such a judge's vote would pull the jury away from the humans.
    """
    if isinstance(source, Mapping):
        data: Any = dict(source)
        origin = "weights"
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"--weights-from {path}: file not found")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--weights-from {path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
        origin = str(path)
    raw: dict[str, Any] = {}
    if isinstance(data, dict) and isinstance(data.get("judges"), list):
        for entry in data["judges"]:
            value = entry.get(metric)
            raw[str(entry.get("judge"))] = value.get("value") if isinstance(value, dict) else value
        jury = data.get("jury") or {}
        majority = jury.get("majority") if isinstance(jury, dict) else None
        if isinstance(majority, dict):
            raw.pop(str(majority.get("judge")), None)
    elif isinstance(data, dict):
        raw = dict(data.get("weights", data))
    else:
        raise ConfigError(f"{origin}: expected an audit JSON object or {{judge: weight}}")
    weights: dict[str, float] = {}
    for judge, value in raw.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{origin}: judge '{judge}' has no usable {metric} ({value!r}); "
                "use another metric (accuracy, cohens_kappa, percent_agreement)"
            ) from None
        if not math.isfinite(number):
            raise ConfigError(f"{origin}: judge '{judge}' has {metric} {value!r}, not a number")
        weights[judge] = max(number, 0.0)
    if judges is not None:
        missing = [j for j in judges if j not in weights]
        if missing:
            raise ConfigError(
                f"{origin}: no {metric} for judge(s) {', '.join(missing)}; "
                f"found: {', '.join(sorted(weights)) or 'none'}"
            )
    used = weights if judges is None else {j: weights[j] for j in judges}
    if used and all(w == 0.0 for w in used.values()):
        # Every vote would count for nothing and every unit come out invalid.
        raise ConfigError(
            f"{origin}: every judge's {metric} is 0 or below "
            f"({', '.join(f'{j} {raw.get(j)}' for j in used)}), so a weighted jury has no vote; "
            "use --pool majority, or judges that agree with the humans better than chance"
        )
    return weights
