"""Diagnostics per task on the regression recipe: the initial loss against predicting the training
mean, the tiny-subset check on the loss, the verdict in the loss's units (or R²), and the LR range
test and loss-explosion guard, unchanged."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from sklearn import metrics as skm

from pipeline.cli import main
from pipeline.diagnostics import preflight
from pipeline.diagnostics.report import regression_verdict
from pipeline.diagnostics.verdict import classify
from pipeline.recipe import load_recipe
from tests.conftest import RECIPES

pytestmark = pytest.mark.usefixtures("backend_started")

RECIPE = RECIPES / "diabetes-regression.yaml"


def by_name(results) -> dict:
    return {r.name: r for r in results}


def test_diagnose_the_regression_recipe_passes_every_check():
    results = by_name(preflight.diagnose(load_recipe(RECIPE), echo=lambda *a: None))
    assert all(r.status in ("pass", "skip") for r in results.values()), [r.line() for r in results.values()]
    assert "the loss of predicting the training mean" in results["initial loss"].message
    assert "(< 10% of" in results["overfit a tiny subset"].message


def test_unscaled_targets_fail_the_initial_loss_against_the_training_mean():
    """Without standardized targets a fresh model predicts about 0, far from targets around 150."""
    loaded = load_recipe(RECIPE, ["data.standardize_targets=false"])
    results = by_name(preflight.diagnose(loaded, steps=20, echo=lambda *a: None))
    initial = results["initial loss"]
    assert initial.status == "fail" and "standardize_targets: true" in initial.advice
    measured, expected = (float(initial.message.split()[i].rstrip(",")) for i in (1, 3))
    assert measured > 3 * expected
    overfit = results["overfit a tiny subset"]
    assert overfit.status == "fail" and "expected below 10%" in overfit.message
    assert "standardize_targets" in overfit.advice


def test_initial_loss_reference_is_the_loss_of_predicting_the_training_mean():
    import keras

    x = np.zeros((8, 1), "float32")
    y = np.arange(8, dtype="float32") + 10
    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Dense(1, bias_initializer=keras.initializers.Constant(13.0))(inputs))
    loaded = load_recipe(RECIPE)
    result = preflight.check_initial_loss(model, keras.losses.MeanSquaredError(), x, y, loaded.plan, None,
                                          target_mean=np.array([13.5]))
    # predicting 13 against 10..17: MSE 5.5; predicting the mean 13.5: MSE 5.25 (+5%)
    assert result.status == "pass" and "measured 5.5000, expected 5.25 (the loss of predicting the training " \
                                       "mean 13.5) (+5%)" in result.message


def test_regression_verdict_in_the_loss_units_and_in_r2():
    assert classify(2900, 3100, 0, 0.02, scale=6000, measure="mse").label == "high bias, high variance"
    assert classify(2900, 2990, 2850, 0.02, scale=6000, measure="mse").label == "good fit"  # gaps < 120
    good = classify(2900, 2990, 2850, 0.02, scale=6000, measure="mse")
    assert "high above 120 = 2% of 6000, the mse of predicting the training mean" in good.explain()

    class Fixed:  # a "model" whose predictions are known
        def __init__(self, outputs):
            self.outputs = outputs

        def predict(self, x, batch_size=None, verbose=0):
            return self.outputs[len(x)]

    rng = np.random.default_rng(1)
    y_train, y_val = rng.normal(100, 20, 60), rng.normal(100, 20, 30)
    p_train, p_val = y_train + rng.normal(0, 5, 60), y_val + rng.normal(0, 10, 30)
    splits = type("S", (), {"x_train": np.zeros((60, 1)), "y_train": y_train, "x_val": np.zeros((30, 1)),
                            "y_val": y_val})
    model = Fixed({60: p_train[:, None], 30: p_val[:, None]})
    in_loss_units = load_recipe(RECIPE, ["diagnostics.target_r2=null"]).plan  # the recipe reads R²
    verdict, metrics = regression_verdict(model, in_loss_units, splits)
    assert verdict.train_error == pytest.approx(skm.mean_squared_error(y_train, p_train), rel=1e-4)
    assert verdict.scale == pytest.approx(np.var(y_train), rel=1e-4)  # MSE of predicting the training mean
    assert metrics["val_r2"] == pytest.approx(skm.r2_score(y_val, p_val))
    by_r2, _ = regression_verdict(model, load_recipe(RECIPE).plan, splits)  # target_r2: 0.5
    assert by_r2.measure == "1 - R²" and by_r2.val_error == pytest.approx(1 - skm.r2_score(y_val, p_val))
    assert by_r2.target_error == pytest.approx(0.5)


def test_lr_find_on_the_regression_recipe_suggests_a_rate():
    from pipeline.diagnostics.lr_find import lr_find_recipe

    found = lr_find_recipe(load_recipe(RECIPE), steps=80, min_lr=1e-5, max_lr=10.0, plot=None)
    assert found.suggestion is not None and 1e-5 < found.suggestion < 10


def test_explosion_guard_stops_a_diverging_regression(tracking_uri):
    code = main(["run", str(RECIPE), "--set", "train.optimizer={type: sgd, learning_rate: 50.0}",
                 "--set", "train.epochs=3", "--set", "track.log_model=false"])
    assert code == 1
    mlflow.set_tracking_uri(tracking_uri)
    (run,) = mlflow.search_runs(experiment_names=["diabetes"], output_format="list")
    assert run.info.status == "FAILED" and run.data.tags["error"].startswith("LossExplosion: loss explosion")


def test_lint_wants_one_output_unit_per_target():
    from pipeline.diagnostics.recipe_checks import recipe_findings

    plan = load_recipe(RECIPE).plan
    assert recipe_findings(plan, None, targets=1) == []
    (finding,) = recipe_findings(plan, None, targets=2)
    assert finding == ("fail", "model.layers[2].units", "1 output units but the data has 2 target(s) (one value "
                                                        "each): set units: 2")
