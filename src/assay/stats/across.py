"""Conclusions that survive the prompt: models compared across prompt variants.

Every item is run under several prompt variants (or any other grouping crossed
with the items: system prompts, few-shot sets, templates). The scores then vary
with the item, with the variant, and with the particular item under the
particular variant, and a claim such as "a beats b" may hold under one wording
and not another. ``across`` reports, per model, the mean under each variant,
how far the variant means spread, and the crossed variance components; per
pair of models, the difference under each variant with its test, a verdict on
whether the sign of the difference survives the change of variant, and one
pooled difference whose interval treats both the items and the variants as
samples from larger populations.

The design is the two-way crossed random-effects model

    y_ivk = mu + a_i + b_v + c_iv + e_ivk,

a_i the item, b_v the variant, c_iv the item × variant interaction, e_ivk the
residual of sample k of the cell (only separable from c_iv when some cells have
several samples). Its mean squares, computed on the cell means, have known
expectations, from which come the method-of-moments (ANOVA) estimates; on
balanced data they equal the REML estimates whenever none is negative, which
the tests check against statsmodels' MixedLM.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from assay.errors import ConfigError, DataError
from assay.jsonable import jsonable
from assay.stats._inputs import as_scores, check_confidence, warn
from assay.stats.bootstrap import Interval
from assay.stats.intervals import METHODS, MeanCI, mean_ci
from assay.stats.multiplicity import CORRECTIONS, adjust_pvalues
from assay.stats.paired import PairedDiff, paired_diff
from assay.stats.scores import is_missing, sample_labels, score_values

VERDICTS = ("robust", "fragile", "reversed", "none")

COMPONENT_INTERVALS = (
    "item, item × variant and residual: each moment estimate is the mean of a per-cell contribution, and gets the "
    "t interval of that mean with items and variants both random (Satterthwaite df); variant: the modified "
    "large-sample (Ting et al. 1990) interval on the variant and interaction mean squares; ends floored at 0"
)
# How one component's interval was made (COMPONENT_INTERVALS describes them all together).
MEAN_COMPONENT_INTERVAL = (
    "t interval of the mean of per-cell contributions, items and variants both random (Satterthwaite df); "
    "ends floored at 0"
)
VARIANT_COMPONENT_INTERVAL = (
    "modified large-sample (Ting et al. 1990) interval on the variant and interaction mean squares; ends floored at 0"
)
CROSSED_MEAN_METHOD = (
    "mean ± t·SE, Var = s2_item/n_items + s2_variant/n_variants + s2_residual/(n_items n_variants) from the "
    "crossed method-of-moments components (negative ones set to 0); Satterthwaite degrees of freedom"
)
POOLED_METHOD = (
    "mean of the per-cell differences over items × variants; Var = s2_item/n_items + s2_variant/n_variants + "
    "s2_residual/(n_items n_variants) from the crossed method-of-moments components of the differences (negative "
    "ones set to 0); t interval with Satterthwaite degrees of freedom"
)
SPREAD_METHOD = (
    "sd: chi-square interval (n_variants - 1 df) for the sd of the variant means, sqrt(s2_variant + "
    "s2_residual/n_items), the spread a fresh set of variants would show on these many items; range: that interval "
    "times d2(n_variants), the expected range of that many normal values per unit sd"
)

# statsmodels fits crossed components as one group with dense random-effect
# design matrices, and its time grows faster than rows × random effects
# (measured on 2 busy cores, started from the moment estimates: 1,600 rows ×
# 208 effects 1.4 s, 2,400 × 308 3 s, 4,800 × 1,808 250 s). Above this product
# the check is skipped unless asked for.
MIXEDLM_LIMIT = 1_000_000


# ---- results --------------------------------------------------------------------------------------


@dataclass
class Spread:
    """How far one model's variant means spread, with chi-square intervals for the sd and range (SPREAD_METHOD).

    ``to_interval()`` gives the sd of the variant means and its interval, ``range_interval()`` the range.
    """

    min: float
    min_variant: str
    max: float
    max_variant: str
    range: float
    range_low: float
    range_high: float
    sd: float
    sd_low: float
    sd_high: float
    n_variants: int
    method: str
    confidence: float = 0.95

    def to_dict(self) -> dict:
        return jsonable(
            {
                "min": self.min,
                "min_variant": self.min_variant,
                "max": self.max,
                "max_variant": self.max_variant,
                "range": self.range,
                "range_ci_low": self.range_low,
                "range_ci_high": self.range_high,
                "sd": self.sd,
                "sd_ci_low": self.sd_low,
                "sd_ci_high": self.sd_high,
                "n_variants": self.n_variants,
                "method": self.method,
                "confidence": self.confidence,
            }
        )

    def to_interval(self) -> Interval:
        """The sd of the variant means and its chi-square interval; ``n`` counts the variants."""
        return Interval(self.sd, self.sd_low, self.sd_high, self.confidence, self.method, self.n_variants)

    def range_interval(self) -> Interval:
        """The observed range of the variant means, with the interval for the range expected among as many
        fresh variants (the sd interval times d2(n_variants)); ``n`` counts the variants."""
        return Interval(self.range, self.range_low, self.range_high, self.confidence, self.method, self.n_variants)


@dataclass
class Component:
    """One variance component: the estimate (negative moment estimates set to 0), its interval, its share."""

    estimate: float
    low: float
    high: float
    share: float
    raw: float  # the moment estimate before flooring at 0
    confidence: float = 0.95
    method: str = COMPONENT_INTERVALS  # how this component's interval was made

    def to_dict(self) -> dict:
        return jsonable(
            {"estimate": self.estimate, "ci_low": self.low, "ci_high": self.high, "share": self.share, "raw": self.raw}
        )

    def to_interval(self) -> Interval:
        return Interval(self.estimate, self.low, self.high, self.confidence, self.method)


@dataclass
class CrossedComponents:
    """Item, variant, item × variant and residual variance of per-sample scores (two-way crossed design).

    ``interaction`` is the item × variant component; when every cell has one
    sample it cannot be told apart from the residual, so ``interaction`` holds
    the two combined, ``residual`` is None and ``separable`` is False.
    ``mixedlm`` holds statsmodels' REML estimates of the same components (None
    when the fit was skipped or failed; ``mixedlm_note`` says why).
    """

    n_items: int
    n_variants: int
    samples_per_cell: float  # harmonic mean over cells
    separable: bool
    item: Component
    variant: Component
    interaction: Component
    residual: Component | None
    mean_squares: dict[str, float]
    degrees_of_freedom: dict[str, float]
    mixedlm: dict[str, float | None] | None = None
    mixedlm_note: str | None = None
    primary: str = "moments"
    interval_method: str = COMPONENT_INTERVALS
    confidence: float = 0.95
    n_items_dropped: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        parts = [self.item, self.variant, self.interaction] + ([self.residual] if self.residual else [])
        return float(sum(p.estimate for p in parts))

    def components(self) -> dict[str, Component | None]:
        return {
            "item": self.item,
            "variant": self.variant,
            "item_x_variant": self.interaction,
            "residual": self.residual,
        }

    def to_dict(self) -> dict:
        return jsonable(
            {
                "primary": self.primary,
                "n_items": self.n_items,
                "n_variants": self.n_variants,
                "samples_per_cell": self.samples_per_cell,
                "separable": self.separable,
                "interaction_includes_residual": not self.separable,
                "components": {name: c.to_dict() if c else None for name, c in self.components().items()},
                "total": self.total,
                "interval_method": self.interval_method,
                "confidence": self.confidence,
                "mean_squares": self.mean_squares,
                "degrees_of_freedom": self.degrees_of_freedom,
                "mixedlm": self.mixedlm,
                "mixedlm_note": self.mixedlm_note,
                "n_items_dropped": self.n_items_dropped,
                "warnings": list(self.warnings),
            }
        )

    def render(self) -> str:
        parts = []
        for name, c in self.components().items():
            if c is None:
                continue
            label = "item×variant+residual" if name == "item_x_variant" and not self.separable else name
            parts.append(f"{label} {c.estimate:.4g} [{c.low:.4g}, {c.high:.4g}] ({c.share:.0%})")
        check = ""
        if self.mixedlm is not None:
            check = "; REML (MixedLM) " + ", ".join(
                f"{k} {v:.4g}" for k, v in self.mixedlm.items() if v is not None and k != "converged"
            )
        elif self.mixedlm_note:
            check = f"; MixedLM: {self.mixedlm_note}"
        return (
            f"{self.n_items} items × {self.n_variants} variants × {self.samples_per_cell:.3g} samples: "
            + ", ".join(parts)
            + check
        )


@dataclass
class PooledDiff:
    """mean(a) - mean(b) over all item × variant cells, with items and variants both random."""

    diff: float
    se: float
    df: float
    low: float
    high: float
    p_value: float
    method: str
    n_items: int
    n_variants: int
    components: dict[str, float] = field(default_factory=dict)  # item, variant, residual variances of the difference
    confidence: float = 0.95

    def to_dict(self) -> dict:
        return jsonable(
            {
                "diff": self.diff,
                "se": self.se,
                "df": self.df,
                "ci_low": self.low,
                "ci_high": self.high,
                "p_value": self.p_value,
                "method": self.method,
                "n_items": self.n_items,
                "n_variants": self.n_variants,
                "components": self.components,
                "confidence": self.confidence,
            }
        )

    def to_interval(self) -> Interval:
        return Interval(self.diff, self.low, self.high, self.confidence, self.method, self.n_items)


@dataclass
class PairAcross:
    """One pair of models under every variant, and pooled over them."""

    a: str
    b: str
    by_variant: dict[str, PairedDiff | None]
    p_adjusted: dict[str, float]
    better: dict[str, str | None]  # "a", "b" or None (no significant difference, or untestable)
    verdict: str
    pooled: PooledDiff | None
    errors: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        values = list(self.better.values())
        return {
            "a_better": values.count("a"),
            "b_better": values.count("b"),
            "neither": sum(v is None for v in values),
        }

    def to_dict(self) -> dict:
        pooled = self.pooled.to_dict() if self.pooled else {}
        across = {
            "variants": len(self.by_variant),
            **self.counts(),
            "verdict": self.verdict,
            "diff": pooled.get("diff"),
            "ci_low": pooled.get("ci_low"),
            "ci_high": pooled.get("ci_high"),
            "se": pooled.get("se"),
            "df": pooled.get("df"),
            "p_value": pooled.get("p_value"),
            "method": pooled.get("method"),
            "n_items": pooled.get("n_items"),
            "components": pooled.get("components"),
        }
        by_variant = {}
        for variant, r in self.by_variant.items():
            by_variant[variant] = {
                "n": r.n if r else 0,
                "diff": r.diff if r else None,
                "ci_low": r.low if r else None,
                "ci_high": r.high if r else None,
                "p_value": r.p_value if r else None,
                "p_adjusted": self.p_adjusted[variant],
                "test": r.test if r else None,
                "better": self.better[variant],
                "error": self.errors.get(variant),
            }
        return jsonable({"a": self.a, "b": self.b, "across": across, "by_variant": by_variant})


@dataclass
class ModelAcross:
    name: str
    mean: float  # over all the model's item × variant cells
    by_variant: dict[str, MeanCI]
    spread: Spread | None
    components: CrossedComponents | None

    def to_dict(self) -> dict:
        return jsonable(
            {
                "mean": self.mean,
                "by_variant": {
                    v: {"mean": ci.mean, "ci_low": ci.low, "ci_high": ci.high, "method": ci.method, "n": ci.n}
                    for v, ci in self.by_variant.items()
                },
                "spread": self.spread.to_dict() if self.spread else None,
                "variance_components": self.components.to_dict() if self.components else None,
            }
        )


@dataclass
class AcrossResult:
    """Per model: variant means, their spread, crossed variance components; per pair: the verdict across variants."""

    column: str
    variants: list[str]
    models: dict[str, ModelAcross]
    pairs: list[PairAcross]
    correction: str
    confidence: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return jsonable(
            {
                "column": self.column,
                "variants": list(self.variants),
                "confidence": self.confidence,
                "correction": self.correction,
                "models": {name: m.to_dict() for name, m in self.models.items()},
                "pairs": [p.to_dict() for p in self.pairs],
                "notes": list(self.notes),
            }
        )

    def render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        pct = f"{self.confidence:.0%}"
        parts: list[Any] = []
        board = Table(title=f"Mean by {self.column}")
        board.add_column("model")
        for v in self.variants:
            board.add_column(v, justify="right")
        board.add_column("spread (sd)", justify="right")
        board.add_column(f"sd {pct} CI")
        board.add_column("range")
        for name, m in self.models.items():
            cells = [
                f"{m.by_variant[v].mean:.4f} [{m.by_variant[v].low:.3f}, {m.by_variant[v].high:.3f}]"
                if v in m.by_variant
                else "-"
                for v in self.variants
            ]
            s = m.spread
            board.add_row(
                name,
                *cells,
                f"{s.sd:.4f}" if s else "-",
                f"[{s.sd_low:.4f}, {s.sd_high:.4f}]" if s else "-",
                f"{s.range:.4f} ({s.min_variant}..{s.max_variant})" if s else "-",
            )
        parts.append(board)
        methods = {ci.method for m in self.models.values() for ci in m.by_variant.values()}
        parts.append(Text(f"means: {', '.join(sorted(methods))} intervals over items", style="dim"))
        first = next((m.spread for m in self.models.values() if m.spread), None)
        if first:
            parts.append(Text(f"spread: {first.method}", style="dim"))
        components = Table(title="Variance components (method of moments; REML check)")
        for column in ("model", "item", self.column, f"item×{self.column}", "residual", "REML check"):
            components.add_column(column)
        for name, m in self.models.items():
            c = m.components
            if c is None:
                continue
            row = []
            for comp in c.components().values():
                row.append("-" if comp is None else f"{comp.estimate:.4g} ({comp.share:.0%})")
            if not c.separable:
                row[2] += " (with residual)"
            if c.mixedlm is not None:
                check = ", ".join(f"{v:.4g}" for k, v in c.mixedlm.items() if v is not None)
            else:
                check = c.mixedlm_note or "-"
            components.add_row(name, *row, check)
        if components.row_count:
            parts += [components, Text(f"intervals: {COMPONENT_INTERVALS}", style="dim")]
        if self.pairs:
            table = Table(title=f"Pairs across {self.column} ({self.correction}-adjusted over {self.column}s)")
            for column in ("a - b", "verdict", "a better", "b better", "neither", "pooled diff", f"{pct} CI", "df"):
                table.add_column(column)
            for p in self.pairs:
                counts = p.counts()
                pooled = p.pooled
                table.add_row(
                    f"{p.a} - {p.b}",
                    p.verdict,
                    str(counts["a_better"]),
                    str(counts["b_better"]),
                    str(counts["neither"]),
                    f"{pooled.diff:+.4f}" if pooled else "-",
                    f"[{pooled.low:+.4f}, {pooled.high:+.4f}]" if pooled else "-",
                    f"{pooled.df:.1f}" if pooled and np.isfinite(pooled.df) else "-",
                )
            parts.append(table)
            detail = Table(title=f"Differences by {self.column}")
            detail.add_column("a - b")
            for v in self.variants:
                detail.add_column(v)
            for p in self.pairs:
                cells = []
                for v in self.variants:
                    r = p.by_variant.get(v)
                    if r is None:
                        cells.append("-")
                        continue
                    mark = {"a": " ▲", "b": " ▼"}.get(p.better[v], "")
                    cells.append(f"{r.diff:+.4f} (p adj {p.p_adjusted[v]:.2g}){mark}")
                detail.add_row(f"{p.a} - {p.b}", *cells)
            parts.append(detail)
            methods = {p.pooled.method for p in self.pairs if p.pooled}
            for method in sorted(methods):
                parts.append(Text(f"pooled: {method}", style="dim"))
        for message in self.notes:
            parts.append(Text(f"note: {message}", style="yellow"))
        return Group(*parts)


# ---- input ----------------------------------------------------------------------------------------


def _normalise(scores: pd.DataFrame, column: str) -> pd.DataFrame:
    """Check the frame; return model, item, variant, sample (str) and score (float) columns."""
    if not isinstance(column, str) or not column.strip():
        raise ConfigError(f"--across {column!r}: give the name of the column that labels the variants, e.g. variant")
    if column in ("model", "item", "score", "sample"):
        raise ConfigError(
            f"--across {column}: {column!r} cannot be the grouping; give the column that labels the prompt variant"
        )
    if not isinstance(scores, pd.DataFrame):
        raise DataError(f"scores: expected a pandas DataFrame with columns model, item, {column}, score")
    absent = [c for c in ("model", "item", "score") if c not in scores.columns]
    if absent:
        found = ", ".join(map(str, scores.columns)) or "none"
        raise DataError(
            f"scores: missing column(s) {', '.join(absent)}; found {found}; need model, item, {column}, score "
            "(optional sample)"
        )
    if column not in scores.columns:
        found = ", ".join(map(str, scores.columns))
        raise ConfigError(f"--across {column}: the scores have no {column!r} column; found {found}")
    if scores.empty:
        raise DataError("scores: no rows")
    out = pd.DataFrame(index=range(len(scores)))
    for name, target in (("model", "model"), ("item", "item"), (column, "variant")):
        raw = scores[name].to_numpy(dtype=object)
        bad = [i for i, v in enumerate(raw) if is_missing(v) or str(v).strip() == ""]
        if bad:
            raise DataError(
                f"scores row {bad[0] + 1}: {name} is missing ({len(bad)} row(s) in all); every row needs model, "
                f"item, {column} and score"
            )
        out[target] = [str(v) for v in raw]

    def row(i: int) -> str:
        return f"scores row {i + 1}"

    # An empty score cell is reported as the value it holds (nan is not finite), as this module always has.
    out["score"] = score_values(scores["score"].to_numpy(dtype=object), row, missing_first=False)
    if "sample" in scores.columns:
        out["sample"] = sample_labels(scores["sample"].to_numpy(dtype=object), row)
    else:
        out["sample"] = "0"
    duplicated = out.duplicated(["model", "item", "variant", "sample"], keep=False)
    if duplicated.any():
        rows = np.flatnonzero(duplicated.to_numpy())
        first = out.iloc[rows[0]]
        hint = "" if "sample" in scores.columns else "; mark repeated samples with a 'sample' column"
        raise DataError(
            f"scores: model {first['model']!r} item {first['item']!r} {column} {first['variant']!r} sample "
            f"{first['sample']!r} appears more than once (rows {rows[0] + 1} and {rows[1] + 1}){hint}"
        )
    variants = pd.unique(out["variant"])
    if len(variants) < 2:
        raise DataError(
            f"--across {column}: the scores have a single {column} ({variants[0]}); comparing across {column} needs "
            f"at least 2 values, e.g. the same items run under two prompt variants"
        )
    return out


# ---- moments --------------------------------------------------------------------------------------


def two_way_mean_squares(cells: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    """Mean squares of a complete items × variants table (one value per cell) and their degrees of freedom.

    ``item`` = n_v·Σ(row mean − grand)²/(n_i−1), ``variant`` = n_i·Σ(column mean − grand)²/(n_v−1),
    ``interaction`` = Σ(cell − row − column + grand)²/((n_i−1)(n_v−1)).
    """
    n_i, n_v = cells.shape
    grand = cells.mean()
    rows = cells.mean(axis=1)
    cols = cells.mean(axis=0)
    resid = cells - rows[:, None] - cols[None, :] + grand
    df = {"item": n_i - 1.0, "variant": n_v - 1.0, "interaction": (n_i - 1.0) * (n_v - 1.0)}
    ms = {
        "item": float(n_v * np.sum((rows - grand) ** 2) / df["item"]),
        "variant": float(n_i * np.sum((cols - grand) ** 2) / df["variant"]),
        "interaction": float(np.sum(resid**2) / df["interaction"]),
    }
    return ms, df


def chi2_interval(mean_square: float, df: float, confidence: float) -> tuple[float, float]:
    """Exact normal-theory interval for the expectation of a mean square with ``df`` degrees of freedom."""
    alpha = 1 - confidence
    return (
        float(df * mean_square / stats.chi2.ppf(1 - alpha / 2, df)),
        float(df * mean_square / stats.chi2.ppf(alpha / 2, df)),
    )


def mls_interval(
    c1: float, s1: float, n1: float, c2: float, s2: float, n2: float, confidence: float
) -> tuple[float, float]:
    """Interval for theta = c1·E[S1] − c2·E[S2] (c1, c2 > 0), S_q mean squares with n_q degrees of freedom.

    The modified large-sample interval of Ting, Burdick, Graybill, Jeyaratnam &
    Lu (1990) (Burdick & Graybill 1992, §3.3): exact when c2 = 0, and close to
    nominal otherwise, where Satterthwaite's interval for a difference is known
    to be liberal. F_{p: a, b} below is the F quantile with p to its right.
    """
    alpha = (1 - confidence) / 2
    theta = c1 * s1 - c2 * s2
    f1_hi = stats.chi2.ppf(1 - alpha, n1) / n1  # F_{alpha: n1, inf}
    f1_lo = stats.chi2.ppf(alpha, n1) / n1  # F_{1-alpha: n1, inf}
    f2_hi = stats.chi2.ppf(1 - alpha, n2) / n2
    f2_lo = stats.chi2.ppf(alpha, n2) / n2
    f12_hi = stats.f.ppf(1 - alpha, n1, n2)  # F_{alpha: n1, n2}
    f12_lo = stats.f.ppf(alpha, n1, n2)  # F_{1-alpha: n1, n2}
    g1, h1 = 1 - 1 / f1_hi, 1 / f1_lo - 1
    g2, h2 = 1 - 1 / f2_hi, 1 / f2_lo - 1
    g12 = ((f12_hi - 1) ** 2 - g1**2 * f12_hi**2 - h2**2) / f12_hi
    h12 = ((1 - f12_lo) ** 2 - h1**2 * f12_lo**2 - g2**2) / f12_lo
    a, b = c1 * s1, c2 * s2
    low = theta - math.sqrt(max(g1**2 * a**2 + h2**2 * b**2 + g12 * a * b, 0.0))
    high = theta + math.sqrt(max(h1**2 * a**2 + g2**2 * b**2 + h12 * a * b, 0.0))
    return float(low), float(high)


def _cell_table(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Items × variants tables of cell means, sample counts and within-cell sums of squares (NaN: no cell)."""
    grouped = rows.groupby(["item", "variant"], sort=False)["score"]
    means = grouped.mean()
    counts = grouped.count()
    squares = (rows["score"] - grouped.transform("mean")) ** 2
    ss = squares.groupby([rows["item"], rows["variant"]], sort=False).sum()
    items = pd.unique(rows["item"])
    variants = pd.unique(rows["variant"])
    shape = {"index": items, "columns": variants}
    return (
        means.unstack("variant").reindex(**shape),
        counts.unstack("variant").reindex(**shape),
        ss.unstack("variant").reindex(**shape),
    )


def _complete_items(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of an items × variants table with a value under every variant."""
    return table[table.notna().all(axis=1)]


def crossed_components(
    scores: pd.DataFrame,
    *,
    column: str = "variant",
    confidence: float = 0.95,
    mixedlm: bool | None = None,
    label: str | None = None,
) -> CrossedComponents:
    """Crossed random-effects variance components of one model's per-sample scores.

    ``scores``: columns ``item``, ``column`` (the variant), ``score`` and
    optionally ``sample``. Items without a score under every variant are left
    out (counted in ``n_items_dropped``), so that the design is a complete
    items × variants table; cells may have different numbers of samples.

    Estimates (the primary estimator, method of moments): with cell means
    ȳ_iv, the two-way mean squares of ``two_way_mean_squares`` have
    expectations E[MS_iv] = s2_iv + s2_e·mean(1/K), E[MS_i] = E[MS_iv] +
    n_v·s2_i, E[MS_v] = E[MS_iv] + n_i·s2_v, and the pooled within-cell
    variance estimates s2_e; so s2_i = (MS_i − MS_iv)/n_v, s2_v = (MS_v −
    MS_iv)/n_i, s2_iv = MS_iv − s2_e·mean(1/K), exactly the balanced two-way
    ANOVA estimators when every cell has K samples. With one sample per cell
    s2_iv and s2_e are confounded: ``interaction`` is their sum, ``residual``
    None. A negative estimate is reported as 0 (``raw`` keeps it) with a
    warning.

    Intervals. The variant component rests on the n_v − 1 degrees of freedom
    of the variant mean square, too few to estimate its sampling variance
    from the data, so it gets the normal-theory modified large-sample interval
    of ``mls_interval`` (Burdick & Graybill 1992), near nominal when the
    variant effects are roughly normal. Each other component is exactly the
    mean of a per-cell contribution (the interaction's: the squared two-way
    residual scaled by n_i·n_v/df, less the cell's within part; the
    residual's: the cell's within sum of squares scaled likewise; the item
    component's: the item's squared deviation, less the interaction's
    contribution), so its interval is ``crossed_mean``'s t interval for that
    table, items and variants both random: its variance comes from the data
    and not from a normal model. Measured in simulation (1,000 runs per
    design, ``benchmarks/across_coverage.py``): for 0/1 scores at 8-15%
    accuracy the chi-square intervals of the residual and of the combined
    interaction covered 56-70%, these 94-97%; for normal scores both are near
    95% (this one 91% for the item component at 40 items × 4 variants); for
    heavy-tailed item effects (t with 5 df, lognormal) the item component's
    normal-theory interval covered 59-78%, this one 81-88%, short of 95% as
    any interval for a variance is when the kurtosis is large. Why not a
    bootstrap: no resampling scheme reproduces the variance of a crossed
    design (McCullagh 2000), and a bootstrap over ~8 variants under-covers as
    any bootstrap of a variance from a few values does.

    ``mixedlm``: also fit statsmodels' ``MixedLM`` (REML, one group, crossed
    ``vc_formula`` terms for item, variant and item:variant) as a check; None
    fits it when rows × random effects <= ``MIXEDLM_LIMIT`` (statsmodels'
    crossed fit is slow), True always, False never. ``label`` names the
    grouping in messages (default ``column``).
    """
    check_confidence(confidence)
    absent = [c for c in ("item", column, "score") if c not in scores.columns]
    if absent:
        raise DataError(f"scores: missing column(s) {', '.join(absent)}; need item, {column}, score (optional sample)")
    frame = pd.DataFrame(
        {
            "item": scores["item"].to_numpy(dtype=object),
            "variant": scores[column].to_numpy(dtype=object),
            "sample": scores["sample"].to_numpy(dtype=object) if "sample" in scores.columns else "0",
            "score": as_scores(scores["score"].to_numpy(), name="score"),
        }
    )
    column = label or column
    means, counts, ss = _cell_table(frame)
    found: list[str] = []
    complete = _complete_items(means)
    dropped = len(means) - len(complete)
    if dropped:
        warn(
            f"{dropped} of {len(means)} item(s) lack a score under some {column}; the variance components use the "
            f"{len(complete)} item(s) scored under every {column}",
            found,
        )
    n_i, n_v = complete.shape
    if n_i < 2 or n_v < 2:
        raise DataError(
            f"variance components need at least 2 items scored under every one of at least 2 {column}s; "
            f"have {n_i} item(s) × {n_v} {column}(s)"
        )
    k = counts.loc[complete.index].to_numpy(dtype=float)
    ms, df = two_way_mean_squares(complete.to_numpy(dtype=float))
    inv_k = float(np.mean(1.0 / k))
    df_e = float(np.sum(k - 1))
    separable = df_e > 0
    within = float(ss.loc[complete.index].to_numpy(dtype=float).sum() / df_e) if separable else float("nan")
    if separable:
        ms["residual"], df["residual"] = within, df_e

    # Each component except the variant one is the mean of a per-cell contribution (an items × variants
    # table whose mean is exactly the moment estimate), so it gets crossed_mean's interval.
    cell_means = complete.to_numpy(dtype=float)
    n_cells = n_i * n_v
    rows_mean, cols_mean, grand = cell_means.mean(axis=1), cell_means.mean(axis=0), cell_means.mean()
    resid = cell_means - rows_mean[:, None] - cols_mean[None, :] + grand
    h_interaction = resid**2 * n_cells / df["interaction"]  # mean: MS_iv
    h_item_ms = n_v * (rows_mean - grand) ** 2 * n_i / (n_i - 1)  # mean over items: MS_i
    tables = {"item": (h_item_ms[:, None] - h_interaction) / n_v}
    if separable:
        h_within = ss.loc[complete.index].to_numpy(dtype=float) * n_cells / df_e  # mean: the within-cell variance
        tables["interaction"] = h_interaction - inv_k * h_within
        tables["residual"] = h_within
    else:
        tables["interaction"] = h_interaction
    raw: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    for name, table in tables.items():
        m = crossed_mean(table, confidence=confidence)
        raw[name], intervals[name] = m.mean, (m.low, m.high)
    raw["variant"] = (ms["variant"] - ms["interaction"]) / n_i
    intervals["variant"] = mls_interval(
        1 / n_i, ms["variant"], df["variant"], 1 / n_i, ms["interaction"], df["interaction"], confidence
    )
    names = {"item": "item", "variant": column, "interaction": f"item × {column}", "residual": "residual"}
    for name, value in raw.items():
        if value < 0:
            warn(
                f"the {names[name]} component's moment estimate is negative ({value:.3g}): that source varies less "
                "than the noise under it would make it; set to 0",
                found,
            )
    estimates = {name: max(value, 0.0) for name, value in raw.items()}
    total = sum(estimates.values())
    parts = {
        name: Component(
            estimates[name],
            max(intervals[name][0], 0.0),
            max(intervals[name][1], 0.0),
            estimates[name] / total if total > 0 else float("nan"),
            float(raw[name]),
            confidence,
            VARIANT_COMPONENT_INTERVAL if name == "variant" else MEAN_COMPONENT_INTERVAL,
        )
        for name in raw
    }
    result = CrossedComponents(
        n_items=n_i,
        n_variants=n_v,
        samples_per_cell=float(1 / inv_k),
        separable=separable,
        item=parts["item"],
        variant=parts["variant"],
        interaction=parts["interaction"],
        residual=parts.get("residual"),
        mean_squares=ms,
        degrees_of_freedom=df,
        confidence=confidence,
        n_items_dropped=dropped,
        warnings=found,
    )
    rows = frame[frame["item"].isin(complete.index)]
    n_effects = n_i + n_v + (n_i * n_v if separable else 0)
    size = len(rows) * n_effects
    if mixedlm is False:
        result.mixedlm_note = "not fitted (mixedlm=False)"
    elif mixedlm is None and size > MIXEDLM_LIMIT:
        result.mixedlm_note = (
            f"not fitted: {len(rows)} rows × {n_effects} random effects is above the limit of {MIXEDLM_LIMIT:,} for "
            "statsmodels' crossed fit (slow); on balanced data the moment estimates are the REML ones anyway"
        )
    else:
        result.mixedlm, result.mixedlm_note = _fit_mixedlm(rows, result)
        if result.mixedlm is not None:
            _compare_estimators(result, column)
    return result


def _fit_mixedlm(rows: pd.DataFrame, moments: CrossedComponents) -> tuple[dict | None, str | None]:
    """statsmodels REML fit of the crossed components: (estimates by component, note)."""
    import statsmodels.api as sm
    from statsmodels.regression.mixed_linear_model import MixedLMParams
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    data = pd.DataFrame(
        {
            "y": rows["score"].to_numpy(dtype=float),
            "i": rows["item"].to_numpy(dtype=object),
            "v": rows["variant"].to_numpy(dtype=object),
        }
    )
    terms = {"item": "0 + C(i)", "variant": "0 + C(v)"}
    if moments.separable:
        data["c"] = data["i"].astype(str) + "\x1f" + data["v"].astype(str)
        terms["item_x_variant"] = "0 + C(c)"
    scale = moments.residual.estimate if moments.separable else moments.interaction.estimate
    floor = 1e-3 * max(moments.total, 1e-12)
    scale = max(scale, floor)
    start_values = {
        "item": moments.item.estimate,
        "variant": moments.variant.estimate,
        "item_x_variant": moments.interaction.estimate,
    }
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = sm.MixedLM.from_formula(
                "y ~ 1", groups=np.ones(len(data)), vc_formula=terms, re_formula="0", data=data
            )
            names = list(model.exog_vc.names)
            # Start from the moment estimates (profiled: relative to the residual variance): on balanced data
            # they are the REML optimum, so the optimiser only has to confirm it, which saves most of the time.
            start = MixedLMParams.from_components(
                fe_params=np.array([data["y"].mean()]),
                cov_re=np.zeros((0, 0)),
                vcomp=np.array([max(start_values[n], floor) / scale for n in names]),
            )
            fit = model.fit(reml=True, start_params=start, method=["lbfgs", "bfgs"])
    except (np.linalg.LinAlgError, ValueError, OverflowError) as exc:
        return None, f"statsmodels MixedLM failed ({exc}); the moment estimates stand alone"
    if not fit.converged or not np.all(np.isfinite(fit.vcomp)) or not math.isfinite(fit.scale):
        return None, "statsmodels MixedLM did not converge; the moment estimates stand alone"
    estimates: dict[str, float | None] = {n: float(v) for n, v in zip(names, fit.vcomp)}
    if moments.separable:
        estimates["residual"] = float(fit.scale)
    else:
        estimates["item_x_variant"] = float(fit.scale)
        estimates["residual"] = None
    ordered = {n: estimates[n] for n in ("item", "variant", "item_x_variant", "residual")}
    boundary = any(issubclass(w.category, ConvergenceWarning) and "boundary" in str(w.message) for w in caught)
    note = "REML (statsmodels MixedLM, crossed vc_formula)" + (
        "; a component is at or near 0 (the boundary)" if boundary else ""
    )
    return ordered, note


def _compare_estimators(result: CrossedComponents, column: str) -> None:
    """Note where the moment and REML estimates differ by more than 5% of the total variance."""
    total = result.total
    if not total > 0:
        return
    for name, c in result.components().items():
        other = result.mixedlm.get(name)
        if c is None or other is None:
            continue
        if abs(c.estimate - other) > 0.05 * total:
            label = name.replace("variant", column).replace("_x_", " × ")
            warn(
                f"the {label} component differs between the moment estimate ({c.estimate:.4g}) and REML "
                f"({other:.4g}) by more than 5% of the total; the design is unbalanced enough for the two to differ, "
                "and the moment estimate is reported",
                result.warnings,
            )


# ---- pooled difference ----------------------------------------------------------------------------


@dataclass
class CrossedMean:
    """The mean of an items × variants table with items and variants both random, and its t interval."""

    mean: float
    se: float
    df: float
    low: float
    high: float
    p_value: float
    components: dict[str, float]  # item, variant, residual variances of the cells (negative ones as 0)
    confidence: float = 0.95
    n_items: int | None = None
    n_variants: int | None = None

    def to_interval(self) -> Interval:
        """The mean and its t interval; ``n`` counts the items (rows) of the table."""
        return Interval(self.mean, self.low, self.high, self.confidence, CROSSED_MEAN_METHOD, self.n_items)


def crossed_mean(table, *, confidence: float = 0.95) -> CrossedMean:
    """Mean of a complete items × variants table, items and variants both random.

    In the crossed model x_iv = m + a_i + b_v + r_iv, Var(mean) = s2_item/n_i
    + s2_variant/n_v + s2_resid/(n_i n_v). Its moment estimate is a
    combination of the two-way mean squares: (MS_i + MS_v − MS_iv)/(n_i n_v)
    when both main components are positive; a negative component is set to 0,
    which drops its mean square (MS_i/(n_i n_v) alone, the t over the items'
    row means, when the variant component is estimated at 0). The interval is
    mean ± t·SE with Satterthwaite's degrees of freedom for that combination.
    """
    check_confidence(confidence)
    cells = np.asarray(table, dtype=float)
    n_i, n_v = cells.shape
    ms, df = two_way_mean_squares(cells)
    s_item = (ms["item"] - ms["interaction"]) / n_v
    s_variant = (ms["variant"] - ms["interaction"]) / n_i
    # Var(mean) as Σ c_q·MS_q over the mean squares, with negative components dropped.
    coef = {"item": 0.0, "variant": 0.0, "interaction": 1.0}
    if s_item > 0:
        coef["item"] += 1.0
        coef["interaction"] -= 1.0
    if s_variant > 0:
        coef["variant"] += 1.0
        coef["interaction"] -= 1.0
    terms = {q: coef[q] * ms[q] / (n_i * n_v) for q in coef}
    var = sum(terms.values())
    mean = float(cells.mean())
    alpha = 1 - confidence
    if var > 0:
        dof = float(var**2 / sum(t**2 / df[q] for q, t in terms.items() if coef[q] != 0))
        se = math.sqrt(var)
        t = stats.t.ppf(1 - alpha / 2, dof)
        low, high = mean - t * se, mean + t * se
        p = float(2 * stats.t.sf(abs(mean) / se, dof))
    else:
        dof, se, low, high = float("nan"), 0.0, mean, mean
        p = 1.0 if mean == 0 else 0.0
    return CrossedMean(
        mean,
        float(se),
        dof,
        float(low),
        float(high),
        p,
        {"item": max(s_item, 0.0), "variant": max(s_variant, 0.0), "residual": ms["interaction"]},
        confidence,
        n_i,
        n_v,
    )


def pooled_difference(diffs, *, confidence: float = 0.95) -> PooledDiff:
    """Mean of an items × variants table of per-cell differences d_iv = a_iv − b_iv, items and variants random.

    The interval is ``crossed_mean``'s: t with Satterthwaite degrees of
    freedom on Var = s2_item/n_i + s2_variant/n_v + s2_resid/(n_i n_v). Why
    this and not a bootstrap: with few variants the variant term dominates and
    rests on n_v − 1 degrees of freedom, which the t quantile accounts for and
    a bootstrap over ~8 variants cannot; and no resampling scheme reproduces
    the variance of a crossed design exactly (McCullagh 2000). A paired
    interval over items alone (the variants fixed) leaves out s2_variant/n_v
    and under-covers whenever the difference moves with the variant; the
    tests measure both.
    """
    check_confidence(confidence)
    cells = np.asarray(diffs, dtype=float)
    if cells.ndim != 2 or cells.shape[0] < 2 or cells.shape[1] < 2:
        raise DataError(f"pooled difference: need an items × variants table of at least 2 × 2, got {cells.shape}")
    if not np.all(np.isfinite(cells)):
        raise DataError("pooled difference: the table has missing or non-finite cells; use items scored everywhere")
    m = crossed_mean(cells, confidence=confidence)
    return PooledDiff(
        diff=m.mean,
        se=m.se,
        df=m.df,
        low=m.low,
        high=m.high,
        p_value=m.p_value,
        method=POOLED_METHOD,
        n_items=cells.shape[0],
        n_variants=cells.shape[1],
        components=m.components,
        confidence=confidence,
    )


# ---- spread ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def expected_range_factor(n: int) -> float:
    """d2(n): the expected range of n independent standard normal values, ∫ 1 − Φ(x)^n − (1 − Φ(x))^n dx."""
    from scipy import integrate, special

    value, _ = integrate.quad(lambda x: 1 - special.ndtr(x) ** n - special.ndtr(-x) ** n, -np.inf, np.inf)
    return float(value)


def variant_spread(table: pd.DataFrame, *, confidence: float = 0.95) -> Spread:
    """Min, max, range and sd (ddof 1) of the column means of an items × variants table (NaN: no score).

    In the crossed model the variance of the variant means is the variant mean
    square over the number of items, MS_v/n_i, an estimate of s2_variant +
    s2_residual/n_i on n_v − 1 degrees of freedom: the spread a fresh random
    set of variants would show on this many items. Its square root gets the
    chi-square interval, and the range the same interval times d2(n_v), the
    expected range of n_v normal values per unit sd: an interval for the range
    one expects among n_v fresh variants (the observed range is reported as
    it is). Both assume the variant effects are normal; with a handful of
    variants nothing weaker is estimable.

    Why not a crossed bootstrap (items and variants resampled independently):
    measured against this target (``benchmarks/across_coverage.py``, 500 runs
    per design) it covered 77% (4 variants) and 85% (8 variants, larger
    variant effects) for normal scores and 98-100% for 0/1 ones, as a
    bootstrap of a variance from a few values does; the chi-square interval
    covered 95-96.5% in every one of those designs.
    """
    check_confidence(confidence)
    values = table.to_numpy(dtype=float)
    variants = [str(v) for v in table.columns]
    n_v = len(variants)
    if n_v < 2:
        raise DataError(f"spread: {n_v} variant(s); the spread of variant means needs at least 2")
    means = np.nanmean(values, axis=0)
    sd = float(np.std(means, ddof=1))
    var_low, var_high = chi2_interval(sd**2, n_v - 1, confidence)
    d2 = expected_range_factor(n_v)
    lo, hi = int(np.argmin(means)), int(np.argmax(means))
    return Spread(
        min=float(means[lo]),
        min_variant=variants[lo],
        max=float(means[hi]),
        max_variant=variants[hi],
        range=float(means[hi] - means[lo]),
        range_low=d2 * math.sqrt(var_low),
        range_high=d2 * math.sqrt(var_high),
        sd=sd,
        sd_low=math.sqrt(var_low),
        sd_high=math.sqrt(var_high),
        n_variants=n_v,
        method=SPREAD_METHOD,
        confidence=confidence,
    )


# ---- verdict --------------------------------------------------------------------------------------


def verdict(better: list[str | None]) -> str:
    """``robust``: the same significant sign under every variant; ``fragile``: significant under some variants,
    not under others, never in opposite directions; ``reversed``: significant in both directions under
    different variants; ``none``: no variant shows a significant difference."""
    a, b = better.count("a"), better.count("b")
    if a and b:
        return "reversed"
    if not a and not b:
        return "none"
    return "robust" if (a or b) == len(better) else "fragile"


# ---- the whole comparison -------------------------------------------------------------------------


def across(
    scores: pd.DataFrame,
    *,
    column: str = "variant",
    confidence: float = 0.95,
    correction: str = "holm",
    ci_method: str = "auto",
    seed: int | None = 0,
    n_boot: int = 1000,
    mixedlm: bool | None = None,
) -> AcrossResult:
    """Compare models across the values of ``column`` (prompt variants) crossed with the items.

    ``scores``: one row per (model, item, variant[, sample]) with columns
    ``model``, ``item``, ``column`` and ``score`` (0/1 or continuous), and
    optionally ``sample`` (several samples of a cell; then the item × variant
    interaction is separable from the residual). Samples of a cell are
    averaged first; every interval rests on items (and, where pooled, on
    variants), never on samples.

    Per model: ``by_variant`` (the mean over items under each variant, with
    ``mean_ci``'s interval for ``ci_method``; ``seed`` and ``n_boot`` serve
    its bootstrap methods), ``spread`` (``variant_spread``) and
    ``variance_components`` (``crossed_components``; ``mixedlm`` as there).

    Per pair (a the model with the higher mean over its cells, as in
    ``compare``): ``paired_diff`` on each variant's common items (paired t
    when cells have several samples), p-values adjusted over the variants of
    the pair with ``correction``; a variant counts for a (b) when its adjusted
    p < 1 − confidence and the difference is positive (negative); ``verdict``
    from those counts (``verdict``); and the pooled difference over the
    items scored by both models under every common variant
    (``pooled_difference``); with a single common variant, the ordinary paired
    interval of ``paired_diff`` on it.
    """
    if ci_method not in METHODS:
        raise ConfigError(f"ci method {ci_method!r} is not known; choose one of {', '.join(METHODS)}")
    if correction not in CORRECTIONS:
        raise ConfigError(f"correction {correction!r} is not known; choose one of {', '.join(CORRECTIONS)}")
    check_confidence(confidence)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise ConfigError(f"n_boot {n_boot!r}: give a whole number of resamples, at least 100")
    frame = _normalise(scores, column)
    variants = [str(v) for v in pd.unique(frame["variant"])]
    notes: list[str] = []
    models: dict[str, ModelAcross] = {}
    cells: dict[str, pd.DataFrame] = {}
    multi_sample: dict[str, bool] = {}
    for model, rows in frame.groupby("model", sort=False):
        means, counts, _ = _cell_table(rows)
        means = means.reindex(columns=[v for v in variants if v in means.columns])
        cells[model] = means
        multi_sample[model] = bool(np.nanmax(counts.to_numpy(dtype=float)) > 1)
        by_variant: dict[str, MeanCI] = {}
        for variant in means.columns:
            item_means = means[variant].dropna()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    ci = mean_ci(
                        item_means.to_numpy(), method=ci_method, confidence=confidence, seed=seed, n_resamples=n_boot
                    )
                except (DataError, ConfigError) as exc:
                    raise type(exc)(f"model {model!r} {column} {variant!r}: {exc}") from None
            for message in ci.warnings:
                warn(f"{model} {column} {variant}: {message}", notes)
            by_variant[variant] = ci
        missing = [v for v in variants if v not in by_variant]
        if missing:
            warn(f"{model}: no scores under {column} {', '.join(missing)}", notes)
        spread = components = None
        if means.shape[1] >= 2:
            spread = variant_spread(means, confidence=confidence)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    components = crossed_components(
                        rows, column="variant", confidence=confidence, mixedlm=mixedlm, label=column
                    )
                except DataError as exc:
                    warn(f"{model}: no variance components ({exc})", notes)
            if components is not None:
                for message in components.warnings:
                    warn(f"{model}: {message}", notes)
        else:
            warn(f"{model}: scored under a single {column}; no spread or variance components", notes)
        overall = float(np.nanmean(means.to_numpy(dtype=float)))
        models[model] = ModelAcross(model, overall, by_variant, spread, components)

    order = sorted(models, key=lambda m: -models[m].mean)
    models = {m: models[m] for m in order}
    pairs = [
        _pair(a, b, cells[a], cells[b], multi_sample[a] or multi_sample[b], column, confidence, correction, notes)
        for a, b in combinations(order, 2)
    ]
    return AcrossResult(column, variants, models, pairs, correction, confidence, notes)


def _pair(
    a: str,
    b: str,
    cells_a: pd.DataFrame,
    cells_b: pd.DataFrame,
    multi_sample: bool,
    column: str,
    confidence: float,
    correction: str,
    notes: list[str],
) -> PairAcross:
    common = [v for v in cells_a.columns if v in cells_b.columns]
    by_variant: dict[str, PairedDiff | None] = {}
    errors: dict[str, str] = {}
    test = "paired-t" if multi_sample else "auto"
    for variant in common:
        sa, sb = cells_a[variant].dropna(), cells_b[variant].dropna()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                by_variant[variant] = paired_diff(sa, sb, confidence=confidence, test=test)
            except DataError as exc:
                by_variant[variant] = None
                errors[variant] = str(exc)
                warn(f"{a} vs {b} {column} {variant}: not compared ({exc})", notes)
    raw = [r.p_value if r else np.nan for r in by_variant.values()]
    adjusted = dict(zip(by_variant, (float(p) for p in adjust_pvalues(raw, correction))))
    alpha = 1 - confidence
    better: dict[str, str | None] = {}
    for variant, r in by_variant.items():
        significant = r is not None and adjusted[variant] < alpha
        better[variant] = ("a" if r.diff > 0 else "b" if r.diff < 0 else None) if significant else None
    pooled = None
    if len(common) >= 2:
        table = (cells_a[common] - cells_b[common]).dropna(axis=0, how="any")
        dropped = int(cells_a[common].index.union(cells_b[common].index).size - len(table))
        if dropped:
            warn(
                f"{a} vs {b}: the pooled difference uses the {len(table)} item(s) both scored under every common "
                f"{column}; {dropped} left out",
                notes,
            )
        if len(table) >= 2:
            pooled = pooled_difference(table.to_numpy(dtype=float), confidence=confidence)
            if pooled.se == 0:
                pooled = _pooled_from_items(cells_a.loc[table.index, common], cells_b.loc[table.index, common], pooled)
        else:
            warn(f"{a} vs {b}: fewer than 2 items scored by both under every {column}; no pooled difference", notes)
    elif len(common) == 1 and by_variant[common[0]] is not None:
        r = by_variant[common[0]]
        pooled = PooledDiff(
            diff=r.diff,
            se=r.se,
            df=float("nan"),
            low=r.low,
            high=r.high,
            p_value=r.p_value,
            method=f"a single common {column}: the paired comparison on it ({r.ci_method})",
            n_items=r.n,
            n_variants=1,
            confidence=confidence,
        )
    if not common:
        warn(f"{a} vs {b}: no {column} in common; not compared", notes)
    return PairAcross(a, b, by_variant, adjusted, better, verdict(list(better.values())), pooled, errors)


def _pooled_from_items(cells_a: pd.DataFrame, cells_b: pd.DataFrame, zero: PooledDiff) -> PooledDiff:
    """Every cell has the same difference (often 0): a t interval would be a point, so use ``paired_diff``
    on the items' means over the variants, which gives the exact bounded-score interval for this case."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            r = paired_diff(cells_a.mean(axis=1), cells_b.mean(axis=1), confidence=zero.confidence, test="paired-t")
        except DataError:
            return zero
    return PooledDiff(
        diff=zero.diff,
        se=r.se,
        df=float("nan"),
        low=r.low,
        high=r.high,
        p_value=r.p_value,
        method=f"every cell has the same difference; over the items' means across the variants: {r.ci_method}",
        n_items=zero.n_items,
        n_variants=zero.n_variants,
        components=zero.components,
        confidence=zero.confidence,
    )
