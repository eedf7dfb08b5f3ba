"""Scaling-law definitions: parameters, prediction, objective and fitting.

Each law maps x columns (sizes, tokens, steps, or a loss) to y and knows how
to fit itself fast enough to be refitted a few hundred times in a bootstrap:

* ``power``, ``chinchilla`` and ``kaplan`` are sums of power-law terms, fitted
  on log y with a Huber loss as in Hoffmann et al. (2022) and Besiroglu et al.
  (2024). The objective is vectorised over many starting points at once, so
  the whole initial-value grid is screened in one pass; only the best few
  starts are refined, by a trust-region solver on the same Huber objective
  with the analytic Jacobian.
* ``sigmoid`` is linear in floor and ceiling once slope and midpoint are
  fixed, so a grid over (k, x0) is solved in closed form before a bounded
  least-squares polish.
* ``task`` (PassUntil) is ordinary least squares after a transform.
* ``two-step`` chains a loss law and a sigmoid.

Parameters are handled in the reported parameterisation (E, A, alpha, ...);
the log-space parameterisation used by the optimiser stays internal.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.optimize
import scipy.special

from assay.errors import ConfigError, DataError

HUBER_DELTA = 1e-3

# Kaplan et al. (2020), eq. 5.3 and Table 2: critical batch size B_crit(L) = B_* / L^(1/alpha_B),
# used to turn steps S at batch size B into the minimum number of steps S_min.
KAPLAN_B_STAR = 2.0e8
KAPLAN_ALPHA_B = 0.21


@dataclass
class Solution:
    """One optimisation outcome, in the reported parameterisation."""

    params: np.ndarray
    objective: float
    converged: bool
    starts: int
    local_runs: int = 1
    message: str = ""
    parts: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Law:
    name: str
    param_names: tuple[str, ...]
    n_x: tuple[int, ...]  # allowed numbers of x columns
    n_y: int
    symbols: tuple[str, ...]  # canonical names of the x inputs, usable in predict(at=...)
    formula: str
    objective: str
    fit: Callable[..., Solution]  # (x, y, options, warm) -> Solution
    predict: Callable[..., np.ndarray]  # (params (B, p), x (k, m), options) -> (B, m)
    check_y: Callable[[np.ndarray, list[str], str], None]


# --------------------------------------------------------------------------------------------
# Sums of power laws on log y: log y = logsumexp(e, a_1 - alpha_1 log x_1, ..., a_k - alpha_k log x_k)


def huber_log_objective(theta: np.ndarray, log_x: np.ndarray, log_y: np.ndarray, has_e: bool, delta: float):
    """Summed Huber loss of log-space residuals and its gradient, for many parameter vectors.

    ``theta`` is (S, p) with columns [e?, a_1..a_k, alpha_1..alpha_k]; returns (S,) and (S, p).
    """
    k = log_x.shape[0]
    offset = int(has_e)
    a = theta[:, offset : offset + k]
    alpha = theta[:, offset + k : offset + 2 * k]
    terms = a[:, :, None] - alpha[:, :, None] * log_x[None, :, :]
    if has_e:
        e = np.broadcast_to(theta[:, :1, None], (theta.shape[0], 1, log_x.shape[1]))
        terms = np.concatenate([e, terms], axis=1)
    top = terms.max(axis=1, keepdims=True)
    weights = np.exp(terms - top)
    total = weights.sum(axis=1, keepdims=True)
    weights /= total
    residual = (top + np.log(total))[:, 0, :] - log_y
    size = np.abs(residual)
    loss = np.where(size <= delta, 0.5 * residual**2, delta * (size - 0.5 * delta)).sum(axis=1)
    slope = np.clip(residual, -delta, delta)[:, None, :] * weights  # dloss/dterm
    grad_terms = slope.sum(axis=2)  # d/de and d/da_i
    grad_alpha = -(slope[:, offset:, :] * log_x[None]).sum(axis=2)
    return loss, np.concatenate([grad_terms, grad_alpha], axis=1)


def _power_sum_grid(log_x: np.ndarray, log_y: np.ndarray, has_e: bool) -> np.ndarray:
    """Initial values: the Hoffmann et al. grid plus a grid scaled to the data."""
    k = log_x.shape[0]
    grids = []
    # Hoffmann et al. (2022) / Besiroglu et al. (2024): e in {-1..1}, a, b in {0..25}, exponents in {0..2}.
    e_values = np.arange(-1.0, 1.01, 0.5) if has_e else [None]
    a_values = np.arange(0.0, 25.01, 5.0)
    alpha_values = np.arange(0.0, 2.01, 0.5)
    for e in e_values:
        for combo in itertools.product(*([a_values] * k), *([alpha_values] * k)):
            grids.append(([e] if has_e else []) + list(combo))
    # Data-scaled starts: each term starts between e^-4 and 1 times max y at the median x.
    top = log_y.max()
    centre = np.median(log_x, axis=1)
    e_values = (log_y.min() + np.array([-1.5, -0.5, -0.1])) if has_e else [None]
    alpha_values = np.array([0.1, 0.3, 0.6, 1.0])
    offsets = np.array([-4.0, -2.0, 0.0])
    for e in e_values:
        for alphas in itertools.product(*([alpha_values] * k)):
            for offs in itertools.product(*([offsets] * k)):
                a = [alphas[i] * centre[i] + top + offs[i] for i in range(k)]
                grids.append(([e] if has_e else []) + a + list(alphas))
    return np.array(grids, dtype=float)


def _residual_and_jacobian(theta: np.ndarray, log_x: np.ndarray, log_y: np.ndarray, has_e: bool):
    """Log-space residuals (n,) and their Jacobian (n, p) at one parameter vector."""
    k, offset = log_x.shape[0], int(has_e)
    terms = np.empty((k + offset, log_x.shape[1]))
    if has_e:
        terms[0] = theta[0]
    terms[offset:] = theta[offset : offset + k, None] - theta[offset + k :, None] * log_x
    top = terms.max(axis=0)
    weights = np.exp(terms - top)
    total = weights.sum(axis=0)
    weights /= total
    residual = top + np.log(total) - log_y
    jacobian = np.concatenate([weights, -weights[offset:] * log_x]).T
    return residual, jacobian


def _huber(residual: np.ndarray, delta: float) -> float:
    size = np.abs(residual)
    return float(np.where(size <= delta, 0.5 * residual**2, delta * (size - 0.5 * delta)).sum())


def _fit_power_sum(
    log_x: np.ndarray,
    log_y: np.ndarray,
    has_e: bool,
    warm: np.ndarray | None,
    delta: float = HUBER_DELTA,
    local_runs: int = 6,
) -> tuple[np.ndarray, float, bool, int, int, str]:
    """Screen the start grid in one vectorised pass, then refine the best few starts locally."""

    def value_and_gradient(theta):
        residual, jacobian = _residual_and_jacobian(theta, log_x, log_y, has_e)
        return _huber(residual, delta), jacobian.T @ np.clip(residual, -delta, delta)

    def residual(theta):
        return _residual_and_jacobian(theta, log_x, log_y, has_e)[0]

    def jacobian(theta):
        return _residual_and_jacobian(theta, log_x, log_y, has_e)[1]

    def trust_region(start, tol):
        # scipy's "huber" robust loss with f_scale=delta is exactly this Huber objective. Its
        # trust-region steps use the Jacobian's curvature, which L-BFGS has to learn, and settle
        # the flat, nearly-L1 optimum in a few dozen evaluations; L-BFGS-B also stalls on BLAS
        # thread hand-offs when the machine is busy (measured: 10 ms per iteration).
        return scipy.optimize.least_squares(
            residual,
            start,
            jac=jacobian,
            loss="huber",
            f_scale=delta,
            method="trf",
            x_scale="jac",
            xtol=tol,
            ftol=tol,
            gtol=tol,
            max_nfev=2000,
        )

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if warm is not None:
            # Bootstrap refits start next to their optimum; 1e-10 leaves the objective unchanged
            # to about ten digits at a third fewer evaluations.
            result = trust_region(warm, 1e-10)
            best_x, screened, runs, message = result.x, 1, 1, str(result.message)
        else:
            grid = _power_sum_grid(log_x, log_y, has_e)
            screened = len(grid)
            losses = np.concatenate(
                [
                    huber_log_objective(chunk, log_x, log_y, has_e, delta)[0]
                    for chunk in np.array_split(grid, max(1, len(grid) // 1000))
                ]
            )
            losses = np.where(np.isfinite(losses), losses, np.inf)
            candidates = grid[np.argsort(losses, kind="stable")[:local_runs]]
            results = [trust_region(start, 1e-14) for start in candidates]
            best = min(results, key=lambda r: _huber(r.fun, delta))
            best_x, runs, message = best.x, len(candidates), str(best.message)
        objective, gradient = value_and_gradient(best_x)
    # Judge convergence by the gradient relative to its scale (delta per point times |log x|).
    scale = delta * len(log_y) * max(1.0, float(np.abs(log_x).max()))
    converged = bool(
        np.all(np.isfinite(best_x)) and np.isfinite(objective) and np.max(np.abs(gradient)) <= 1e-6 * scale
    )
    return best_x, float(objective), converged, screened, runs, message


def _make_power_sum_law(name: str, kind: str) -> Law:
    if kind == "power":
        param_names, n_x, has_e, symbols = ("E", "A", "alpha"), (1,), True, ("x",)
        formula = "y = E + A * x^(-alpha)"
    elif kind == "chinchilla":
        param_names, n_x, has_e, symbols = ("E", "A", "B", "alpha", "beta"), (2,), True, ("N", "D")
        formula = "L = E + A / N^alpha + B / D^beta"
    else:
        param_names, n_x, has_e, symbols = ("N_c", "alpha_N", "S_c", "alpha_S"), (2, 3), False, ("N", "S", "B")
        formula = (
            "L = (N_c / N)^alpha_N + (S_c / S_min)^alpha_S, S_min = S / (1 + B_crit(L) / B), "
            f"B_crit(L) = {KAPLAN_B_STAR:g} / L^(1/{KAPLAN_ALPHA_B}) (S_min = S without a batch column)"
        )

    def to_internal(params: np.ndarray) -> np.ndarray:
        if kind == "kaplan":
            n_c, alpha_n, s_c, alpha_s = params
            return np.array([alpha_n * np.log(n_c), alpha_s * np.log(s_c), alpha_n, alpha_s])
        return np.concatenate([np.log(params[: len(params) // 2 + 1]), params[len(params) // 2 + 1 :]])

    def to_reported(theta: np.ndarray) -> np.ndarray:
        if kind == "kaplan":
            a, b, alpha_n, alpha_s = theta
            with np.errstate(over="ignore", divide="ignore"):
                return np.array([np.exp(a / alpha_n), alpha_n, np.exp(b / alpha_s), alpha_s])
        half = len(theta) // 2 + 1
        return np.concatenate([np.exp(theta[:half]), theta[half:]])

    def min_steps(x: np.ndarray, loss: np.ndarray) -> np.ndarray:
        steps, batch = x[1], x[2]
        return steps / (1.0 + KAPLAN_B_STAR * loss ** (-1.0 / KAPLAN_ALPHA_B) / batch)

    def fit(x, y, options, warm=None) -> Solution:
        log_x = np.log(x)
        if kind == "kaplan" and x.shape[0] == 3:
            log_x = np.vstack([log_x[0], np.log(min_steps(x, y[0]))])
        theta, objective, converged, screened, runs, message = _fit_power_sum(
            log_x,
            np.log(y[0]),
            has_e,
            None if warm is None else to_internal(warm),
            delta=options.get("delta", HUBER_DELTA),
        )
        return Solution(to_reported(theta), objective, converged, screened, runs, message)

    def predict(params, x, options):
        params = np.atleast_2d(params)
        x = np.asarray(x, dtype=float)
        if kind == "power":
            return params[:, :1] + params[:, 1:2] * x[0][None, :] ** (-params[:, 2:3])
        if kind == "chinchilla":
            e, a, b, alpha, beta = (params[:, i : i + 1] for i in range(5))
            return e + a * x[0][None, :] ** (-alpha) + b * x[1][None, :] ** (-beta)
        n_c, alpha_n, s_c, alpha_s = (params[:, i : i + 1] for i in range(4))
        size_term = (n_c / x[0][None, :]) ** alpha_n
        loss = size_term + (s_c / x[1][None, :]) ** alpha_s
        if x.shape[0] == 3:
            # S_min depends on the loss itself: iterate to the fixed point.
            for _ in range(100):
                updated = size_term + (s_c / min_steps(x, loss)) ** alpha_s
                if np.allclose(updated, loss, rtol=1e-12, atol=0):
                    break
                loss = updated
        return loss

    def check_y(y, names, source):
        if np.any(y[0] <= 0):
            raise DataError(
                f"{source}: column {names[0]!r} must be positive for the {name} law (it is fitted on log y); "
                f"minimum is {y[0].min():g}"
            )

    return Law(
        name,
        param_names,
        n_x,
        1,
        symbols,
        formula,
        f"sum of Huber losses (delta {HUBER_DELTA:g}) of log-space residuals",
        fit,
        predict,
        check_y,
    )


# --------------------------------------------------------------------------------------------
# Sigmoid between a floor (chance) and a ceiling


def sigmoid_transform(values: np.ndarray, options: dict) -> np.ndarray:
    return np.log10(values) if options.get("x_transform") == "log10" else np.asarray(values, dtype=float)


def choose_transform(values: np.ndarray) -> str:
    """log10 for positive inputs spanning at least a factor 10 (sizes, perplexities); else linear (losses)."""
    values = np.asarray(values, dtype=float)
    if np.all(values > 0) and values.max() / values.min() >= 10:
        return "log10"
    return "linear"


def fit_sigmoid(t: np.ndarray, y: np.ndarray, floor: float | None, warm: np.ndarray | None):
    """Least-squares fit of floor + (ceiling - floor)·sigmoid(k·(t - x0)) to one curve, started from
    ``warm`` or from a screened grid; returns (params, objective, converged, starts screened, message).
    The compute curves start their pooled fit from it."""
    # Accuracies stay in [0, 1]; other scores are unbounded.
    low, high = (0.0, 1.0) if np.all((y >= 0) & (y <= 1)) else (-np.inf, np.inf)
    span = max(np.ptp(t), 1e-12)
    k_limit = 200.0 / span
    x0_low, x0_high = t.min() - 2 * span, t.max() + 2 * span
    if warm is not None:
        start = warm.copy()
        screened = 1
    else:
        x0_grid = np.linspace(t.min() - 0.5 * span, t.max() + 0.5 * span, 31)
        magnitudes = np.geomspace(0.5, 60.0, 10) / span
        k_grid = np.concatenate([magnitudes, -magnitudes])
        k, x0 = (g.ravel() for g in np.meshgrid(k_grid, x0_grid, indexing="ij"))
        s = scipy.special.expit(k[:, None] * (t[None, :] - x0[:, None]))
        # With k and x0 fixed the curve is linear in floor and ceiling: solve in closed form.
        if floor is None:
            s_mean, y_mean = s.mean(axis=1), y.mean()
            s_var = ((s - s_mean[:, None]) ** 2).sum(axis=1)
            gap = ((s - s_mean[:, None]) * (y - y_mean)).sum(axis=1) / np.maximum(s_var, 1e-300)
            floors = np.clip(y_mean - gap * s_mean, low, high)
        else:
            floors = np.full(len(k), floor)
            gap = ((y - floor)[None, :] * s).sum(axis=1) / np.maximum((s**2).sum(axis=1), 1e-300)
        ceilings = np.clip(floors + gap, low, high)
        rss = ((floors[:, None] + (ceilings - floors)[:, None] * s - y) ** 2).sum(axis=1)
        best = int(np.argmin(rss))
        start = np.array([floors[best], ceilings[best], k[best], x0[best]])
        screened = len(k)
    free = [0, 1, 2, 3] if floor is None else [1, 2, 3]
    fixed_floor = floor

    def unpack(z):
        params = start.copy()
        params[free] = z
        if fixed_floor is not None:
            params[0] = fixed_floor
        return params

    def residual(z):
        f, c, k, x0 = unpack(z)
        return f + (c - f) * scipy.special.expit(k * (t - x0)) - y

    def jacobian(z):
        f, c, k, x0 = unpack(z)
        s = scipy.special.expit(k * (t - x0))
        ds = s * (1 - s)
        columns = np.stack([1 - s, s, (c - f) * ds * (t - x0), -(c - f) * ds * k], axis=1)
        return columns[:, free]

    lower = np.array([low, low, -k_limit, x0_low])[free]
    upper = np.array([high, high, k_limit, x0_high])[free]
    # least_squares needs a strictly feasible start; nudge starts sitting on a finite bound.
    margin = np.where(np.isfinite(upper - lower), 1e-9 * (upper - lower), 0.0)
    z0 = np.clip(start[free], lower + margin, upper - margin)
    result = scipy.optimize.least_squares(
        residual, z0, jac=jacobian, bounds=(lower, upper), method="trf", xtol=1e-12, ftol=1e-12, gtol=1e-12
    )
    params = unpack(result.x)
    if floor is None and params[1] < params[0]:
        # floor + (c - f) s(k) equals c + (f - c) s(-k): keep ceiling >= floor.
        params = np.array([params[1], params[0], -params[2], params[3]])
    objective = float(np.sum(residual(result.x) ** 2))
    return params, objective, bool(result.status > 0), screened, str(result.message)


def _sigmoid_predict(params, t):
    params = np.atleast_2d(params)
    f, c, k, x0 = (params[:, i : i + 1] for i in range(4))
    return f + (c - f) * scipy.special.expit(k * (t[None, :] - x0))


def _make_sigmoid_law() -> Law:
    def fit(x, y, options, warm=None) -> Solution:
        t = sigmoid_transform(x[0], options)
        params, objective, converged, screened, message = fit_sigmoid(t, y[0], options.get("chance"), warm)
        return Solution(params, objective, converged, screened, 1, message)

    def predict(params, x, options):
        return _sigmoid_predict(params, sigmoid_transform(np.asarray(x, float)[0], options))

    def check_y(y, names, source):
        return None

    return Law(
        "sigmoid",
        ("floor", "ceiling", "k", "x0"),
        (1,),
        1,
        ("x",),
        "y = floor + (ceiling - floor) * sigmoid(k * (t - x0)), t = log10(x) or x; floor = chance when given",
        "sum of squared residuals",
        fit,
        predict,
        check_y,
    )


# --------------------------------------------------------------------------------------------
# PassUntil task law (Hu et al. 2024): log(-log PU) = log C - alpha log N


def _make_task_law() -> Law:
    def fit(x, y, options, warm=None) -> Solution:
        log_n = np.log(x[0])
        transformed = np.log(-np.log(y[0]))
        slope, intercept = np.polyfit(log_n, transformed, 1)
        residual = intercept + slope * log_n - transformed
        return Solution(np.array([np.exp(intercept), -slope]), float(np.sum(residual**2)), True, 1, 1, "least squares")

    def predict(params, x, options):
        params = np.atleast_2d(params)
        return np.exp(-params[:, :1] * np.asarray(x, float)[0][None, :] ** (-params[:, 1:2]))

    def check_y(y, names, source):
        bad = (y[0] <= 0) | (y[0] >= 1)
        if bad.any():
            raise DataError(
                f"{source}: column {names[0]!r} must be a PassUntil probability strictly between 0 and 1 "
                f"for the task law; found {y[0][bad][0]:g}"
            )

    return Law(
        "task",
        ("C", "alpha"),
        (1,),
        1,
        ("N",),
        "PU = exp(-C * N^(-alpha)), i.e. log(-log PU) = log C - alpha log N",
        "sum of squared residuals of log(-log PU)",
        fit,
        predict,
        check_y,
    )


# --------------------------------------------------------------------------------------------
# Two-step: (N[, D]) -> loss -> accuracy


def _make_two_step_law() -> Law:
    def parts(n_x: int) -> Law:
        return POWER if n_x == 1 else CHINCHILLA

    def fit(x, y, options, warm=None) -> Solution:
        first = parts(x.shape[0])
        p = len(first.param_names)
        loss = first.fit(x, y[:1], options, None if warm is None else warm[:p])
        accuracy = SIGMOID.fit(y[:1], y[1:], options, None if warm is None else warm[p:])
        return Solution(
            np.concatenate([loss.params, accuracy.params]),
            accuracy.objective,
            loss.converged and accuracy.converged,
            loss.starts + accuracy.starts,
            loss.local_runs + accuracy.local_runs,
            f"loss: {loss.message}; accuracy: {accuracy.message}",
            {"loss": loss.objective, "accuracy": accuracy.objective},
        )

    def predict(params, x, options):
        params = np.atleast_2d(params)
        first = parts(np.asarray(x).shape[0])
        p = len(first.param_names)
        loss = first.predict(params[:, :p], x, options)  # (B, m)
        t = sigmoid_transform(loss, options)
        f, c, k, x0 = (params[:, p + i : p + i + 1] for i in range(4))
        return f + (c - f) * scipy.special.expit(k * (t - x0))

    def check_y(y, names, source):
        POWER.check_y(y[:1], names[:1], source)

    return Law(
        "two-step",
        ("E", "A", "alpha", "floor", "ceiling", "k", "x0"),
        (1, 2),
        2,
        ("N", "D"),
        "loss = E + A/N^alpha [+ B/D^beta]; accuracy = floor + (ceiling - floor) * sigmoid(k * (t(loss) - x0))",
        "step 1: Huber on log loss; step 2: squared accuracy residuals (objective reported is step 2)",
        fit,
        predict,
        check_y,
    )


POWER = _make_power_sum_law("power", "power")
CHINCHILLA = _make_power_sum_law("chinchilla", "chinchilla")
KAPLAN = _make_power_sum_law("kaplan", "kaplan")
SIGMOID = _make_sigmoid_law()
TASK = _make_task_law()
TWO_STEP = _make_two_step_law()

LAWS: dict[str, Law] = {law.name: law for law in (POWER, CHINCHILLA, KAPLAN, SIGMOID, TWO_STEP, TASK)}


def get_law(name: str) -> Law:
    try:
        return LAWS[name]
    except KeyError:
        raise ConfigError(f"unknown law {name!r}; choose one of {', '.join(LAWS)}") from None


def param_names(law: Law, n_x: int) -> tuple[str, ...]:
    """Parameter names, which for two-step depend on whether D is given."""
    if law.name == "two-step" and n_x == 2:
        return CHINCHILLA.param_names + SIGMOID.param_names
    return law.param_names
