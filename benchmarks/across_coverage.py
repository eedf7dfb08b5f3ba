"""Coverage of the intervals of ``assay.stats.across`` by simulation with known truth.

Three tables, each against the alternative it was chosen over:

1. Variance components of a crossed items × variants design (``crossed_components``)
   against the normal-theory intervals (the modified large-sample interval
   for a difference of mean squares, chi-square for a single one), for
   normal scores, 0/1 scores at low and middling accuracy, and heavy-tailed
   item effects.
2. The pooled difference of two models over items × variants
   (``pooled_difference``) against the paired t over the items' mean
   differences (variants fixed) and the t over all cells as if independent.
3. The sd of the variant means (``variant_spread``) against a crossed
   percentile bootstrap (items and variants resampled independently).

Run:

    PYTHONPATH=src python3 benchmarks/across_coverage.py [--runs 1000]

and it prints the Markdown tables used in docs/statistics.md.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from assay.stats.across import (
    chi2_interval,
    crossed_components,
    mls_interval,
    pooled_difference,
    variant_spread,
)

NAMES = ("item", "variant", "item_x_variant", "residual")


def normal_design(s_item, s_variant, s_cell, s_resid, item_effects="normal"):
    def draw(rng, n_i, n_v, k):
        if item_effects == "normal":
            a = rng.normal(size=n_i)
        elif item_effects == "t5":
            a = rng.standard_t(5, n_i) / np.sqrt(5 / 3)
        else:  # lognormal(0, 0.7), standardised
            z = rng.lognormal(0, 0.7, n_i)
            a = (z - np.exp(0.245)) / np.sqrt((np.exp(0.49) - 1) * np.exp(0.49))
        y = (
            s_item * a[:, None, None]
            + s_variant * rng.normal(size=n_v)[None, :, None]
            + s_cell * rng.normal(size=(n_i, n_v))[:, :, None]
            + s_resid * rng.normal(size=(n_i, n_v, k))
        )
        truth = {"item": s_item**2, "variant": s_variant**2, "item_x_variant": s_cell**2, "residual": s_resid**2}
        return y, truth

    return draw


def binary_design(base, h_item, h_variant, h_cell):
    """0/1 scores with probability base + a_i + b_v + c_iv, each effect uniform on ±h."""

    def draw(rng, n_i, n_v, k):
        p = (
            base
            + rng.uniform(-h_item, h_item, n_i)[:, None]
            + rng.uniform(-h_variant, h_variant, n_v)[None, :]
            + rng.uniform(-h_cell, h_cell, (n_i, n_v))
        )
        y = (rng.random((n_i, n_v, k)) < p[:, :, None]).astype(float)
        var = {"item": h_item**2 / 3, "variant": h_variant**2 / 3, "item_x_variant": h_cell**2 / 3}
        var["residual"] = base * (1 - base) - sum(var.values())
        return y, var

    return draw


COMPONENT_DESIGNS = (
    ("normal", normal_design(0.5, 0.3, 0.3, 0.5), 200, 8, 3),
    ("normal", normal_design(0.5, 0.3, 0.3, 0.5), 200, 8, 1),
    ("normal", normal_design(0.5, 0.3, 0.3, 0.5), 40, 4, 2),
    ("normal, t(5) item effects", normal_design(0.5, 0.3, 0.3, 0.5, "t5"), 200, 8, 1),
    ("normal, lognormal item effects", normal_design(0.5, 0.3, 0.3, 0.5, "lognormal"), 150, 6, 2),
    ("0/1 at 15%", binary_design(0.15, 0.1, 0.04, 0.04), 200, 8, 3),
    ("0/1 at 15%", binary_design(0.15, 0.1, 0.04, 0.04), 200, 8, 1),
    ("0/1 at 50%", binary_design(0.5, 0.2, 0.1, 0.15), 200, 8, 3),
    ("0/1 at 8%", binary_design(0.08, 0.07, 0.01, 0.0), 300, 6, 2),
)


def long_frame(y):
    n_i, n_v, k = y.shape
    i, v, s = np.meshgrid(np.arange(n_i), np.arange(n_v), np.arange(k), indexing="ij")
    return pd.DataFrame({"item": i.ravel(), "variant": v.ravel(), "sample": s.ravel(), "score": y.ravel()})


def normal_theory(result) -> dict[str, tuple[float, float]]:
    """The all-normal-theory intervals from the same mean squares."""
    ms, df = result.mean_squares, result.degrees_of_freedom
    n_i, n_v = result.n_items, result.n_variants
    out = {
        "item": mls_interval(1 / n_v, ms["item"], df["item"], 1 / n_v, ms["interaction"], df["interaction"], 0.95),
        "variant": mls_interval(
            1 / n_i, ms["variant"], df["variant"], 1 / n_i, ms["interaction"], df["interaction"], 0.95
        ),
    }
    if result.separable:
        inv_k = 1 / result.samples_per_cell
        out["item_x_variant"] = mls_interval(
            1, ms["interaction"], df["interaction"], inv_k, ms["residual"], df["residual"], 0.95
        )
        out["residual"] = chi2_interval(ms["residual"], df["residual"], 0.95)
    else:
        out["item_x_variant"] = chi2_interval(ms["interaction"], df["interaction"], 0.95)
    return {name: (max(lo, 0.0), max(hi, 0.0)) for name, (lo, hi) in out.items()}


def component_table(runs: int) -> list[str]:
    lines = [
        "| scores | items × variants × samples | item | variant | item × variant | residual |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for label, draw, n_i, n_v, k in COMPONENT_DESIGNS:
        ours = dict.fromkeys(NAMES, 0)
        theirs = dict.fromkeys(NAMES, 0)
        for seed in range(runs):
            y, truth = draw(np.random.default_rng(seed), n_i, n_v, k)
            if k == 1:
                truth = {**truth, "item_x_variant": truth["item_x_variant"] + truth["residual"]}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = crossed_components(long_frame(y), mixedlm=False)
            alternative = normal_theory(result)
            for name, c in result.components().items():
                if c is None:
                    continue
                ours[name] += c.low <= truth[name] <= c.high
                lo, hi = alternative[name]
                theirs[name] += lo <= truth[name] <= hi
        cells = []
        for name in NAMES:
            if k == 1 and name == "residual":
                cells.append("(with item × variant)")
            else:
                cells.append(f"{ours[name] / runs:.1%} ({theirs[name] / runs:.1%})")
        lines.append(f"| {label} | {n_i} × {n_v} × {k} | " + " | ".join(cells) + " |")
    return lines


POOLED_DESIGNS = ((100, 6, 0.3, 0.1, 0.5), (200, 8, 0.3, 0.05, 0.5), (100, 3, 0.3, 0.1, 0.5), (50, 8, 0.2, 0.15, 0.4))
POOLED_NULL = (100, 6, 0.3, 0.0, 0.5)


def pooled_table(runs: int) -> list[str]:
    lines = [
        "| items × variants | sd item / variant / cell | pooled (assay) | paired t over items | t over cells |",
        "|---|---|---:|---:|---:|",
    ]
    for n_i, n_v, sa, sb, sr in (*POOLED_DESIGNS, POOLED_NULL):
        ours = items = cells = 0
        for seed in range(runs):
            rng = np.random.default_rng(seed)
            d = 0.2 + rng.normal(0, sa, n_i)[:, None] + rng.normal(0, sb, n_v)[None, :] + rng.normal(0, sr, (n_i, n_v))
            p = pooled_difference(d)
            ours += p.low <= 0.2 <= p.high
            items += stats.ttest_1samp(d.mean(axis=1), 0.2).pvalue >= 0.05
            cells += stats.ttest_1samp(d.ravel(), 0.2).pvalue >= 0.05
        lines.append(
            f"| {n_i} × {n_v} | {sa} / {sb} / {sr} | {ours / runs:.1%} | {items / runs:.1%} | {cells / runs:.1%} |"
        )
    return lines


def crossed_bootstrap_sd(y: np.ndarray, rng: np.random.Generator, n_boot: int = 1000) -> tuple[float, float]:
    """Percentile interval of the sd of variant means, items and variants resampled independently."""
    n_i, n_v = y.shape
    weights = rng.multinomial(n_i, np.full(n_i, 1 / n_i), size=n_boot)
    means = weights @ y / n_i
    picked = np.take_along_axis(means, rng.integers(0, n_v, size=(n_boot, n_v)), axis=1)
    low, high = np.quantile(picked.std(axis=1, ddof=1), [0.025, 0.975])
    return float(low), float(high)


SPREAD_DESIGNS = (
    ("normal", 200, 8, 0.05),
    ("normal", 200, 8, 0.1),
    ("normal", 100, 4, 0.1),
    ("normal", 500, 10, 0.03),
    ("0/1", 200, 8, 0.05),
    ("0/1", 100, 4, 0.05),
    ("0/1", 300, 6, 0.02),
)


def spread_table(runs: int) -> list[str]:
    lines = [
        "| scores | items × variants | sd of variant effects | chi-square (assay) | crossed bootstrap |",
        "|---|---|---:|---:|---:|",
    ]
    for kind, n_i, n_v, sb in SPREAD_DESIGNS:
        ours = boot = 0
        for seed in range(runs):
            rng = np.random.default_rng(seed)
            b = rng.normal(0, sb, n_v)
            if kind == "normal":
                y = 0.5 + rng.normal(0, 0.2, n_i)[:, None] + b[None, :] + rng.normal(0, 0.3, (n_i, n_v))
                target = np.sqrt(sb**2 + 0.09 / n_i)
            else:
                a, c = rng.uniform(-0.3, 0.3, n_i), rng.uniform(-0.1, 0.1, (n_i, n_v))
                y = (rng.random((n_i, n_v)) < np.clip(0.5 + a[:, None] + b[None, :] + c, 0, 1)).astype(float)
                residual = 0.1**2 / 3 + 0.25 - (0.3**2 / 3 + sb**2 + 0.1**2 / 3)
                target = np.sqrt(sb**2 + residual / n_i)
            s = variant_spread(pd.DataFrame(y))
            ours += s.sd_low <= target <= s.sd_high
            lo, hi = crossed_bootstrap_sd(y, rng)
            boot += lo <= target <= hi
        lines.append(f"| {kind} | {n_i} × {n_v} | {sb} | {ours / runs:.1%} | {boot / runs:.1%} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="simulations per design")
    args = parser.parse_args()
    print(f"Variance components: coverage of the 95% interval, assay (normal-theory), {args.runs} runs each\n")
    print("\n".join(component_table(args.runs)))
    print(f"\nPooled difference: coverage of the 95% interval of the mean difference, {args.runs} runs each\n")
    print("\n".join(pooled_table(args.runs)))
    print(
        f"\nSpread: coverage of the 95% interval for sqrt(s2_variant + s2_resid/n_items), {args.runs // 2} runs each\n"
    )
    print("\n".join(spread_table(args.runs // 2)))


if __name__ == "__main__":
    main()
