"""Forecasts for Pythia 2.8B-12B from Pythia up to 1.4B (all checkpoints), on real lm-eval results."""

import pytest

from assay.scaling import backtest, diagnose_table, fit_law

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_two_step_forecasts_lambada_accuracy(lambada):
    # size and tokens -> lambada perplexity -> lambada accuracy
    result = backtest(lambada, "two-step", "params,tokens", "ppl,acc", holdout_largest=3, bootstrap=30)
    assert result.holdout_values == pytest.approx([2775208960, 6857302016, 11846072320])
    assert result.n_test == 90 and result.fits["two-step"].n_clusters == 10
    assert result.summary["two-step"]["converged"]
    assert result.summary["two-step"]["mean_rel_error"] < 0.15


def test_chinchilla_and_kaplan_side_by_side_on_perplexity(lambada):
    result = backtest(
        lambada, "chinchilla", "params,tokens", "ppl", holdout_largest=3, compare=["kaplan"], bootstrap=20
    )
    assert result.laws == ["chinchilla", "kaplan"]
    for law in result.laws:
        rows = [r for r in result.rows if r["law"] == law]
        assert len(rows) == 90
        # The forecasts must at least order the held-out models correctly at the final checkpoint.
        final = sorted((r["params"], r["predicted"]) for r in rows if r["tokens"] > 2.9e11)
        predicted = [p for _, p in final]
        assert predicted == sorted(predicted, reverse=True)
    assert min(s["mean_rel_error"] for s in result.summary.values()) < 0.3


def test_sigmoid_forecasts_task_accuracy(evals):
    final = "family == 'pythia' and step == 143000 and shots == 0 and metric == 'acc'"
    # Fit 70M-2.8B, predict 6.9B and 12B; the floor is the task's chance accuracy.
    for task, chance, tolerance in [("piqa", 0.5, 0.04), ("sciq", 0.25, 0.04), ("arc_easy", 0.25, 0.1)]:
        result = backtest(
            evals,
            "sigmoid",
            "params",
            "value",
            where=f"{final} and task == '{task}'",
            holdout_largest=2,
            bootstrap=30,
            chance=chance,
        )
        assert result.fits["sigmoid"].params["floor"] == chance
        assert result.n_train == 6 and result.n_test == 4  # step 143000 exists for 70M, 1B and 2.8B-12B
        assert result.summary["sigmoid"]["max_rel_error"] < tolerance, (task, result.render())


def test_lambada_accuracy_shape_is_monotone(lambada):
    shape = diagnose_table(lambada, "params", "acc", where="step == 143000")
    assert shape.shape == "monotone"
    assert shape.evidence["slope_per_decade"] > 0.1


def test_extrapolating_to_opt_66b_warns(lambada):
    fit = fit_law(lambada, "two-step", "params,tokens", "ppl,acc", where="params < 2e9", bootstrap=20)
    with pytest.warns(UserWarning, match="largest fitted params"):
        pred = fit.predict({"N": 6.6e11, "D": 3e11})
    assert pred.low <= pred.value <= pred.high
