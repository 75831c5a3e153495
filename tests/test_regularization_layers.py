"""Regularizers, weight constraints and stochastic layers, shown by their numbers.

Penalties (elastic), the weight-decay lint, max-norm after an optimizer step, spatial dropout
dropping whole channels, Gaussian noise, and DropConnect: weights (not activations) dropped in
training with a fresh mask per step, all weights at inference. Built through the registries as a
recipe builds them.
"""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from pipeline import registries
from pipeline.components import build_spec
from pipeline.recipe import load_recipe
from pipeline.recipe.lint import check_weight_decay, lint
from pipeline.recipe.validate import plan_recipe
from tests.conftest import REPO, RECIPES
from tests.helpers import layer, to_np

pytestmark = pytest.mark.usefixtures("backend_started")


W = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -0.25]], dtype="float32")


def penalty(spec, w=W) -> float:
    return float(to_np(build_spec(registries.regularizers, spec)(keras.ops.convert_to_tensor(w))))


# -- elastic net -------------------------------------------------------------------------------------
def test_elastic_is_l1_plus_l2_and_l1_l2_is_its_alias():
    expected = 0.3 * np.abs(W).sum() + 0.1 * (W ** 2).sum()
    assert penalty({"type": "elastic", "l1": 0.3, "l2": 0.1}) == pytest.approx(expected, rel=1e-6)
    assert registries.regularizers.get("l1_l2") is registries.regularizers.get("elastic")
    assert registries.regularizers.get("elastic_net") is registries.regularizers.get("elastic")
    # the two parts alone are exactly L1 and L2
    assert penalty({"type": "elastic", "l1": 0.3, "l2": 0.0}) == pytest.approx(penalty({"type": "l1", "factor": 0.3}))
    assert penalty({"type": "elastic", "l1": 0.0, "l2": 0.1}) == pytest.approx(penalty({"type": "l2", "factor": 0.1}))


def test_with_weight_decay_changes_nothing_in_the_penalty():
    assert penalty({"type": "l2", "factor": 0.1, "with_weight_decay": True}) == \
        pytest.approx(penalty({"type": "l2", "factor": 0.1}))


# -- weight decay: through the optimizer or the loss, never both silently ------------------------------
def plan(optimizer, layer_extra=None, defaults=None):
    data = {
        "data": {"source": "digits"},
        "model": {"defaults": defaults or {},
                  "layers": [{"type": "flatten"}, {"type": "dense", "units": 10, **(layer_extra or {})}]},
        "train": {"epochs": 1, "loss": "sparse_categorical_crossentropy", "optimizer": optimizer},
    }
    checked, problems = plan_recipe(data, run_lint=False)
    assert problems == []
    return checked


L2 = {"kernel_regularizer": {"type": "l2", "factor": 1e-4}}


def test_l2_regularizer_and_optimizer_weight_decay_together_are_refused():
    problems = check_weight_decay(plan({"type": "sgd", "weight_decay": 0.01}, L2))
    assert [p.path for p in problems] == [("model", "layers", 1, "kernel_regularizer")]
    message = problems[0].message
    assert "l2, factor=0.0001" in message and "train.optimizer.weight_decay=0.01" in message
    assert "with_weight_decay: true" in message
    assert lint(plan({"type": "sgd", "weight_decay": 0.01}, L2)) == problems


@pytest.mark.parametrize("optimizer, extra", [
    ({"type": "sgd", "weight_decay": 0.01}, None),                      # decay only
    ({"type": "sgd"}, L2),                                              # penalty only (no decay by default)
    ({"type": "sgd", "weight_decay": 0.0}, L2),                         # decay switched off
    ({"type": "sgd", "weight_decay": 0.01}, {"kernel_regularizer": {"type": "l1", "factor": 0.1}}),
    ({"type": "sgd", "weight_decay": 0.01}, {"kernel_regularizer": {"type": "elastic", "l2": 0.0}}),
    ({"type": "sgd", "weight_decay": 0.01},                             # the user opted in
     {"kernel_regularizer": {"type": "l2", "with_weight_decay": True}}),
])
def test_weight_decay_lint_allows(optimizer, extra):
    assert check_weight_decay(plan(optimizer, extra)) == []


def test_weight_decay_lint_sees_elastic_defaults_and_nested_regularizers():
    # written once in model.defaults: reported once, where it was written
    problems = check_weight_decay(plan({"type": "sgd", "weight_decay": 0.1}, None,
                                       {"kernel_regularizer": {"type": "l1_l2", "l1": 0.0, "l2": 0.5}}))
    assert [(p.path, "elastic, l2=0.5" in p.message) for p in problems] == \
        [(("model", "defaults", "kernel_regularizer"), True)]
    # inside a residual block
    data = {"data": {"source": "digits"},
            "model": {"layers": [{"type": "residual_block", "filters": 4, "kernel_regularizer": "l2"}]},
            "train": {"epochs": 1, "loss": "sparse_categorical_crossentropy", "optimizer": {"type": "sgd", "weight_decay": 0.1}}}
    checked, _ = plan_recipe(data, run_lint=False)
    assert [p.path for p in check_weight_decay(checked)] == [("model", "layers", 0, "kernel_regularizer")]
    # and validation itself refuses the recipe, at that path
    _, problems = plan_recipe(data)
    assert [p.path for p in problems] == [("model", "layers", 0, "kernel_regularizer")]


# -- constraints -------------------------------------------------------------------------------------
def test_max_norm_caps_each_units_incoming_weight_norm_after_an_update():
    dense = layer({"type": "dense", "units": 3, "kernel_constraint": {"type": "max_norm", "max_value": 1.0},
                   "kernel_initializer": "zeros"})
    dense.build((None, 2))
    dense.kernel.assign(W * 0.1)  # column norms 0.1, 0.36, 0.056: under the cap
    optimizer = build_spec(registries.optimizers, {"type": "sgd", "learning_rate": 1.0})
    grad = -np.array([[3.0, 0.0, 0.1], [4.0, 0.0, 0.1]], dtype="float32")  # column 0 -> norm ~5.1
    optimizer.apply_gradients([(keras.ops.convert_to_tensor(grad), dense.kernel),
                               (keras.ops.zeros((3,)), dense.bias)])
    kernel = to_np(dense.kernel)
    norms = np.linalg.norm(kernel, axis=0)
    assert norms.max() <= 1.0 + 1e-5
    assert norms[0] == pytest.approx(1.0, rel=1e-5)  # rescaled onto the cap, direction kept
    unconstrained = W * 0.1 - grad
    np.testing.assert_allclose(kernel[:, 0], unconstrained[:, 0] / np.linalg.norm(unconstrained[:, 0]), rtol=1e-5)
    np.testing.assert_allclose(kernel[:, 1:], unconstrained[:, 1:], rtol=1e-6)  # under the cap: untouched


def test_unit_norm_and_non_neg():
    w = keras.ops.convert_to_tensor(W)
    unit = to_np(build_spec(registries.constraints, "unit_norm")(w))
    np.testing.assert_allclose(np.linalg.norm(unit, axis=0), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(to_np(build_spec(registries.constraints, "non_neg")(w)), np.maximum(W, 0))
    per_row = to_np(build_spec(registries.constraints, {"type": "max_norm", "max_value": 0.5, "axis": 1})(w))
    np.testing.assert_allclose(np.linalg.norm(per_row, axis=1), 0.5, rtol=1e-5)


# -- spatial dropout and Gaussian noise --------------------------------------------------------------
@pytest.mark.parametrize("name, shape", [("spatial_dropout1d", (64, 10, 32)),
                                         ("spatial_dropout2d", (64, 5, 5, 32))])
def test_spatial_dropout_drops_whole_channels(name, shape):
    rate = 0.4
    out = to_np(layer({"type": name, "rate": rate, "seed": 0})(np.ones(shape, "float32"), training=True))
    per_channel = out.reshape(shape[0], -1, shape[-1])  # (batch, positions, channels)
    # every (example, channel) is all zero or all 1/(1-rate) over its positions
    assert (per_channel == per_channel[:, :1, :]).all()
    np.testing.assert_allclose(np.unique(per_channel), [0.0, 1 / (1 - rate)], rtol=1e-6)
    assert (per_channel[:, 0, :] == 0).mean() == pytest.approx(rate, abs=0.05)
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    np.testing.assert_array_equal(to_np(layer({"type": name, "rate": rate})(x, training=False)), x)


def test_gaussian_noise_adds_noise_of_stddev_in_training_only():
    noise = layer({"type": "gaussian_noise", "stddev": 0.3, "seed": 0})
    x = np.full((200, 100), 2.0, dtype="float32")
    added = to_np(noise(x, training=True)) - x
    assert added.mean() == pytest.approx(0.0, abs=0.01)
    assert added.std() == pytest.approx(0.3, rel=0.03)
    np.testing.assert_array_equal(to_np(noise(x, training=False)), x)


# -- DropConnect -------------------------------------------------------------------------------------
RATE = 0.3


def dropconnect_dense(units=300, inputs=200, rate=RATE, **extra):
    dc = layer({"type": "dropconnect_dense", "units": units, "rate": rate, "seed": 0,
                "kernel_initializer": "zeros", **extra})  # weights set below: no per-shape random draw
    dc.build((None, inputs))
    rng = np.random.default_rng(1)
    dc.kernel.assign(rng.normal(size=(inputs, units)).astype("float32"))
    if dc.bias is not None:
        dc.bias.assign(rng.normal(size=units).astype("float32"))
    return dc


def effective_kernel(dc, training):
    """Feeding the identity matrix reads the kernel a call uses: row i = e_i (M * W) (no bias)."""
    assert dc.bias is None
    return to_np(dc(np.eye(dc.kernel.shape[0], dtype="float32"), training=training))


def test_dropconnect_dense_drops_weights_at_rate_and_scales_the_rest():
    dc = dropconnect_dense(use_bias=False)
    w = to_np(dc.kernel)
    used = effective_kernel(dc, training=True)
    dropped = used == 0
    assert dropped.mean() == pytest.approx(RATE, abs=0.01)  # a fraction `rate` of the *weights*
    np.testing.assert_allclose(used[~dropped], w[~dropped] / (1 - RATE), rtol=1e-5)  # inverted scaling
    # not activations: no output unit is switched off, every unit keeps ~70% of its inputs
    assert (dropped.mean(axis=0) < 0.5).all()


def test_dropconnect_preserves_the_expected_output():
    dc = dropconnect_dense(units=20, inputs=50)
    x = np.random.default_rng(2).normal(size=(1, 50)).astype("float32")
    exact = x @ to_np(dc.kernel) + to_np(dc.bias)
    mean = np.mean([to_np(dc(x, training=True)) for _ in range(400)], axis=0)
    # the average over masks approaches x W + b (std of one draw / sqrt(400))
    spread = np.sqrt(RATE / (1 - RATE) * (x[0][:, None] ** 2 * to_np(dc.kernel) ** 2).sum(axis=0))
    assert (np.abs(mean - exact) < 4 * spread / np.sqrt(400)).all()


def test_dropconnect_draws_a_fresh_mask_each_call():
    dc = dropconnect_dense(units=50, inputs=40, use_bias=False)
    first, second = effective_kernel(dc, True), effective_kernel(dc, True)
    assert not np.array_equal(first == 0, second == 0)


def test_dropconnect_at_inference_uses_all_weights_exactly():
    dc = dropconnect_dense(units=30, inputs=20, activation="tanh")
    x = np.random.default_rng(3).normal(size=(8, 20)).astype("float32")
    expected = np.tanh(x @ to_np(dc.kernel) + to_np(dc.bias))
    np.testing.assert_allclose(to_np(dc(x, training=False)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(to_np(dc(x)), to_np(dc(x, training=False)))  # default: inference
    np.testing.assert_array_equal(to_np(dc(x)), to_np(dc(x)))  # deterministic


def test_dropconnect_keeps_the_bias():
    dc = dropconnect_dense(units=10, inputs=4, rate=0.9)
    out = to_np(dc(np.zeros((1, 4), "float32"), training=True))
    np.testing.assert_array_equal(out[0], to_np(dc.bias))


def test_dropconnect_rate_zero_is_a_dense_layer_and_bad_rates_are_refused():
    dc = dropconnect_dense(units=5, inputs=3, rate=0.0)
    x = np.random.default_rng(4).normal(size=(2, 3)).astype("float32")
    np.testing.assert_allclose(to_np(dc(x, training=True)), x @ to_np(dc.kernel) + to_np(dc.bias), rtol=1e-6)
    with pytest.raises(ValueError) as error:  # the recipe validator, from the factory's `rate: Rate`
        layer({"type": "dropconnect_dense", "units": 2, "rate": 1.0})
    assert str(error.value) == "rate: expected float (>= 0, < 1). Received: 1.0"


@pytest.mark.parametrize("name, kernel_size, in_shape", [("dropconnect_conv2d", 3, (3, 3, 4)),
                                                         ("dropconnect_conv1d", 5, (5, 4))])
def test_dropconnect_conv_drops_kernel_weights(name, kernel_size, in_shape):
    filters = 64
    dc = layer({"type": name, "filters": filters, "kernel_size": kernel_size, "rate": RATE, "seed": 0,
                "kernel_initializer": "zeros", "use_bias": False})
    dc.build((None, *in_shape))
    dc.kernel.assign(np.ones(dc.kernel.shape, "float32"))
    # one-hot inputs the size of the kernel read it back, one weight per example
    n = int(np.prod(in_shape))
    probes = np.eye(n, dtype="float32").reshape(n, *in_shape)
    used = to_np(dc(probes, training=True)).reshape(n, filters)  # (kernel positions x in, filters)
    np.testing.assert_allclose(np.unique(used), [0.0, 1 / (1 - RATE)], rtol=1e-6)
    assert (used == 0).mean() == pytest.approx(RATE, abs=0.03)
    np.testing.assert_array_equal(to_np(dc(probes, training=False)).reshape(n, filters), 1.0)


def test_dropconnect_conv_inference_matches_a_plain_convolution():
    dc = layer({"type": "dropconnect_conv1d", "filters": 3, "kernel_size": 3, "padding": "causal",
                "dilation_rate": 2, "rate": 0.5})
    plain = layer({"type": "conv1d", "filters": 3, "kernel_size": 3, "padding": "causal", "dilation_rate": 2})
    x = np.random.default_rng(5).normal(size=(2, 12, 2)).astype("float32")
    dc.build(x.shape)
    plain.build(x.shape)
    plain.set_weights(dc.get_weights()[:2])
    np.testing.assert_allclose(to_np(dc(x)), to_np(plain(x)), rtol=1e-5, atol=1e-6)


def test_dropconnect_trains_inside_a_compiled_step():
    """model.fit on the default backend (JAX: jitted train step, the mask generator's state advances)."""
    dc = layer({"type": "dropconnect_dense", "units": 3, "rate": 0.5, "seed": 1})
    model = keras.Sequential([keras.Input((8,)), dc])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.random.default_rng(6).normal(size=(32, 8)).astype("float32"), np.zeros((32, 3), "float32")
    state = lambda: to_np(dc.seed_generator.state).copy()  # noqa: E731
    before = state()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert not np.array_equal(before, state())  # advanced: a new mask each step


# -- the recipe ---------------------------------------------------------------------------------------
def test_dropconnect_recipe_validates_and_trains():
    """The shipped recipe: valid, its head is DropConnect, a short fit keeps the loss finite and
    inference is deterministic. (Model and fit only, no MLflow run; compiling the JAX train step is
    most of the time.)"""
    from pipeline.assemble import build_compiled_model, prepare_data

    loaded = load_recipe(RECIPES / "mnist1d-dropconnect.yaml", ["data.source.num_samples=600"])
    head = loaded.plan.layers[-1].layer
    assert head.name == "dropconnect_dense" and head.kwargs["rate"] == 0.5
    _, splits = prepare_data(loaded)
    model = build_compiled_model(loaded, splits.x_train.shape[1:], steps_per_epoch=4)
    history = model.fit(splits.x_train[:256], splits.y_train[:256], batch_size=64, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    x = splits.x_test[:16]
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


CUSTOM_LAYERS = """
backend: tensorflow
seed: 0
data: {source: {type: mnist1d, num_samples: 300}}
model:
  layers:
    - {type: dropconnect_conv1d, filters: 4, kernel_size: 3, rate: 0.3, normalizer: batch_norm, activation: relu}
    - {type: residual_block, filters: 8, strides: 2, normalizer: {type: group_norm, groups: 2}}
    - {type: spatial_dropout1d, rate: 0.1}
    - {type: flatten}
    - {type: maxout, units: 8, pieces: 2}
    - {type: gaussian_noise, stddev: 0.1}
    - {type: dropconnect_dense, units: 10, rate: 0.5, kernel_constraint: max_norm}
train:
  epochs: 2
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
track: {experiment: tf}
"""


@pytest.mark.slow
def test_custom_layers_train_on_the_tensorflow_backend(tmp_path):
    """One fresh process on TensorFlow (slow: imports it) runs every custom layer of this family."""
    recipe = tmp_path / "custom.yaml"
    recipe.write_text(CUSTOM_LAYERS)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERAS_BACKEND", None)
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--tracking-uri",
                           f"sqlite:///{tmp_path / 'mlflow.db'}"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "on backend tensorflow" in done.stdout and "test_accuracy=" in done.stdout
