"""Pre-flight checks: initial loss, regularization, overfitting a tiny subset, gradient flow, recipe lint."""

from __future__ import annotations

import math

import mlflow
import pytest

from pipeline.cli import main
from pipeline.diagnostics import preflight
from pipeline.diagnostics.recipe_checks import recipe_findings
from pipeline.recipe import load_recipe
from pipeline.recipe.validate import plan_recipe

pytestmark = pytest.mark.usefixtures("backend_started")

RECIPE = """
seed: 0
data: {source: {type: digits}, preprocess: [{type: standardize}]}
model:
  layers:
    - {type: flatten}
    - {type: dense, units: 32, activation: relu, name: hidden}
    - OUTPUT
train:
  epochs: 2
  optimizer: {type: adam, learning_rate: LR}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
track: {experiment: preflight}
"""
OUTPUT = "{type: dense, units: 10, name: out}"


def _loaded(write_recipe, output=OUTPUT, lr="0.01", extra=""):
    text = RECIPE.replace("OUTPUT", output).replace("LR", lr) + extra
    return load_recipe(write_recipe("r.yaml", text))


def _model_and_batch(loaded):
    from pipeline.components import build
    from pipeline.keras_compat import set_seed
    from pipeline.assemble import build_compiled_model, prepare_data

    set_seed(0)
    _, splits = preflight_data = prepare_data(loaded)
    model = build_compiled_model(loaded, splits.x_train.shape[1:], 10)
    return model, build(loaded.plan.loss), splits.x_train[:256], splits.y_train[:256], preflight_data


def test_initial_loss_is_ln_c_on_a_correct_model_and_fails_with_a_huge_output_bias(write_recipe):
    # the course: "check initial loss at small random weight values"
    small = _loaded(write_recipe, "{type: dense, units: 10, kernel_initializer: {type: small_normal, stddev: 0.01}}")
    model, loss_fn, x, y, _ = _model_and_batch(small)
    ok = preflight.check_initial_loss(model, loss_fn, x, y, small.plan, 10)
    assert ok.status == "pass" and f"ln C = ln 10 = {math.log(10):.3f}" in ok.message
    assert float(ok.message.split()[1].rstrip(",")) == pytest.approx(math.log(10), rel=0.01)
    broken = _loaded(write_recipe, "{type: dense, units: 10, bias_initializer: {type: small_normal, stddev: 20.0}}")
    model, loss_fn, x, y, _ = _model_and_batch(broken)
    bad = preflight.check_initial_loss(model, loss_fn, x, y, broken.plan, 10)
    assert bad.status == "fail" and "large output bias" in bad.advice
    measured = float(bad.message.split()[1].rstrip(","))
    assert measured > 3 * math.log(10)


def test_regularization_raises_the_loss_by_the_penalty(write_recipe):
    loaded = _loaded(write_recipe, "{type: dense, units: 10, kernel_regularizer: {type: l2, factor: 0.1}}")
    model, loss_fn, x, y, _ = _model_and_batch(loaded)
    import numpy as np

    result = preflight.check_regularization(model, loss_fn, x, y)
    kernel = model.get_layer(index=-1).kernel.numpy() if hasattr(model.get_layer(index=-1).kernel, "numpy") \
        else np.asarray(model.get_layer(index=-1).kernel)
    assert result.status == "pass"
    assert f"+{0.1 * float(np.sum(kernel ** 2)):.4g}" in result.message  # exactly 0.1 * sum(W^2)
    plain, *_ = _model_and_batch(_loaded(write_recipe))
    assert preflight.check_regularization(plain, loss_fn, x, y).status == "skip"


# 1e-12: a rate that leaves the weights as they are (0 itself is refused: learning rates are positive)
@pytest.mark.parametrize("lr, status, words", [("1.0e-12", "fail", "the loss did not move"),
                                                ("0.01", "pass", "100% training accuracy")])
def test_overfit_check_fails_with_lr_0_and_passes_on_a_sane_recipe(write_recipe, lr, status, words):
    loaded = _loaded(write_recipe, lr=lr)
    *_, (_, splits) = _model_and_batch(loaded)
    result = preflight.check_overfit(loaded, splits.x_train, splits.y_train, subset=30, steps=150)
    assert result.status == status and (words in result.message or words in result.advice)


def test_gradient_flow_names_the_weights_that_get_no_gradient(write_recipe):
    loaded = _loaded(write_recipe)
    ok, loss_fn, x, y, _ = _model_and_batch(loaded)
    assert preflight.check_gradient_flow(ok, loss_fn, x[:32], y[:32]).status == "pass"
    text = RECIPE.replace("activation: relu, name: hidden", "activation: relu, name: hidden, "
                          "kernel_initializer: zeros").replace("OUTPUT", OUTPUT).replace("LR", "0.01")
    dead = load_recipe(write_recipe("dead.yaml", text))
    model, loss_fn, x, y, _ = _model_and_batch(dead)
    result = preflight.check_gradient_flow(model, loss_fn, x[:32], y[:32])
    # ReLU(0) = 0 with slope 0 there: the hidden kernel, its bias and the output kernel get nothing
    assert result.status == "fail" and "hidden/kernel (zero)" in result.message
    assert "hidden/bias (zero)" in result.message and "out/kernel (zero)" in result.message
    assert "out/bias" not in result.message


def _plan(layers, loss="{type: sparse_categorical_crossentropy, from_logits: true}"):
    import yaml

    plan, problems = plan_recipe(yaml.safe_load(
        f"data: {{source: {{type: digits}}}}\nmodel: {{layers: {layers}}}\ntrain: {{epochs: 1, loss: {loss}}}\n"))
    assert not problems, problems
    return plan


def test_recipe_lint_softmax_with_from_logits_units_and_batch_norm_after_dropout():
    softmax = _plan("[{type: flatten}, {type: dense, units: 10, activation: softmax}]")
    (status, where, message), = recipe_findings(softmax, 10)
    assert status == "fail" and where == "model.layers[1]" and "applies softmax" in message
    linear_probs = _plan("[{type: flatten}, {type: dense, units: 10}]",
                         loss="{type: sparse_categorical_crossentropy, from_logits: false}")
    assert "expects probabilities" in recipe_findings(linear_probs, 10)[0][2]
    units = _plan("[{type: flatten}, {type: dense, units: 5}]")
    (status, where, message), = recipe_findings(units, 10)
    assert where == "model.layers[1].units" and "5 output units but the data has 10 classes" in message
    bn = _plan("[{type: flatten}, {type: dense, units: 8}, {type: dropout, rate: 0.5}, {type: batch_norm}, "
               "{type: dense, units: 10}]")
    (status, where, message), = recipe_findings(bn, 10)
    assert status == "warn" and where == "model.layers[3]" and "after dropout (model.layers[2])" in message
    assert recipe_findings(_plan("[{type: flatten}, {type: dense, units: 10}]"), 10) == []


def test_diagnose_exit_codes_and_preflight_fails_the_run_before_training(write_recipe, tracking_uri, capsys):
    zero = write_recipe("zero.yaml", RECIPE.replace("OUTPUT", OUTPUT).replace("LR", "1.0e-12"))
    assert main(["diagnose", str(zero), "--subset", "20", "--steps", "20"]) == 1
    out = capsys.readouterr().out
    assert "FAIL overfit a tiny subset" in out and "initial loss: measured" in out and "FAILED: overfit" in out
    bad = write_recipe("bad.yaml", "data: {source: {type: digits}}\nmodel: {layers: [{type: dense}]}\n")
    assert main(["diagnose", str(bad)]) == 2
    capsys.readouterr()
    assert main(["run", str(zero), "--set", "train.preflight=true"]) == 1
    assert "pre-flight check failed: overfit a tiny subset" in capsys.readouterr().err
    mlflow.set_tracking_uri(tracking_uri)
    run, = mlflow.search_runs(experiment_names=["preflight"], output_format="list")
    assert run.info.status == "FAILED" and run.data.tags["diagnostics.preflight"] == "failed"
    assert "loss" not in run.data.metrics  # stopped before the first epoch
    text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/diagnostics/preflight.txt")
    assert "FAIL overfit a tiny subset" in text
