"""The curves a forecast fits: a benchmark against scale, or against observed capability.

The shapes, each fitted by least squares on the scale its errors are
roughly even on:

* ``sigmoid`` of log10 compute, for accuracies: floor + (ceiling - floor) *
  expit(k * (t + offset - x0)). A chance floor or ceiling given by the user
  is held fixed; otherwise each is fitted inside [0, 1].
* ``power`` of compute, for losses and perplexities, on log y:
  log y = logaddexp(e, a - alpha * ln(10) * (t + offset)), i.e.
  y = E + A * C^-alpha with C = 10^t.
* ``link`` (observational scaling, Ruan et al. 2024): floor + (ceiling -
  floor) * expit(w . pcs + b), where pcs are principal components of the
  cheap benchmarks.
* ``two-step``: a power law of a loss in compute chained into a sigmoid of
  that loss (``TwoStep``).

Family offsets (``groups``): each family g gets a shift offset_g of log10
compute, its compute efficiency relative to the pooled curve. The offsets are
random effects: a penalty (offset_g / tau)^2 * sigma^2 pulls them toward 0,
with sigma^2 (residual variance) and tau^2 (spread of families) re-estimated
in turn, the empirical-Bayes fixed point. A family with few rows stays near
the pooled curve; one never seen gets offset 0 and the spread tau is added to
its interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
import scipy.special

from assay.scaling.laws import fit_sigmoid

LN10 = float(np.log(10.0))
OFFSET_ROUNDS = 8  # alternations of (fit | tau) -> tau; the fixed point settles within a few


@dataclass
class Curve:
    """A fitted curve on the scale intervals are built on (y for accuracies, log y for losses)."""

    kind: str  # sigmoid | power | link
    params: np.ndarray
    names: tuple[str, ...]
    bounds: tuple[float, float]  # range the target can take on its own scale (for clipping)
    offsets: dict = field(default_factory=dict)  # family -> offset in decades of compute
    tau: float | None = None  # spread of family offsets, decades
    sigma: float = 0.0  # RMS residual of the fit, on the fit scale
    n: int = 0
    converged: bool = True

    def value(self, inputs: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
        """Forecast on the fit scale; ``inputs`` is t (log10 compute) or the component matrix."""
        if self.kind == "link":
            return _link(self.params, inputs)
        t = np.asarray(inputs, dtype=float) + self._offsets_for(groups, len(np.atleast_1d(inputs)))
        return _shape(self.kind, self.params, t)

    def slope(self, t: np.ndarray) -> np.ndarray:
        """d value / d t, for the extra width an unknown family offset adds."""
        step = 1e-4
        return (_shape(self.kind, self.params, t + step) - _shape(self.kind, self.params, t - step)) / (2 * step)

    def _offsets_for(self, groups, n: int) -> np.ndarray:
        if groups is None or not self.offsets:
            return np.zeros(n)
        return np.array([self.offsets.get(g, 0.0) for g in groups], dtype=float)

    def to_dict(self) -> dict:
        out = {
            "curve": self.kind,
            "params": dict(zip(self.names, map(float, self.params))),
            "rms_residual": self.sigma,
            "n_train": self.n,
            "converged": self.converged,
        }
        if self.kind != "link":
            out["fitted_on"] = "log y" if self.kind == "power" else "y"
        if self.offsets:
            out["offsets"] = {str(g): float(v) for g, v in self.offsets.items()}
            out["offset_spread"] = self.tau
        return out


def _shape(kind: str, params: np.ndarray, t: np.ndarray) -> np.ndarray:
    if kind == "sigmoid":
        f, c, k, x0 = params
        return f + (c - f) * scipy.special.expit(k * (t - x0))
    e, a, alpha = params
    return np.logaddexp(e, a - alpha * LN10 * t)


def _link(params: np.ndarray, pcs: np.ndarray) -> np.ndarray:
    f, c, b = params[:3]
    return f + (c - f) * scipy.special.expit(np.atleast_2d(pcs) @ params[3:] + b)


# -------------------------------------------------------------------------------------------------
# compute curves


def _pooled_start(kind: str, t: np.ndarray, y: np.ndarray, floor: float | None, ceiling: float | None) -> np.ndarray:
    """A robust start: the sigmoid law's grid-screened fit, or a grid over the power law's exponent."""
    if kind == "sigmoid":
        params, *_ = fit_sigmoid(t, y, floor, None)
        if ceiling is not None:
            params = params.copy()
            params[1] = ceiling
        return params
    return _power_start(t, y)


def _power_start(t: np.ndarray, log_y: np.ndarray) -> np.ndarray:
    """Screen a grid of (alpha, E) for y = E + A * 10^(-alpha t); A is then closed-form in log space.

    Cheap enough to run in every backtest fold (the four-thousand-start grid of the
    Chinchilla procedure is meant for two-term laws); the trust-region polish follows.
    """
    y = np.exp(log_y)
    alphas = np.geomspace(0.005, 3.0, 48)
    shares = np.concatenate([[0.0], np.linspace(0.05, 0.995, 24)])
    best, best_rss = None, np.inf
    for share in shares:
        e = share * y.min()
        rest = np.log(np.maximum(y - e, 1e-300))
        # log(y - E) = a - alpha ln10 t: a is the mean of rest + alpha ln10 t for each alpha.
        a = np.mean(rest[None, :] + alphas[:, None] * LN10 * t[None, :], axis=1)
        predicted = np.logaddexp(np.log(e) if e > 0 else -np.inf, a[:, None] - alphas[:, None] * LN10 * t[None, :])
        rss = np.sum((predicted - log_y[None, :]) ** 2, axis=1)
        i = int(np.argmin(rss))
        if rss[i] < best_rss:
            best_rss, best = rss[i], np.array([np.log(e) if e > 0 else np.log(1e-12 * y.min()), a[i], alphas[i]])
    return best


def fit_compute_curve(
    kind: str,
    t: np.ndarray,
    y: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    floor: float | None = None,
    ceiling: float | None = None,
    bounds: tuple[float, float] = (-np.inf, np.inf),
) -> Curve:
    """Fit a sigmoid (y) or power law (log y) in t = log10 compute, with shrunken family offsets."""
    names = ("floor", "ceiling", "k", "x0") if kind == "sigmoid" else ("e", "a", "alpha")
    start = _pooled_start(kind, t, y, floor, ceiling)
    fixed = {}
    if kind == "sigmoid":
        if floor is not None:
            fixed[0] = floor
        if ceiling is not None:
            fixed[1] = ceiling
    free = [i for i in range(len(start)) if i not in fixed]
    labels = None if groups is None else np.asarray(groups)
    families = [] if labels is None else sorted(set(labels.tolist()), key=str)
    use_offsets = len(families) >= 2
    index = np.array([families.index(g) for g in labels]) if use_offsets else None
    span = max(float(np.ptp(t)), 1e-6)
    lower, upper = _param_bounds(kind, bounds, t, span)
    lower, upper = lower[free], upper[free]

    def unpack(z):
        params = start.copy()
        params[free] = z[: len(free)]
        for i, v in fixed.items():
            params[i] = v
        offsets = z[len(free) :] if use_offsets else np.zeros(0)
        return params, offsets

    def residuals(z, penalty):
        params, offsets = unpack(z)
        shift = offsets[index] if use_offsets else 0.0
        r = _shape(kind, params, t + shift) - y
        return np.concatenate([r, penalty * offsets]) if use_offsets else r

    z = _inside(start[free], lower, upper)
    tau, converged, penalty = None, True, 0.0
    n_off = len(families) if use_offsets else 0
    big = np.full(n_off, np.inf)
    if use_offsets:
        # Start with a weak pull (families free to differ), then iterate sigma and tau.
        tau = span
        z = np.concatenate([z, np.zeros(n_off)])
    for _ in range(OFFSET_ROUNDS if use_offsets else 1):
        sigma = _rms(residuals(z, 0.0)[: len(y)], len(y), len(free) + n_off) if use_offsets else 1.0
        penalty = sigma / max(tau, 1e-6) if use_offsets else 0.0
        result = scipy.optimize.least_squares(
            residuals,
            z,
            args=(penalty,),
            method="trf",
            bounds=(np.concatenate([lower, -big]), np.concatenate([upper, big])),
            xtol=1e-10,
            ftol=1e-10,
            gtol=1e-10,
        )
        z, converged = result.x, bool(result.status > 0)
        if not use_offsets:
            break
        params, offsets = unpack(z)
        sigma = _rms(residuals(z, 0.0)[: len(y)], len(y), len(free) + n_off)
        # Posterior variance of each offset from the Gauss-Newton curvature (including the pull).
        jac = result.jac
        try:
            posterior = np.diag(np.linalg.pinv(jac.T @ jac))[len(free) :] * sigma**2
        except np.linalg.LinAlgError:
            posterior = np.zeros(n_off)
        new_tau = float(np.sqrt(max(np.mean(offsets**2 + posterior), 1e-12)))
        if abs(new_tau - tau) < 1e-4 * max(tau, 1e-3):
            tau = new_tau
            break
        tau = new_tau
    params, offsets = unpack(z)
    shift = offsets[index] if use_offsets else 0.0
    resid = _shape(kind, params, t + shift) - y
    curve = Curve(
        kind, params, names, bounds, sigma=_rms(resid, len(y), len(free) + n_off), n=len(y), converged=converged
    )
    if use_offsets:
        curve.offsets = {g: float(o) for g, o in zip(families, offsets)}
        curve.tau = tau
    return curve


def _param_bounds(kind: str, bounds: tuple[float, float], t: np.ndarray, span: float):
    if kind == "sigmoid":
        low, high = bounds
        k_limit = 200.0 / span
        return (np.array([low, low, -k_limit, t.min() - 3 * span]), np.array([high, high, k_limit, t.max() + 3 * span]))
    return np.array([-np.inf, -np.inf, 0.0]), np.array([np.inf, np.inf, 10.0])


def _inside(start: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """A start strictly inside finite bounds, as scipy's trust-region solver requires."""
    margin = np.where(np.isfinite(upper - lower), 1e-9 * (upper - lower), 0.0)
    return np.clip(start, lower + margin, upper - margin)


def _rms(residual: np.ndarray, n: int, p: int) -> float:
    return float(np.sqrt(np.sum(residual**2) / max(n - p, 1)))


# -------------------------------------------------------------------------------------------------
# observational scaling


@dataclass
class Components:
    """Principal components of standardised benchmark scores, oriented so that the first rises with the mean."""

    columns: list[str]
    mean: np.ndarray
    std: np.ndarray
    loadings: np.ndarray  # (k, n_columns)
    explained: np.ndarray  # share of variance of each component kept

    def transform(self, scores: np.ndarray) -> np.ndarray:
        return ((scores - self.mean) / self.std) @ self.loadings.T

    def to_dict(self) -> dict:
        return {
            "columns": self.columns,
            "explained_variance": [float(v) for v in self.explained],
            "loadings": [dict(zip(self.columns, map(float, row))) for row in self.loadings],
        }


def principal_components(scores: np.ndarray, columns: list[str], k: int) -> Components:
    """PCA of the benchmark scores (rows: models), as Ruan et al. (2024) do for capability."""
    mean = scores.mean(axis=0)
    std = scores.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    z = (scores - mean) / std
    _, singular, vt = np.linalg.svd(z, full_matrices=False)
    k = min(k, vt.shape[0])
    loadings = vt[:k].copy()
    for i in range(k):
        # Orient each component so that it rises with the average standardised score.
        if np.sum(loadings[i]) < 0:
            loadings[i] = -loadings[i]
    explained = singular**2 / max(np.sum(singular**2), 1e-300)
    return Components(list(columns), mean, std, loadings, explained[:k])


def fit_link(
    pcs: np.ndarray, y: np.ndarray, *, floor: float | None, ceiling: float | None, bounds: tuple[float, float]
) -> Curve:
    """Sigmoid link from the components to the target, by least squares."""
    pcs = np.atleast_2d(pcs)
    k = pcs.shape[1]
    low, high = bounds
    f0 = floor if floor is not None else (max(low, float(y.min()) - 0.01) if np.isfinite(low) else float(y.min()))
    if ceiling is not None:
        c0 = ceiling
    else:
        c0 = min(high, float(y.max()) + 0.05) if np.isfinite(high) else float(y.max())
    if c0 <= f0:
        c0 = f0 + max(float(np.ptp(y)), 1e-3)
    share = np.clip((y - f0) / (c0 - f0), 0.02, 0.98)
    design = np.column_stack([np.ones(len(y)), pcs])
    coef, *_ = np.linalg.lstsq(design, scipy.special.logit(share), rcond=None)
    start = np.concatenate([[f0, c0, coef[0]], coef[1:]])
    fixed = {0: floor, 1: ceiling}
    free = [i for i in range(len(start)) if fixed.get(i) is None]

    def unpack(z):
        params = start.copy()
        params[free] = z
        return params

    def residuals(z):
        return _link(unpack(z), pcs) - y

    lower = np.array([low, low] + [-np.inf] * (k + 1))[free]
    upper = np.array([high, high] + [np.inf] * (k + 1))[free]
    z0 = _inside(start[free], lower, upper)
    result = scipy.optimize.least_squares(
        residuals, z0, bounds=(lower, upper), method="trf", xtol=1e-10, ftol=1e-10, gtol=1e-10
    )
    params = unpack(result.x)
    names = ("floor", "ceiling", "intercept") + tuple(f"w_pc{i + 1}" for i in range(k))
    resid = _link(params, pcs) - y
    return Curve(
        "link", params, names, bounds, sigma=_rms(resid, len(y), len(free)), n=len(y), converged=bool(result.status > 0)
    )


# -------------------------------------------------------------------------------------------------
# two-step: compute -> loss -> accuracy


@dataclass
class TwoStep:
    """Compute to an intermediate loss (power law), then the target as a sigmoid of that loss.

    The forecast chains the steps: the loss forecast from compute feeds the
    sigmoid. Its interval comes from backtests of the whole chain, so it carries
    both steps' errors, including how an error in the loss moves the accuracy.
    """

    first: Curve  # power law of the loss in log10 compute (on log loss)
    second: Curve  # link: target = floor + (ceiling - floor) * expit(w * z + b), z the transformed loss
    transform: str  # log10 or linear: how the loss enters the sigmoid
    sigma: float = 0.0  # RMS in-sample residual of the chained forecast
    n: int = 0
    kind: str = "two-step"

    @property
    def offsets(self) -> dict:
        return self.first.offsets

    @property
    def tau(self) -> float | None:
        return self.first.tau

    @property
    def converged(self) -> bool:
        return self.first.converged and self.second.converged

    def loss(self, t: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
        return np.exp(self.first.value(t, groups))

    def value(self, t: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
        loss = self.loss(t, groups)
        z = np.log10(loss) if self.transform == "log10" else loss
        return self.second.value(z[:, None])

    def slope(self, t: np.ndarray) -> np.ndarray:
        step = 1e-4
        return (self.value(t + step) - self.value(t - step)) / (2 * step)

    def to_dict(self) -> dict:
        return {
            "curve": "two-step",
            "loss": self.first.to_dict(),
            "accuracy": self.second.to_dict(),
            "loss_transform": self.transform,
            "rms_residual": self.sigma,
            "n_train": self.n,
            "converged": self.converged,
            **({"offsets": self.first.to_dict()["offsets"], "offset_spread": self.tau} if self.offsets else {}),
        }


def fit_two_step(
    t: np.ndarray,
    loss: np.ndarray,
    y: np.ndarray,
    *,
    transform: str,
    groups: np.ndarray | None,
    floor: float | None,
    ceiling: float | None,
    bounds: tuple[float, float],
) -> TwoStep:
    """Fit both steps on the same rows and measure the chained forecast's own residual."""
    first = fit_compute_curve("power", t, np.log(loss), groups=groups)
    z = np.log10(loss) if transform == "log10" else loss
    second = fit_link(z[:, None], y, floor=floor, ceiling=ceiling, bounds=bounds)
    chained = TwoStep(first, second, transform, n=len(y))
    free = 3 + 2 + (floor is None) + (ceiling is None)
    chained.sigma = _rms(chained.value(t, groups) - y, len(y), free)
    return chained
