import json
import warnings

import numpy as np
import pandas as pd
import pytest

from assay.errors import ConfigError, DataError
from assay.scaling import ScalingFit, fit_law, load_fit, parse_at
from assay.scaling.laws import _residual_and_jacobian, huber_log_objective

from .conftest import CHINCHILLA_TRUE


@pytest.fixture(scope="module")
def chinchilla_fit(chinchilla_data):
    return fit_law(chinchilla_data, "chinchilla", ["N", "D"], "loss", bootstrap=40, seed=3)


def test_chinchilla_recovers_known_law(chinchilla_fit):
    fit = chinchilla_fit
    assert fit.converged
    assert fit.n_points == 240 and fit.starts >= 4500
    assert fit.params["E"] == pytest.approx(CHINCHILLA_TRUE["E"], rel=0.05)
    assert fit.params["alpha"] == pytest.approx(CHINCHILLA_TRUE["alpha"], rel=0.1)
    assert fit.params["beta"] == pytest.approx(CHINCHILLA_TRUE["beta"], rel=0.1)
    for name in ("E", "alpha", "beta"):
        low, high = fit.ci[name]
        assert low <= fit.params[name] <= high


def test_chinchilla_is_an_optimum(chinchilla_data, chinchilla_fit):
    """No local run from random starts finds a lower objective, and the gradient vanishes."""
    import scipy.optimize

    log_x = np.log(chinchilla_data[["N", "D"]].to_numpy().T)
    log_y = np.log(chinchilla_data["loss"].to_numpy())
    p = chinchilla_fit.params
    theta = np.array([np.log(p["E"]), np.log(p["A"]), np.log(p["B"]), p["alpha"], p["beta"]])
    value, grad = huber_log_objective(theta[None], log_x, log_y, True, 1e-3)
    assert value[0] == pytest.approx(chinchilla_fit.objective, rel=1e-12)
    assert np.max(np.abs(grad)) < 1e-4
    rng = np.random.default_rng(0)
    for start in rng.uniform([-1, 0, 0, 0, 0], [1, 25, 25, 2, 2], size=(4, 5)):
        other = scipy.optimize.least_squares(
            lambda t: _residual_and_jacobian(t, log_x, log_y, True)[0],
            start,
            loss="huber",
            f_scale=1e-3,
            xtol=1e-14,
            ftol=1e-14,
            gtol=1e-14,
        )
        other_value = huber_log_objective(other.x[None], log_x, log_y, True, 1e-3)[0][0]
        assert other_value >= chinchilla_fit.objective * (1 - 1e-9)


def test_analytic_gradient_matches_finite_differences(chinchilla_data):
    log_x = np.log(chinchilla_data[["N", "D"]].to_numpy().T)
    log_y = np.log(chinchilla_data["loss"].to_numpy())
    theta = np.array([[0.5, 6.0, 7.5, 0.33, 0.36], [0.0, 3.0, 9.0, 0.2, 0.5]])
    _, grad = huber_log_objective(theta, log_x, log_y, True, 1e-3)
    step = 1e-7
    for j in range(5):
        bump = np.zeros(5)
        bump[j] = step
        up = huber_log_objective(theta + bump, log_x, log_y, True, 1e-3)[0]
        down = huber_log_objective(theta - bump, log_x, log_y, True, 1e-3)[0]
        np.testing.assert_allclose(grad[:, j], (up - down) / (2 * step), rtol=1e-4, atol=1e-9)


def test_compute_optimal_allocation(chinchilla_fit):
    opt = chinchilla_fit.compute_optimal([1e21, 1e23])
    np.testing.assert_allclose(6 * opt["N_opt"] * opt["D_opt"], [1e21, 1e23], rtol=1e-9)
    # At the optimum, moving N along C = 6ND in either direction raises the loss.
    n, d = opt["N_opt"][0], opt["D_opt"][0]
    loss = lambda nn: chinchilla_fit.predict({"N": nn, "D": 1e21 / (6 * nn)}).value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert loss(n) < loss(n * 1.5) and loss(n) < loss(n / 1.5)
    assert opt["N_exponent"] + opt["D_exponent"] == pytest.approx(1.0)
    assert len(opt["N_opt_ci"]) == 2


def test_power_law_recovery_and_prediction():
    rng = np.random.default_rng(1)
    x = np.geomspace(1e6, 1e9, 25)
    y = (2.0 + 300.0 * x**-0.4) * np.exp(0.003 * rng.standard_normal(25))
    fit = fit_law(pd.DataFrame({"size": x, "loss": y}), "power", "size", "loss", bootstrap=60, seed=1)
    assert fit.params["E"] == pytest.approx(2.0, rel=0.03)
    assert fit.params["alpha"] == pytest.approx(0.4, rel=0.1)
    pred = fit.predict({"x": 5e9})
    truth = 2.0 + 300.0 * 5e9**-0.4
    assert pred.value == pytest.approx(truth, rel=0.01)
    assert pred.low <= pred.value <= pred.high
    assert pred.extrapolation == pytest.approx(5.0)


def test_sigmoid_with_chance_floor():
    rng = np.random.default_rng(2)
    n = np.geomspace(1e7, 1e11, 30)
    acc = 0.25 + (0.85 - 0.25) / (1 + np.exp(-2.5 * (np.log10(n) - 9.2))) + 0.005 * rng.standard_normal(30)
    fit = fit_law(pd.DataFrame({"N": n, "acc": acc}), "sigmoid", "N", "acc", chance=0.25)
    assert fit.options["x_transform"] == "log10"
    assert fit.params["floor"] == 0.25
    assert fit.params["ceiling"] == pytest.approx(0.85, abs=0.02)
    assert fit.params["k"] == pytest.approx(2.5, rel=0.15)
    assert fit.params["x0"] == pytest.approx(9.2, abs=0.05)
    free = fit_law(pd.DataFrame({"N": n, "acc": acc}), "sigmoid", "N", "acc")
    assert free.params["floor"] == pytest.approx(0.25, abs=0.03)


def test_task_law_recovers_passuntil_exponent():
    n = np.geomspace(1e8, 3e9, 8)
    pass_until = np.exp(-40.0 * (n / 1e8) ** -0.8)
    fit = fit_law(pd.DataFrame({"N": n / 1e8, "pu": pass_until}), "task", "N", "pu")
    assert fit.params["alpha"] == pytest.approx(0.8, rel=1e-6)
    assert fit.params["C"] == pytest.approx(40.0, rel=1e-6)
    assert fit.predict({"N": 100.0}).value == pytest.approx(np.exp(-40.0 * 100**-0.8), rel=1e-6)
    with pytest.raises(DataError, match="strictly between 0 and 1"):
        fit_law(pd.DataFrame({"N": n, "pu": np.r_[pass_until[:-1], 1.0]}), "task", "N", "pu")


def test_kaplan_law_fits_size_and_steps():
    rng = np.random.default_rng(4)
    n = np.repeat(np.geomspace(1e7, 1e9, 6), 8)
    s = np.tile(np.geomspace(1e3, 1e5, 8), 6)
    loss = (8.8e13 / n) ** 0.076 + (2.1e3 / s) ** 0.76
    table = pd.DataFrame({"N": n, "S": s, "loss": loss * np.exp(0.002 * rng.standard_normal(len(n)))})
    fit = fit_law(table, "kaplan", "N,S", "loss", cluster="")
    assert fit.converged
    assert fit.params["alpha_S"] == pytest.approx(0.76, rel=0.1)
    truth = (8.8e13 / 3e9) ** 0.076 + (2.1e3 / 2e5) ** 0.76
    assert fit.predict({"N": 3e9, "S": 2e5}).value == pytest.approx(truth, rel=0.02)


def test_two_step_chains_loss_and_accuracy():
    rng = np.random.default_rng(5)
    n = np.geomspace(5e7, 5e10, 20)
    loss = 1.7 + 400 * n**-0.33
    acc = 0.25 + 0.6 / (1 + np.exp(6.0 * (loss - 2.6))) + 0.003 * rng.standard_normal(20)
    table = pd.DataFrame({"N": n, "loss": loss * np.exp(0.002 * rng.standard_normal(20)), "acc": acc})
    fit = fit_law(table, "two-step", "N", "loss,acc", chance=0.25, bootstrap=30)
    assert fit.options["x_transform"] == "linear"
    assert list(fit.params) == ["E", "A", "alpha", "floor", "ceiling", "k", "x0"]
    truth = 0.25 + 0.6 / (1 + np.exp(6.0 * (1.7 + 400 * 2e11**-0.33 - 2.6)))
    pred = fit.predict({"N": 2e11})
    assert pred.value == pytest.approx(truth, abs=0.02)
    assert pred.low < pred.high


def test_bootstrap_is_seeded_and_clustered():
    rng = np.random.default_rng(6)
    sizes = np.geomspace(1e7, 1e10, 8)
    rows = []
    for i, size in enumerate(sizes):
        for step in range(5):
            rows.append(
                {"model": f"m{i}", "params": size, "loss": (2 + 80 * size**-0.3) * np.exp(0.01 * rng.standard_normal())}
            )
    table = pd.DataFrame(rows)
    a = fit_law(table, "power", "params", "loss", bootstrap=30, seed=11)
    b = fit_law(table, "power", "params", "loss", bootstrap=30, seed=11)
    c = fit_law(table, "power", "params", "loss", bootstrap=30, seed=12)
    assert a.ci == b.ci and a.ci != c.ci
    assert a.n_clusters == 8 and "clusters by 'model'" in a.bootstrap_method
    unclustered = fit_law(table, "power", "params", "loss", bootstrap=30, seed=11, cluster="")
    assert unclustered.n_clusters is None and "40 points" in unclustered.bootstrap_method


def test_json_round_trip_keeps_predictions(tmp_path, chinchilla_fit):
    d = chinchilla_fit.to_dict()
    text = json.dumps(d, allow_nan=False)
    for key in ("law", "params", "ci", "objective", "n_points", "converged", "starts", "seconds"):
        assert key in d
    assert set(d["ci"]) == set(d["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert len(d["draws"]) == 40
    path = chinchilla_fit.save(tmp_path / "fit.json")
    loaded = load_fit(path)
    assert isinstance(loaded, ScalingFit) and json.loads(text)["law"] == "chinchilla"
    at = parse_at("N=7e9,D=1.4e11")
    original, again = chinchilla_fit.predict(at), loaded.predict(at)
    assert (again.value, again.low, again.high) == (original.value, original.low, original.high)
    assert "compute-optimal" in chinchilla_fit.render()


def test_extrapolation_warns_with_interval_width(chinchilla_fit):
    with pytest.warns(UserWarning, match=r"largest fitted N.*interval is \[.*width"):
        pred = chinchilla_fit.predict({"N": 1e13, "D": 1e12})
    assert pred.warnings and pred.extrapolation > 100


def test_predict_rejects_unknown_names(chinchilla_fit):
    with pytest.raises(ConfigError, match="takes N, D"):
        chinchilla_fit.predict({"params": 1e9, "D": 1e10})
    with pytest.raises(ConfigError, match="missing value for D"):
        chinchilla_fit.predict({"N": 1e9})
    with pytest.raises(ConfigError, match="NAME=NUMBER"):
        parse_at("N=7e9,D")


def test_load_fit_errors(tmp_path):
    with pytest.raises(DataError, match="no such fit file"):
        load_fit(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"law": "power"}')
    with pytest.raises(DataError, match="bad.json: not a saved scaling fit"):
        load_fit(bad)


def test_unconverged_fit_says_so(monkeypatch, chinchilla_data):
    """Starve the optimisers of iterations: the fit must report converged=False and warn."""
    import scipy.optimize

    from assay.scaling import laws

    real_minimize, real_least_squares = scipy.optimize.minimize, scipy.optimize.least_squares

    def starved_minimize(*args, **kwargs):
        kwargs["options"] = {**kwargs.get("options", {}), "maxiter": 1}
        return real_minimize(*args, **kwargs)

    def starved_least_squares(*args, **kwargs):
        kwargs["max_nfev"] = 1
        return real_least_squares(*args, **kwargs)

    monkeypatch.setattr(laws.scipy.optimize, "minimize", starved_minimize)
    monkeypatch.setattr(laws.scipy.optimize, "least_squares", starved_least_squares)
    with pytest.warns(UserWarning, match="did not converge"):
        fit = fit_law(chinchilla_data, "chinchilla", ["N", "D"], "loss")
    assert fit.converged is False
    assert fit.to_dict()["converged"] is False
    assert "NOT CONVERGED" in fit.render()


def test_kaplan_with_batch_size_column_solves_for_min_steps():
    from assay.scaling.laws import KAPLAN

    truth = np.array([[8.8e13, 0.076, 2.1e3, 0.76]])
    n = np.repeat(np.geomspace(1e7, 1e9, 5), 6)
    s = np.tile(np.geomspace(2e3, 2e5, 6), 5)
    batch = np.full_like(n, 5e5)
    loss = KAPLAN.predict(truth, np.vstack([n, s, batch]), {})[0]
    # The loss solves the implicit equation: recompute S_min from it and check consistency.
    s_min = s / (1 + 2e8 * loss ** (-1 / 0.21) / batch)
    np.testing.assert_allclose(loss, (8.8e13 / n) ** 0.076 + (2.1e3 / s_min) ** 0.76, rtol=1e-9)
    fit = fit_law(pd.DataFrame({"N": n, "S": s, "B": batch, "L": loss}), "kaplan", "N,S,B", "L")
    assert fit.params["alpha_S"] == pytest.approx(0.76, rel=1e-3)
    assert fit.params["alpha_N"] == pytest.approx(0.076, rel=1e-3)
    expected = KAPLAN.predict(truth, np.array([[3e9], [4e5], [5e5]]), {})[0, 0]
    assert fit.predict({"N": 3e9, "S": 4e5, "B": 5e5}).value == pytest.approx(expected, rel=1e-4)
