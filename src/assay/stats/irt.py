"""Item response theory: which items tell models apart, and a full-benchmark score from a few of them.

A two-parameter logistic (2PL) model says model ``i`` answers item ``j`` right
with probability ``sigmoid(theta_i . a_j + c_j)``: ``theta_i`` is the model's
ability, ``a_j`` the item's discrimination (how sharply it separates weaker
from stronger models), ``c_j`` its easiness (difficulty ``b_j = -c_j / a_j`` in
one dimension). Scores in [0, 1] that are not 0/1 enter as fractional
responses (the same Bernoulli log-likelihood with a fractional outcome).

Fit: a regularised joint maximum a posteriori fit of abilities and item
parameters (L-BFGS with the exact gradient), with independent normal priors
``theta ~ N(0, 1)``, ``a ~ N(0, PRIOR_SLOPE_SD^2)``, ``c ~ N(0, PRIOR_EASE_SD^2)``;
afterwards the abilities are re-expressed to mean 0 and unit variance (the
item parameters follow, predictions do not change), so that ``N(0, 1)`` is
the fitted models' spread and the prior of a new model's ability.
Benchmarks have few models and many items, so each item's parameters rest on
as many responses as there are models: the priors keep items that every model
got right (or wrong) from running off to infinity. Missing cells are skipped.

Estimate (the p-IRT idea of tinyBenchmarks, Polo et al. 2024): for a model
scored on some of the items, its ability is fitted with the item parameters
held fixed; its full-benchmark mean is the mean of the observed scores and,
for the unobserved items, the predicted probabilities. The variance of that
estimate adds (1) the unobserved items' own randomness around their predicted
probability, scaled by the over-dispersion seen on the observed items (which
absorbs misfit of the model), (2) the ability's uncertainty (Laplace
approximation), and (3) the item parameters' uncertainty (each item's Laplace
covariance from the fit). It does not include error in the abilities of the
models the items were fitted on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from assay.errors import ConfigError, DataError
from assay.jsonable import jsonable
from assay.stats._inputs import check_confidence, warn
from assay.stats.bootstrap import Interval, resample_clusters

PRIOR_SLOPE_SD = 2.0
PRIOR_EASE_SD = 3.0
FORMAT = "assay-irt-2pl"
SELECT_METHODS = ("cluster", "random")


# ---- the score matrix ----------------------------------------------------------------------------------


def score_matrix(sources, *, metric: str | None = None) -> pd.DataFrame:
    """A models x items frame of mean scores in [0, 1] (NaN where a model has no score for an item).

    ``sources``: score files, DataFrames with ``model, item, score`` or ``ScoreSource``s
    (as ``compare`` reads them; ``assay.api.score_matrix`` takes run directories too);
    several samples of an item are averaged.
    """
    from assay.stats.scores import load_sources

    scores, origin = load_sources(sources, metric, [])
    outside = scores[(scores["score"] < 0) | (scores["score"] > 1)]
    if not outside.empty:
        row = outside.iloc[0]
        label = origin[row["model"]]
        in_source = int((outside["model"].map(origin) == label).sum())
        raise DataError(
            f"{label} {row['_where']}: score {row['score']:g} (model {row['model']!r}, item {row['item']!r}) is "
            f"outside [0, 1]; item response models need scores in [0, 1] ({in_source} row(s) outside)"
        )
    return scores.groupby(["model", "item"], sort=False)["score"].mean().unstack("item")


# ---- fitting -------------------------------------------------------------------------------------------


def _unpack(params: np.ndarray, n_models: int, n_items: int, dims: int):
    theta = params[: n_models * dims].reshape(n_models, dims)
    rest = params[n_models * dims :]
    slopes = rest[: n_items * dims].reshape(n_items, dims)
    ease = rest[n_items * dims :]
    return theta, slopes, ease


def _objective(params, y, mask, dims):
    """Negative log posterior and its gradient (missing cells carry mask 0)."""
    n_models, n_items = y.shape
    theta, slopes, ease = _unpack(params, n_models, n_items, dims)
    logits = theta @ slopes.T + ease
    # log(1 + exp(z)) - y z is the Bernoulli negative log-likelihood at a fractional y too
    nll = np.sum(mask * (np.logaddexp(0.0, logits) - y * logits))
    penalty = 0.5 * (np.sum(theta**2) + np.sum(slopes**2) / PRIOR_SLOPE_SD**2 + np.sum(ease**2) / PRIOR_EASE_SD**2)
    resid = mask * (special.expit(logits) - y)
    g_theta = resid @ slopes + theta
    g_slopes = resid.T @ theta + slopes / PRIOR_SLOPE_SD**2
    g_ease = resid.sum(axis=0) + ease / PRIOR_EASE_SD**2
    return nll + penalty, np.concatenate([g_theta.ravel(), g_slopes.ravel(), g_ease])


@dataclass
class IrtFit:
    """A fitted 2PL model: item parameters (what later estimates use) and the abilities of the fitted models."""

    items: list[str]
    slopes: np.ndarray  # items x dims
    ease: np.ndarray  # items
    item_cov: np.ndarray  # items x (dims + 1) x (dims + 1): Laplace covariance of (slopes, ease)
    models: list[str]
    abilities: np.ndarray  # models x dims
    model_means: np.ndarray  # each fitted model's observed mean score
    converged: bool
    log_posterior: float
    n_observed: int
    method: str = "joint-map"
    warnings: list[str] = field(default_factory=list)
    boot_slopes: np.ndarray | None = None  # refits x items x dims (``bootstrap``)
    boot_ease: np.ndarray | None = None  # refits x items
    boot_picks: list[np.ndarray] | None = None  # per refit: which fitted models (rows) it drew
    train_scores: np.ndarray | None = None  # models x items as fitted (NaN: not scored)

    @property
    def n_bootstrap(self) -> int:
        return 0 if self.boot_ease is None else len(self.boot_ease)

    @property
    def dims(self) -> int:
        return self.slopes.shape[1]

    @property
    def difficulty(self) -> np.ndarray | None:
        """-c / a in one dimension (the ability at which the item is answered right half the time)."""
        if self.dims != 1:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            return -self.ease / self.slopes[:, 0]

    def to_dict(self) -> dict:
        difficulty = self.difficulty
        return jsonable(
            {
                "format": FORMAT,
                "method": self.method,
                "dims": self.dims,
                "prior": {"ability_sd": 1.0, "slope_sd": PRIOR_SLOPE_SD, "ease_sd": PRIOR_EASE_SD},
                "converged": self.converged,
                "log_posterior": self.log_posterior,
                "n_models": len(self.models),
                "n_items": len(self.items),
                "n_observed": self.n_observed,
                "models": {
                    name: {"ability": self.abilities[i].tolist(), "mean": self.model_means[i]}
                    for i, name in enumerate(self.models)
                },
                "items": [
                    {
                        "id": item,
                        "slopes": self.slopes[j].tolist(),
                        "ease": self.ease[j],
                        "difficulty": None if difficulty is None else difficulty[j],
                        "cov": self.item_cov[j].tolist(),
                    }
                    for j, item in enumerate(self.items)
                ],
                "bootstrap": {
                    "n": self.n_bootstrap,
                    "slopes": np.round(self.boot_slopes, 5).tolist() if self.n_bootstrap else [],
                    "ease": np.round(self.boot_ease, 5).tolist() if self.n_bootstrap else [],
                    "picks": [p.tolist() for p in self.boot_picks] if self.n_bootstrap else [],
                },
                "train_scores": None if self.train_scores is None else np.round(self.train_scores, 4).tolist(),
                "warnings": list(self.warnings),
            }
        )

    @classmethod
    def from_dict(cls, data: dict) -> IrtFit:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f'not an IRT fit (expected "format": "{FORMAT}", as written by `assay irt fit -o`)')
        try:
            items = data["items"]
            models = data["models"]
            boot = data.get("bootstrap") or {"n": 0}
            n_boot = int(boot["n"])
            dims = int(data["dims"])
            return cls(
                items=[str(it["id"]) for it in items],
                slopes=np.array([it["slopes"] for it in items], dtype=float).reshape(len(items), dims),
                ease=np.array([it["ease"] for it in items], dtype=float),
                item_cov=np.array([it["cov"] for it in items], dtype=float),
                models=list(models),
                abilities=np.array([m["ability"] for m in models.values()], dtype=float),
                model_means=np.array([m["mean"] for m in models.values()], dtype=float),
                converged=bool(data["converged"]),
                log_posterior=float(data["log_posterior"]),
                n_observed=int(data["n_observed"]),
                method=str(data.get("method", "joint-map")),
                warnings=list(data.get("warnings", [])),
                boot_slopes=np.array(boot["slopes"], dtype=float).reshape(n_boot, len(items), dims) if n_boot else None,
                boot_ease=np.array(boot["ease"], dtype=float).reshape(n_boot, len(items)) if n_boot else None,
                boot_picks=[np.array(p, dtype=int) for p in boot["picks"]] if n_boot else None,
                train_scores=(
                    None
                    if data.get("train_scores") is None
                    else np.array(data["train_scores"], dtype=float).reshape(len(models), len(items))
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"malformed IRT fit ({type(exc).__name__}: {exc}); write it again with `assay irt fit`"
            ) from None

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"{path} is a directory; give a file name for the fit, e.g. {path / 'irt.json'}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.to_dict()))
        except OSError as exc:
            raise ConfigError(f"cannot write the fit to {path}: {exc.strerror or exc}") from exc
        return path

    def render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        head = Text(
            f"2PL IRT ({self.method}, {self.dims} dimension(s)) on {len(self.models)} models x "
            f"{len(self.items)} items ({self.n_observed} scores); "
            f"{'converged' if self.converged else 'NOT converged'}"
        )
        table = Table(title="Models by ability")
        for column in ("model", "ability", "mean score"):
            table.add_column(column, justify="left" if column == "model" else "right")
        order = np.argsort(-self.abilities[:, 0])
        for i in order:
            table.add_row(
                self.models[i], ", ".join(f"{v:+.2f}" for v in self.abilities[i]), f"{self.model_means[i]:.4f}"
            )
        strength = np.linalg.norm(self.slopes, axis=1)
        summary = Text(
            f"discrimination |a|: median {np.median(strength):.2f}, "
            f"10% {np.quantile(strength, 0.1):.2f}, 90% {np.quantile(strength, 0.9):.2f}",
            style="dim",
        )
        parts = [head, table, summary] + [Text(f"warning: {w}", style="yellow") for w in self.warnings]
        return Group(*parts)


@dataclass
class SavedFit:
    """What ``assay irt fit`` prints: the fit's summary and where the full fit (item parameters, refits) went."""

    fit: IrtFit
    path: Path

    def to_dict(self) -> dict:
        f = self.fit
        return jsonable(
            {
                "path": str(self.path),
                "method": f.method,
                "dims": f.dims,
                "converged": f.converged,
                "n_models": len(f.models),
                "n_items": len(f.items),
                "n_observed": f.n_observed,
                "n_bootstrap": f.n_bootstrap,
                "models": {
                    name: {"ability": f.abilities[i].tolist(), "mean": f.model_means[i]}
                    for i, name in enumerate(f.models)
                },
                "warnings": list(f.warnings),
            }
        )

    def render(self):
        return self.fit.render()


def fit_irt(
    matrix: pd.DataFrame, *, dims: int = 1, bootstrap: int = 0, groups=None, seed: int = 0, max_iter: int = 5000
) -> IrtFit:
    """Fit a 2PL model to a models x items frame of scores in [0, 1] (NaN: not scored).

    ``dims`` > 1 fits a multidimensional model (abilities and discriminations are
    vectors; their rotation is arbitrary, predictions are not). ``bootstrap``
    refits on models resampled with replacement and keeps each refit's item
    parameters, so that estimates can include the error of item parameters
    learnt from few models (seeded by ``seed``). ``groups`` (one label per
    model, e.g. the model of each checkpoint) makes the refits resample whole
    groups, for models that are not independent of each other.
    """
    if isinstance(dims, bool) or not isinstance(dims, (int, np.integer)) or dims < 1:
        raise ConfigError(f"--dims {dims!r}: give a whole number of dimensions, 1 or more")
    if matrix.shape[0] < 2 or matrix.shape[1] < 2:
        raise DataError(
            f"{matrix.shape[0]} model(s) and {matrix.shape[1]} item(s); an item response model needs at "
            "least two models scored on at least two items"
        )
    y_raw = matrix.to_numpy(dtype=float)
    mask = np.isfinite(y_raw).astype(float)
    y = np.where(mask > 0, y_raw, 0.0)
    if np.any((y < 0) | (y > 1)):
        raise DataError("scores must lie in [0, 1] for an item response model")
    notes: list[str] = []
    empty_models = [str(m) for m, k in zip(matrix.index, mask.sum(axis=1)) if k == 0]
    if empty_models:
        raise DataError(f"model(s) {', '.join(empty_models)} have no scored items")
    n_models, n_items = y.shape
    if dims >= n_models:
        raise ConfigError(f"--dims {dims} with {n_models} models; use fewer dimensions than models")
    thin = int((mask.sum(axis=0) < 2).sum())
    if thin:
        warn(f"{thin} item(s) scored for fewer than two models: their parameters rest on the prior", notes)
    # Start from the data: abilities from the models' mean scores (plus small seeded noise for extra
    # dimensions), easiness from the items' mean scores, equal modest discriminations.
    rng = np.random.default_rng(seed)
    model_means = (y * mask).sum(axis=1) / mask.sum(axis=1)
    item_means = np.where(mask.sum(axis=0) > 0, (y * mask).sum(axis=0) / np.maximum(mask.sum(axis=0), 1), 0.5)
    z = special.logit(np.clip(model_means, 0.02, 0.98))
    z = (z - z.mean()) / (z.std() if z.std() > 0 else 1.0)
    theta0 = np.column_stack([z] + [rng.normal(0, 0.1, n_models) for _ in range(dims - 1)])
    slopes0 = np.column_stack([np.full(n_items, 1.0)] + [rng.normal(0, 0.1, n_items) for _ in range(dims - 1)])
    ease0 = special.logit(np.clip(item_means, 0.02, 0.98))
    start = np.concatenate([theta0.ravel(), slopes0.ravel(), ease0])
    theta, slopes, ease, converged, message, log_post, raw = _fit_params(y, mask, dims, start, max_iter)
    if dims == 1 and np.corrcoef(theta[:, 0], model_means)[0, 1] < 0:
        theta, slopes = -theta, -slopes  # the same likelihood; make higher ability mean a higher score
    if not converged:
        warn(f"the optimiser stopped before converging ({message}); treat the parameters with care", notes)
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise ConfigError(f"--bootstrap {bootstrap!r}: give a number of refits, 0 or more")
    boot_slopes = np.empty((bootstrap, n_items, dims))
    boot_ease = np.empty((bootstrap, n_items))
    if groups is None:
        codes = np.arange(n_models)
    else:
        labels = pd.Series(list(groups), dtype=object)
        if len(labels) != n_models:
            raise ConfigError(f"{len(labels)} group labels for {n_models} models; give one per model")
        codes = pd.factorize(labels, use_na_sentinel=False)[0]
        if bootstrap and codes.max() < 1:
            raise ConfigError("every model is in one group; the refits need at least two groups to resample")
    # Resample whole groups (each model its own group unless told otherwise): checkpoints of one model are
    # not independent, and resampling them one by one would understate the item parameters' error.
    boot_picks = [resample_clusters(codes, rng)[0] for _ in range(bootstrap)]
    for b, pick in enumerate(boot_picks):
        # Refit on models drawn with replacement, from the full fit's values: the spread of the item
        # parameters over refits is their error from having few models, including the models' own.
        warm = np.concatenate([raw[0][pick].ravel(), raw[1].ravel(), raw[2]])  # the optimiser's own scale
        _, boot_slopes[b], boot_ease[b], *_ = _fit_params(y[pick], mask[pick], dims, warm, max_iter)
        if dims == 1:
            flip = np.sign(np.sum(boot_slopes[b, :, 0] * slopes[:, 0])) or 1.0
            boot_slopes[b] *= flip
    return IrtFit(
        items=[str(c) for c in matrix.columns],
        slopes=slopes,
        ease=ease,
        item_cov=_item_covariances(theta, slopes, ease, mask),
        models=[str(m) for m in matrix.index],
        abilities=theta,
        model_means=model_means,
        converged=converged,
        log_posterior=log_post,
        n_observed=int(mask.sum()),
        warnings=notes,
        boot_slopes=boot_slopes,
        boot_ease=boot_ease,
        boot_picks=boot_picks,
        train_scores=y_raw,
    )


def _fit_params(y, mask, dims, start, max_iter):
    """One joint MAP fit from ``start``, standardised; returns abilities, slopes, ease and the optimiser's state."""
    n_models, n_items = y.shape
    res = optimize.minimize(
        _objective,
        start,
        args=(y, mask, dims),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "maxfun": max_iter * 2},
    )
    raw = _unpack(res.x, n_models, n_items, dims)
    theta, slopes, ease = _standardise(*raw)
    return theta, slopes, ease, bool(res.success), str(res.message), float(-res.fun), raw


def _standardise(theta, slopes, ease):
    """Re-express the fit so the fitted abilities have mean 0 and identity covariance (the same predictions).

    The priors leave the scale of the abilities loose (the fit trades it against the
    discriminations); on this scale ``N(0, I)`` is the fitted models' own spread,
    which is the prior an estimate for a new model from the same population needs.
    """
    centre = theta.mean(axis=0)
    cov = np.atleast_2d(np.cov(theta, rowvar=False)) if len(theta) > 2 else np.eye(theta.shape[1])
    try:
        root = np.linalg.cholesky(cov + 1e-9 * np.eye(len(cov)))
    except np.linalg.LinAlgError:
        return theta, slopes, ease
    theta_new = np.linalg.solve(root, (theta - centre).T).T
    return theta_new, slopes @ root, ease + slopes @ centre


def _item_covariances(theta, slopes, ease, mask) -> np.ndarray:
    """Each item's Laplace covariance of (slopes, ease) given the abilities: inverse of the posterior Hessian."""
    n_items, dims = slopes.shape
    design = np.column_stack([theta, np.ones(len(theta))])  # models x (dims + 1)
    p = special.expit(theta @ slopes.T + ease)
    weights = mask * p * (1 - p)  # models x items
    hessians = np.einsum("mi,mk,ml->ikl", weights, design, design)
    prior = np.diag(np.r_[np.full(dims, 1 / PRIOR_SLOPE_SD**2), 1 / PRIOR_EASE_SD**2])
    return np.linalg.inv(hessians + prior)


def load_irt(path: str | Path) -> IrtFit:
    """Read a fit written by ``IrtFit.save`` (``assay irt fit -o``)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such IRT fit file")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not JSON ({exc})") from None
    try:
        return IrtFit.from_dict(data)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None


def model_groups(names, pattern: str) -> list[str]:
    """Group label of each model name: the first match of the regular expression ``pattern`` (its first
    group when it has one); a name it does not match is a group of its own."""
    import re

    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"--group {pattern!r} is not a regular expression ({exc}); e.g. '^[^@]+'") from None
    labels = []
    for name in names:
        found = compiled.search(name)
        labels.append(name if found is None else (found.group(1) if compiled.groups else found.group(0)))
    return labels


def irt_fit(
    sources,
    out,
    *,
    dims: int = 1,
    bootstrap: int = 20,
    group: str | None = None,
    metric: str | None = None,
    seed: int = 0,
) -> SavedFit:
    """``assay irt fit``: the score matrix of the sources, fitted and saved to ``out``."""
    matrix = score_matrix(sources, metric=metric)
    groups = None if group is None else model_groups([str(m) for m in matrix.index], group)
    fit = fit_irt(matrix, dims=dims, bootstrap=bootstrap, groups=groups, seed=seed)
    return SavedFit(fit, fit.save(out))


# ---- choosing items ------------------------------------------------------------------------------------


@dataclass
class ItemSelection:
    """K items chosen to stand for the whole benchmark."""

    items: list[str]
    method: str
    seed: int
    n_available: int

    def to_dict(self) -> dict:
        return {"items": list(self.items), "method": self.method, "seed": self.seed, "n_available": self.n_available}

    def render(self) -> str:
        shown = ", ".join(self.items[:20]) + (" ..." if len(self.items) > 20 else "")
        return f"{len(self.items)} of {self.n_available} items ({self.method}, seed {self.seed}): {shown}"


def select_items(fit: IrtFit, k: int, *, method: str = "cluster", seed: int = 0) -> ItemSelection:
    """Choose ``k`` items of a fit.

    * ``cluster`` (the default; tinyBenchmarks' anchor points on IRT parameters):
      k-means on the items' standardised (discrimination, easiness), and from each
      cluster the item nearest its centre: the chosen items spread over the kinds
      of item the benchmark has, in proportion.
    * ``random``: a seeded uniform sample (the baseline to beat).
    """
    if method not in SELECT_METHODS:
        raise ConfigError(f"selection method {method!r} is not known; choose one of {', '.join(SELECT_METHODS)}")
    n = len(fit.items)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ConfigError(f"--items {k!r}: give a number of items from 1 to {n} (the fit has {n})")
    rng = np.random.default_rng(seed)
    if method == "random" or k == n:
        chosen = np.sort(rng.choice(n, size=k, replace=False))
    else:
        chosen = _by_clusters(fit, k, rng)
    return ItemSelection([fit.items[j] for j in chosen], method, seed, n)


def _by_clusters(fit: IrtFit, k: int, rng: np.random.Generator) -> np.ndarray:
    from scipy.cluster.vq import kmeans2

    features = np.column_stack([fit.slopes, fit.ease])
    spread = features.std(axis=0)
    features = (features - features.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    best, best_inertia = None, np.inf
    for _ in range(5):  # k-means depends on its start: keep the tightest of a few seeded starts
        centres, labels = kmeans2(features, k, minit="++", seed=rng)
        inertia = np.sum((features - centres[labels]) ** 2)
        if inertia < best_inertia:
            best, best_inertia = (centres, labels), inertia
    centres, labels = best
    chosen: list[int] = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if len(members) == 0:
            continue
        chosen.append(int(members[np.argmin(np.sum((features[members] - centres[c]) ** 2, axis=1))]))
    # empty clusters leave places: fill them with the items farthest from those already chosen
    while len(chosen) < k:
        left = np.setdiff1d(np.arange(len(features)), chosen)
        dist = np.min(np.sum((features[left, None, :] - features[None, chosen, :]) ** 2, axis=2), axis=1)
        chosen.append(int(left[np.argmax(dist)]))
    return np.sort(np.array(chosen))


# ---- estimating a full-benchmark score -----------------------------------------------------------------


@dataclass
class ScoreEstimate:
    """A model's estimated mean over every item of the fit, from the items it was scored on."""

    estimate: float
    ci_low: float
    ci_high: float
    se: float
    n_items_seen: int
    n_items: int
    observed_mean: float
    ability: list[float]
    dispersion: float  # observed squared residuals over their binomial expectation (1 when the model fits)
    out_of_bag_ratio: float | None = None  # left-out fitted models' squared error over model-based variance

    def to_dict(self) -> dict:
        return jsonable(dict(self.__dict__))

    def to_interval(self, level: float) -> Interval:
        """The estimate's interval at the ``level`` it was computed at (``EstimateResult.confidence``)."""
        return Interval(
            self.estimate,
            self.ci_low,
            self.ci_high,
            level,
            "normal interval from the IRT fit's predictive variance",
            self.n_items_seen,
        )


@dataclass
class EstimateResult:
    models: dict[str, ScoreEstimate]
    confidence: float
    method: str = "p-irt"
    ignored_items: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return jsonable(
            {
                "models": {name: e.to_dict() for name, e in self.models.items()},
                "confidence": self.confidence,
                "method": self.method,
                "ignored_items": self.ignored_items,
                "warnings": self.warnings,
            }
        )

    def render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"Full-benchmark score estimated from the items seen ({self.method})")
        for column in ("model", "items seen", "observed mean", "estimate", f"{self.confidence:.0%} CI"):
            table.add_column(column, justify="left" if column == "model" else "right")
        for name, e in self.models.items():
            table.add_row(
                name,
                f"{e.n_items_seen} of {e.n_items}",
                f"{e.observed_mean:.4f}",
                f"{e.estimate:.4f}",
                f"[{e.ci_low:.4f}, {e.ci_high:.4f}]",
            )
        return Group(table, *[Text(f"warning: {w}", style="yellow") for w in self.warnings])


def _fit_abilities(slopes, ease, y):
    """MAP abilities (prior N(0, I)) of several models (rows of ``y``) for fixed item parameters, by Newton's
    method; returns them (models x dims) and their posterior Hessians (models x dims x dims)."""
    dims = slopes.shape[1]
    theta = np.zeros((len(y), dims))
    eye = np.eye(dims)
    for _ in range(100):
        p = special.expit(theta @ slopes.T + ease)  # models x items
        grad = (p - y) @ slopes + theta
        hess = np.einsum("mi,ik,il->mkl", p * (1 - p), slopes, slopes) + eye
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        # cap long steps: the posterior is log-concave, so capped Newton steps converge
        biggest = np.max(np.abs(step), axis=1, keepdims=True)
        theta = theta - step * np.minimum(1.0, 4.0 / np.maximum(biggest, 1e-300))
        if np.max(biggest) < 1e-10:
            break
    p = special.expit(theta @ slopes.T + ease)
    hess = np.einsum("mi,ik,il->mkl", p * (1 - p), slopes, slopes) + eye
    return theta, hess


def _predict(slopes, ease, seen, unseen, y):
    """Totals over all items (seen scores + predicted unseen) for rows of ``y`` (models x seen items), with
    the variance from the unseen items' own outcomes and from the ability, and the dispersion used."""
    theta, hess = _fit_abilities(slopes[seen], ease[seen], y)
    p_seen = special.expit(theta @ slopes[seen].T + ease[seen])
    binomial = p_seen * (1 - p_seen)
    # over-dispersion (misfit) from the observed items, shrunk toward 1 with the weight of 5 items so that a
    # handful of items cannot claim a near-perfect fit; binary scores never go below binomial noise
    prior_weight = 5 * np.maximum(binomial.mean(axis=1), 1e-3)
    dispersion = (np.sum((y - p_seen) ** 2, axis=1) + prior_weight) / (binomial.sum(axis=1) + prior_weight)
    binary = np.all((y == 0) | (y == 1), axis=1)
    dispersion = np.where(binary, np.maximum(dispersion, 1.0), dispersion)
    p_unseen = special.expit(theta @ slopes[unseen].T + ease[unseen])
    w = p_unseen * (1 - p_unseen)
    totals = y.sum(axis=1) + p_unseen.sum(axis=1)
    var_items = dispersion * w.sum(axis=1)  # the unseen items' own outcomes around their probabilities
    grad = w @ slopes[unseen]  # d(sum of unseen p) / d(theta), models x dims
    var_ability = dispersion * np.einsum("mk,mk->m", grad, np.linalg.solve(hess, grad[..., None])[..., 0])
    return totals, var_items + var_ability, theta, dispersion


def _out_of_bag_ratio(fit: IrtFit, seen, unseen) -> float | None:
    """Squared error over model-based variance for fitted models left out of each refit, on these items.

    A fitted model that a refit did not draw is new to that refit, and its full
    mean is known: estimating it from its scores on the same seen items gives an
    honest error, with the item parameters' error, their bias and the model's
    misfit all in it. None when there are too few such models.
    """
    if fit.n_bootstrap < 2 or fit.train_scores is None or fit.boot_picks is None:
        return None
    complete = np.all(np.isfinite(fit.train_scores), axis=1)
    errors, variances = [], []
    for picks, slopes_b, ease_b in zip(fit.boot_picks, fit.boot_slopes, fit.boot_ease):
        out = np.setdiff1d(np.flatnonzero(complete), picks)
        if len(out) == 0:
            continue
        scores = fit.train_scores[out]
        totals, var, _, _ = _predict(slopes_b, ease_b, seen, unseen, scores[:, seen])
        errors.append(totals - scores.sum(axis=1))
        variances.append(var)
    if not errors or sum(len(e) for e in errors) < 10:
        return None
    out_of_bag = np.sum(np.concatenate(errors) ** 2) / np.sum(np.concatenate(variances))
    # A refit on a resample knows fewer distinct models than the full fit, so its errors run high; the
    # full fit's errors on its own models run low. Efron's .632 weighting of the two corrects for both.
    scores = fit.train_scores[complete]
    totals, var, _, _ = _predict(fit.slopes, fit.ease, seen, unseen, scores[:, seen])
    apparent = np.sum((totals - scores.sum(axis=1)) ** 2) / np.sum(var)
    return float(0.368 * apparent + 0.632 * out_of_bag)


def estimate_score(
    fit: IrtFit, observed: pd.Series, *, confidence: float = 0.95, _ratios: dict | None = None
) -> ScoreEstimate:
    """Estimate one model's mean over all the fit's items from its scores on some of them (``item -> score``)."""
    index = {item: j for j, item in enumerate(fit.items)}
    seen = np.array([index[i] for i in observed.index], dtype=int)
    y = observed.to_numpy(dtype=float)[None, :]
    n = len(fit.items)
    unseen = np.setdiff1d(np.arange(n), seen)
    totals, var_base, theta, dispersion = _predict(fit.slopes, fit.ease, seen, unseen, y)
    total, var_base = float(totals[0]), float(var_base[0])
    if fit.n_bootstrap >= 2:
        # refit the ability under each refit's item parameters: the spread of the total carries the item
        # parameters' error, including its path through the ability estimated from the seen items
        boot_totals = [_predict(sb, eb, seen, unseen, y)[0][0] for sb, eb in zip(fit.boot_slopes, fit.boot_ease)]
        var_params = float(np.var(boot_totals, ddof=1))
    else:
        w = special.expit(fit.slopes[unseen] @ theta[0] + fit.ease[unseen])
        w = w * (1 - w)
        design = np.column_stack([np.tile(theta[0], (len(unseen), 1)), np.ones(len(unseen))]) * w[:, None]
        var_params = float(np.einsum("ik,ikl,il->", design, fit.item_cov[unseen], design))
    variance = var_base + var_params
    key = seen.tobytes()
    if _ratios is not None and key in _ratios:
        ratio = _ratios[key]  # the same seen items as an earlier model: the same calibration
    else:
        ratio = _out_of_bag_ratio(fit, seen, unseen) if len(unseen) else None
        if _ratios is not None:
            _ratios[key] = ratio
    if ratio is not None:
        variance = max(variance, ratio * var_base)  # never narrower than the errors seen on left-out models
    se = np.sqrt(variance) / n
    z = stats.norm.ppf(0.5 + confidence / 2)
    estimate = total / n
    return ScoreEstimate(
        estimate=float(estimate),
        ci_low=float(max(0.0, estimate - z * se)),
        ci_high=float(min(1.0, estimate + z * se)),
        se=float(se),
        n_items_seen=int(len(seen)),
        n_items=n,
        observed_mean=float(y.mean()),
        ability=theta[0].tolist(),
        dispersion=float(dispersion[0]),
        out_of_bag_ratio=ratio,
    )


def estimate_scores(fit: IrtFit, matrix: pd.DataFrame, *, confidence: float = 0.95) -> EstimateResult:
    """Estimate each model's (row's) full-benchmark mean from the items it was scored on."""
    check_confidence(confidence)
    notes: list[str] = []
    known = set(fit.items)
    unknown = [str(c) for c in matrix.columns if str(c) not in known]
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        warn(f"{len(unknown)} item(s) the fit never saw are ignored: {shown}", notes)
    matrix = matrix.loc[:, [c for c in matrix.columns if str(c) in known]]
    matrix.columns = [str(c) for c in matrix.columns]
    results, ratios = {}, {}
    for model, row in matrix.iterrows():
        row = row.dropna()
        if row.empty:
            raise DataError(
                f"model {model!r} has no scores on the fit's items; score it on some of them "
                "(e.g. those from `assay irt select`)"
            )
        if ((row < 0) | (row > 1)).any():
            raise DataError(f"model {model!r}: scores outside [0, 1]")
        results[str(model)] = estimate_score(fit, row, confidence=confidence, _ratios=ratios)
    return EstimateResult(results, confidence, ignored_items=unknown, warnings=notes)


def irt_estimate(fit_path, sources, *, metric: str | None = None, confidence: float = 0.95) -> EstimateResult:
    """``assay irt estimate``: load the fit and the scores, estimate every model's full-benchmark mean."""
    return estimate_scores(load_irt(fit_path), score_matrix(sources, metric=metric), confidence=confidence)
