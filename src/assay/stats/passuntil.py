"""PassUntil: per-item pass rates from sampling until K passes or a budget B.

Hu et al. (2024) resolve pass rates far below 1/k by drawing samples of an
item until it has passed K times. The number of samples N needed is then
negative binomial, N ~ NB(K, p), and its exact tail probabilities give an
interval for p in the manner of Clopper and Pearson:

* lower end p_L solves P(N <= n | p_L) = alpha/2, i.e. p_L is the alpha/2
  quantile of Beta(K, n - K + 1);
* upper end p_U solves P(N >= n | p_U) = alpha/2, i.e. p_U is the 1 - alpha/2
  quantile of Beta(K, n - K) (1 when n = K).

When the budget runs out with c < K passes the outcome is censored: N > B is
all that is known. Such an item reports no point estimate (zero would be
wrong: the item may pass now and then) but an upper bound, p_U solving
P(at most c passes in B | p_U) = alpha/2, the upper end of the exact binomial
interval. Ordering censored outcomes after every uncensored one keeps the
two rules one consistent exact interval.

Runs sample in batches, so an item may overshoot K. ``pass_until_outcomes``
therefore takes the ordered outcomes and cuts them at the K-th pass, which is
exactly the negative binomial observation whatever the batch size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from assay.errors import ConfigError, DataError
from assay.jsonable import jsonable

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class PassUntilItem:
    """One item's pass-rate estimate under the PassUntil stopping rule.

    ``estimate`` is the maximum-likelihood K/N as in Hu et al. It is biased
    upwards, strongly for small K: E[K/N] is about 3.2 p at K=1 and 1.8 p at
    K=2 for p = 0.05. ``unbiased`` is the minimum-variance unbiased estimate
    under negative binomial sampling, (K-1)/(N-1), which at K=1 is 1 if the
    first sample passed and 0 otherwise; means over items use it. Both are
    ``None`` when the budget ran out first; ``upper_bound`` is then set.
    """

    item: str | None
    samples: int
    passes: int
    target_passes: int
    budget: int
    stopped_by: str  # "target" or "budget"
    estimate: float | None
    unbiased: float | None
    ci_low: float
    ci_high: float
    upper_bound: float | None
    confidence: float
    method: str

    @property
    def censored(self) -> bool:
        return self.stopped_by == "budget"

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "item": self.item,
                "samples": self.samples,
                "passes": self.passes,
                "target_passes": self.target_passes,
                "budget": self.budget,
                "stopped_by": self.stopped_by,
                "estimate": self.estimate,
                "unbiased": self.unbiased,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "upper_bound": self.upper_bound,
                "confidence": self.confidence,
                "method": self.method,
            }
        )

    def render(self) -> str:
        name = f"{self.item}: " if self.item is not None else ""
        if self.censored:
            return (
                f"{name}p < {self.upper_bound:.3g} ({self.confidence:.0%} bound; "
                f"{self.passes}/{self.samples} passes, budget reached before {self.target_passes})"
            )
        return (
            f"{name}p = {self.estimate:.3g} [{self.ci_low:.3g}, {self.ci_high:.3g}] "
            f"({self.target_passes} passes in {self.samples} samples)"
        )


def _check_rule(target_passes: int, budget: int, confidence: float) -> None:
    if int(target_passes) != target_passes or target_passes < 1:
        raise ConfigError(f"--pass-until K must be a whole number >= 1, got {target_passes!r}")
    if int(budget) != budget or budget < target_passes:
        raise ConfigError(f"--budget B must be a whole number >= K={target_passes} (the passes sought), got {budget!r}")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")


def pass_until_item(
    samples: int,
    passes: int,
    *,
    target_passes: int,
    budget: int,
    confidence: float = 0.95,
    item: str | None = None,
) -> PassUntilItem:
    """Estimate and exact interval for one item's pass rate.

    ``samples`` is the number drawn up to and including the K-th pass (or the
    budget), ``passes`` the passes among them (at most K: cut overshoot from
    batched sampling with ``pass_until_outcomes``).
    """
    from scipy.stats import beta

    _check_rule(target_passes, budget, confidence)
    where = f" for item {item!r}" if item is not None else ""
    if not (0 <= passes <= samples):
        raise DataError(f"passes must lie in 0..samples{where}, got passes={passes}, samples={samples}")
    if passes > target_passes:
        raise DataError(
            f"passes={passes} exceeds K={target_passes}{where}: cut the samples at the K-th pass "
            "(pass_until_outcomes does this for batched runs)"
        )
    if samples > budget:
        raise DataError(f"samples={samples} exceeds the budget B={budget}{where}")
    if samples < 1:
        raise DataError(f"no samples drawn{where}; PassUntil needs at least one")
    alpha = 1.0 - confidence
    if passes == target_passes:
        k, n = target_passes, samples
        low = float(beta.ppf(alpha / 2, k, n - k + 1))
        high = 1.0 if n == k else float(beta.ppf(1 - alpha / 2, k, n - k))
        return PassUntilItem(
            item=item,
            samples=n,
            passes=k,
            target_passes=target_passes,
            budget=budget,
            stopped_by="target",
            estimate=k / n,
            unbiased=(k - 1) / (n - 1) if k >= 2 else float(n == 1),
            ci_low=low,
            ci_high=high,
            upper_bound=None,
            confidence=confidence,
            method="negative binomial, exact (Clopper-Pearson style) interval",
        )
    if samples != budget:
        raise DataError(
            f"item stopped after {samples} samples with {passes} < K={target_passes} passes{where}, "
            f"but the budget is B={budget}: under PassUntil sampling stops only at K passes or B samples"
        )
    c, n = passes, samples
    low = 0.0 if c == 0 else float(beta.ppf(alpha / 2, c, n - c + 1))
    upper = float(beta.ppf(1 - alpha / 2, c + 1, n - c))
    return PassUntilItem(
        item=item,
        samples=n,
        passes=c,
        target_passes=target_passes,
        budget=budget,
        stopped_by="budget",
        estimate=None,
        unbiased=None,
        ci_low=low,
        ci_high=upper,
        upper_bound=upper,
        confidence=confidence,
        method="budget reached: exact binomial upper bound",
    )


def pass_until_outcomes(
    outcomes: Sequence[Any],
    *,
    target_passes: int,
    budget: int,
    confidence: float = 0.95,
    item: str | None = None,
) -> PassUntilItem:
    """``pass_until_item`` from one item's outcomes in sampling order (1/True = pass).

    Samples after the K-th pass (drawn because sampling goes in batches) are
    ignored; so are samples beyond the budget.
    """
    values = np.asarray(outcomes, dtype=float)
    if values.ndim != 1 or np.any(~np.isin(values, (0.0, 1.0))):
        raise DataError(f"PassUntil outcomes must be 0 or 1 in sampling order{_for(item)}, got {list(outcomes)!r}")
    values = values[:budget]
    cumulative = np.cumsum(values)
    reached = np.flatnonzero(cumulative >= target_passes)
    if reached.size:
        samples = int(reached[0]) + 1
        passes = target_passes
    else:
        samples = int(values.size)
        passes = int(cumulative[-1]) if values.size else 0
    return pass_until_item(
        samples, passes, target_passes=target_passes, budget=budget, confidence=confidence, item=item
    )


def _for(item: str | None) -> str:
    return f" for item {item!r}" if item is not None else ""


@dataclass
class PassUntilAggregate:
    """Mean pass rate over items.

    Each item that reached K passes counts at its unbiased estimate
    (K-1)/(N-1), not at K/N, whose upward bias would carry into the mean.
    Budget-capped items have only an upper bound, so the mean is bracketed:
    ``value_low`` counts them at their observed rate c/B (usually 0) and
    ``value_high`` at their upper bound; the two agree when nothing was
    capped. The interval is a percentile bootstrap over items, taking its lower
    end from the low version and its upper end from the high one.
    """

    model: str | None
    value_low: float
    value_high: float
    ci_low: float
    ci_high: float
    n_items: int
    n_censored: int
    confidence: float
    n_boot: int
    items: list[PassUntilItem]
    method: str = (
        "mean over items of the per-item unbiased estimate (K-1)/(N-1) (K=1: whether the first sample "
        "passed); budget-capped items at c/B (low) and their upper bound (high); percentile bootstrap over items"
    )

    @property
    def value(self) -> float | None:
        """The mean when no item was capped, else ``None`` (see value_low/value_high)."""
        return self.value_low if self.n_censored == 0 else None

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "model": self.model,
                "value": self.value,
                "value_low": self.value_low,
                "value_high": self.value_high,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "n_items": self.n_items,
                "n_censored": self.n_censored,
                "confidence": self.confidence,
                "n_boot": self.n_boot,
                "method": self.method,
                "items": [i.to_dict() for i in self.items],
            }
        )

    def render(self) -> str:
        name = f"{self.model}: " if self.model else ""
        if self.n_censored == 0:
            centre = f"{self.value_low:.4g}"
        else:
            centre = f"between {self.value_low:.4g} and {self.value_high:.4g}"
        return (
            f"{name}mean pass rate {centre} [{self.ci_low:.4g}, {self.ci_high:.4g}] "
            f"({self.confidence:.0%}, {self.n_items} items, {self.n_censored} reached the budget)"
        )


def aggregate_pass_until(
    items: Sequence[PassUntilItem],
    *,
    seed: int = 0,
    n_boot: int = 2000,
    model: str | None = None,
) -> PassUntilAggregate:
    """Mean pass rate over items with a bootstrap interval (see ``PassUntilAggregate``)."""
    if not items:
        raise DataError("PassUntil aggregate needs at least one item")
    if n_boot < 1:
        raise ConfigError(f"n_boot must be at least 1, got {n_boot!r}")
    confidence = items[0].confidence
    low = np.array([i.unbiased if not i.censored else i.passes / i.samples for i in items])
    high = np.array([i.unbiased if not i.censored else i.upper_bound for i in items])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(items), size=(n_boot, len(items)))
    alpha = 1.0 - confidence
    return PassUntilAggregate(
        model=model,
        value_low=float(low.mean()),
        value_high=float(high.mean()),
        ci_low=float(np.quantile(low[idx].mean(axis=1), alpha / 2)),
        ci_high=float(np.quantile(high[idx].mean(axis=1), 1 - alpha / 2)),
        n_items=len(items),
        n_censored=int(sum(i.censored for i in items)),
        confidence=confidence,
        n_boot=n_boot,
        items=list(items),
    )


@dataclass
class PassUntilReport:
    """PassUntil estimates per model."""

    models: dict[str, PassUntilAggregate]
    target_passes: int
    budget: int

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "target_passes": self.target_passes,
                "budget": self.budget,
                "models": {name: agg.to_dict() for name, agg in self.models.items()},
            }
        )

    def render(self) -> str:
        head = f"PassUntil K={self.target_passes}, budget B={self.budget}"
        return "\n".join([head] + ["  " + agg.render() for agg in self.models.values()])


def pass_until_report(
    frame: "pd.DataFrame",
    *,
    target_passes: int,
    budget: int,
    confidence: float = 0.95,
    seed: int = 0,
    n_boot: int = 2000,
) -> PassUntilReport:
    """PassUntil per model from a long table with columns model, item, sample, score.

    Scores must be 0 or 1; rows without a score (failed requests) are skipped.
    Outcomes are taken in ``sample`` order and cut at the K-th pass.
    """
    missing = {"model", "item", "sample", "score"} - set(frame.columns)
    if missing:
        raise DataError(f"PassUntil table lacks column(s) {sorted(missing)}; it needs model, item, sample, score")
    _check_rule(target_passes, budget, confidence)
    scored = frame[frame["score"].notna()].sort_values(["model", "item", "sample"])
    if scored.empty:
        raise DataError("PassUntil table has no scored samples")
    models = {}
    for model, rows in scored.groupby("model", sort=True):
        items = [
            pass_until_outcomes(
                group["score"].to_numpy(dtype=float),
                target_passes=target_passes,
                budget=budget,
                confidence=confidence,
                item=str(item),
            )
            for item, group in rows.groupby("item", sort=True)
        ]
        models[str(model)] = aggregate_pass_until(items, seed=seed, n_boot=n_boot, model=str(model))
    return PassUntilReport(models=models, target_passes=target_passes, budget=budget)
