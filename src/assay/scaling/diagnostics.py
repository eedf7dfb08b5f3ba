"""Shape diagnostics: does performance scale monotonically, inversely, U-shaped or emergently?

Candidate curves are fitted on t = log10(x) by least squares and compared by
BIC (Gaussian errors, noise variance counted as a parameter, the breakpoint
of the broken-stick counted as one):

* constant, linear, quadratic: smooth shapes;
* broken stick ``c + s1 * min(t - t0, 0) + s2 * max(t - t0, 0)``: a breakpoint.

The shape is "emergent" when the broken stick beats the best smooth curve by
``min_delta_bic`` and the change is a sharp turn toward improvement (Schaeffer
et al. 2023 warn that such breaks often come from discontinuous metrics);
"u-shaped" when the quadratic beats the line by ``min_delta_bic`` with its
vertex inside the data (McKenzie et al. 2023); otherwise "monotone" or
"inverse" by the sign of the slope when the line beats the constant, and
"flat" when nothing beats the constant.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from assay.errors import DataError
from assay.jsonable import jsonable
from assay.scaling.table import TableLike, select_columns

SHAPES = ("monotone", "inverse", "u-shaped", "emergent", "flat")


@dataclass
class ShapeDiagnosis:
    shape: str
    criterion: str
    evidence: dict
    n_points: int
    higher_is_better: bool
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return jsonable(
            {
                "shape": self.shape,
                "criterion": self.criterion,
                "evidence": self.evidence,
                "n_points": self.n_points,
                "higher_is_better": self.higher_is_better,
                "warnings": self.warnings,
            }
        )

    def render(self) -> str:
        bic = self.evidence["bic"]
        lines = [
            f"shape: {self.shape} ({self.n_points} points; {self.criterion})",
            "  BIC " + ", ".join(f"{k} {v:.2f}" for k, v in bic.items() if v is not None),
            f"  {self.evidence['reason']}",
        ]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _bic(rss: float, n: int, k: int) -> float:
    # k mean parameters plus the noise variance; floor RSS so a perfect fit stays finite.
    return n * np.log(max(rss, 1e-300) / n) + (k + 1) * np.log(n)


def _polyfit_rss(t: np.ndarray, y: np.ndarray, degree: int) -> tuple[np.ndarray, float]:
    coef = np.polyfit(t, y, degree)
    return coef, float(np.sum((np.polyval(coef, t) - y) ** 2))


def _broken_stick(t: np.ndarray, y: np.ndarray):
    """Best two-segment continuous line over breakpoints between interior distinct values."""
    levels = np.unique(t)
    best = None
    for left, right in zip(levels[1:-2], levels[2:-1]):  # at least two distinct t on each side
        t0 = 0.5 * (left + right)
        design = np.column_stack([np.ones_like(t), np.minimum(t - t0, 0), np.maximum(t - t0, 0)])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        rss = float(np.sum((design @ coef - y) ** 2))
        if best is None or rss < best[0]:
            best = (rss, t0, coef)
    return best


def diagnose_shape(
    x: Sequence[float],
    y: Sequence[float],
    *,
    higher_is_better: bool = True,
    log_x: bool = True,
    min_delta_bic: float = 6.0,
) -> ShapeDiagnosis:
    """Classify how y changes with x; ``higher_is_better=False`` for losses and perplexities."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise DataError(f"x and y must be 1-D and of equal length, got shapes {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise DataError("x and y must not contain NaN or infinite values")
    if log_x and np.any(x <= 0):
        raise DataError(f"x must be positive for a log scale; minimum is {x.min():g}")
    t = np.log10(x) if log_x else x
    n, distinct = len(t), len(np.unique(t))
    if distinct < 3:
        raise DataError(f"shape diagnostics need at least 3 distinct x values, got {distinct}")
    if np.ptp(y) == 0:
        raise DataError(f"y is constant ({y[0]:g}); there is no shape to diagnose")
    sign = 1.0 if higher_is_better else -1.0
    rss_constant = float(np.sum((y - y.mean()) ** 2))
    (slope, intercept), rss_linear = _polyfit_rss(t, y, 1)
    quad, rss_quadratic = _polyfit_rss(t, y, 2)
    bic = {
        "constant": _bic(rss_constant, n, 1),
        "linear": _bic(rss_linear, n, 2),
        "quadratic": _bic(rss_quadratic, n, 3),
    }
    stick = _broken_stick(t, y) if distinct >= 4 else None
    bic["breakpoint"] = _bic(stick[0], n, 4) if stick else None
    evidence: dict = {
        "bic": bic,
        "slope_per_decade" if log_x else "slope": float(slope),
        "min_delta_bic": min_delta_bic,
    }
    notes: list[str] = []
    if distinct < 5:
        notes.append(f"only {distinct} distinct x values: shape evidence is weak")

    smooth_best = min(bic["linear"], bic["quadratic"])
    vertex = -quad[1] / (2 * quad[0]) if quad[0] != 0 else np.inf
    levels = np.unique(t)
    vertex_inside = bool(levels[1] < vertex < levels[-2])
    far = not np.isfinite(vertex) or abs(vertex) > 300  # a nearly straight line: the turn is nowhere near
    evidence["quadratic_vertex_x"] = None if far else float(10**vertex if log_x else vertex)

    if stick is not None:
        _, t0, (level, before, after) = stick
        evidence.update(
            breakpoint_x=float(10**t0 if log_x else t0),
            slope_before=float(before),
            slope_after=float(after),
        )
    shape, reason = None, ""
    if stick is not None and smooth_best - bic["breakpoint"] >= min_delta_bic:
        _, t0, (level, before, after) = stick
        if sign * after > 0 and abs(before) < abs(after) / 3:
            shape = "emergent"
            reason = (
                f"a break at x={evidence['breakpoint_x']:.3g} beats the best smooth curve by "
                f"{smooth_best - bic['breakpoint']:.1f} BIC: slope {before:.3g} before, {after:.3g} after"
            )
    if shape is None and bic["linear"] - bic["quadratic"] >= min_delta_bic and vertex_inside:
        shape = "u-shaped"
        # quad[0] > 0 is a valley of y; for a loss a valley is a peak of performance.
        dips = (quad[0] > 0) == higher_is_better
        turn = "worse, then better" if dips else "better, then worse"
        reason = (
            f"a quadratic beats a line by {bic['linear'] - bic['quadratic']:.1f} BIC with its turn at "
            f"x={evidence['quadratic_vertex_x']:.3g} inside the data: performance gets {turn} with scale"
        )
        evidence["turn"] = turn
    if shape is None:
        if bic["constant"] - bic["linear"] >= min_delta_bic:
            shape = "monotone" if sign * slope > 0 else "inverse"
            direction = "improves" if shape == "monotone" else "worsens"
            reason = (
                f"a line beats a constant by {bic['constant'] - bic['linear']:.1f} BIC; performance {direction} "
                f"by {abs(slope):.3g} per {'decade of x' if log_x else 'unit of x'}"
            )
        else:
            shape = "flat"
            reason = f"no curve beats a constant by {min_delta_bic:g} BIC"
    evidence["reason"] = reason
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return ShapeDiagnosis(
        shape=shape,
        criterion=f"BIC difference of at least {min_delta_bic:g} over the simpler shape",
        evidence=evidence,
        n_points=n,
        higher_is_better=higher_is_better,
        warnings=notes,
    )


def diagnose_table(
    data: TableLike,
    x: str,
    y: str,
    *,
    where: str | None = None,
    higher_is_better: bool = True,
    log_x: bool = True,
    min_delta_bic: float = 6.0,
) -> ShapeDiagnosis:
    """``diagnose_shape`` on two columns of a table (DataFrame or CSV/Parquet path)."""
    selection = select_columns(data, [x], [y], where=where, cluster="", positive_x=log_x)
    return diagnose_shape(
        selection.x[0], selection.y[0], higher_is_better=higher_is_better, log_x=log_x, min_delta_bic=min_delta_bic
    )
