"""Leaky ReLU and PReLU by their formulas: as a layer's `activation:`, as an activation layer and as
layers of their own; PReLU's slope is learned (the gradient reaches it); all survive a `.keras` save.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline import registries
from pipeline.components import build_spec, check
from pipeline.keras_compat import save_model, tensorflow_probe_disabled

X = np.array([[-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, -2.0]], dtype="float32")

pytestmark = pytest.mark.usefixtures("backend_started")


def to_np(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def layer(spec):
    return build_spec(registries.layers, spec)


def leaky(x, alpha):
    return np.where(x > 0, x, alpha * x)


# -- leaky ReLU ----------------------------------------------------------------------------------------
def test_leaky_relu_default_is_the_courses_max_01x_x():
    fn = build_spec(registries.activations, "leaky_relu")
    np.testing.assert_allclose(to_np(fn(X)), np.maximum(0.1 * X, X), rtol=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.3])
def test_leaky_relu_alpha_everywhere_it_can_be_written(alpha):
    """`activation: {type: leaky_relu, alpha}` on a dense layer, inside an activation layer, and as a layer."""
    fn = build_spec(registries.activations, {"type": "leaky_relu", "alpha": alpha})
    np.testing.assert_allclose(to_np(fn(X)), leaky(X, alpha), rtol=1e-6)

    dense = layer({"type": "dense", "units": 8, "use_bias": False,
                   "activation": {"type": "leaky_relu", "alpha": alpha}})
    dense.build((None, 8))
    dense.kernel.assign(np.eye(8, dtype="float32"))  # x W = x: the output is the activation alone
    np.testing.assert_allclose(to_np(dense(X)), leaky(X, alpha), rtol=1e-6)

    act = layer({"type": "activation", "fn": {"type": "leaky_relu", "alpha": alpha}})
    np.testing.assert_allclose(to_np(act(X)), leaky(X, alpha), rtol=1e-6)

    own = layer({"type": "leaky_relu", "alpha": alpha})
    np.testing.assert_allclose(to_np(own(X)), leaky(X, alpha), rtol=1e-6)
    assert not own.weights  # a fixed slope: nothing to learn


def test_negative_alpha_is_refused_by_the_recipe_validator():
    for registry in (registries.activations, registries.layers):
        problems = []
        check(registry, {"type": "leaky_relu", "alpha": -0.1}, ("act",), problems)
        assert [p.path for p in problems] == [("act", "alpha")]
        assert problems[0].message == "expected float (>= 0). Received: -0.1"


# -- PReLU ---------------------------------------------------------------------------------------------
def test_prelu_starts_at_the_papers_025_with_one_slope_per_unit():
    prelu = layer({"type": "prelu"})
    np.testing.assert_allclose(to_np(prelu(X)), leaky(X, 0.25), rtol=1e-6)
    assert prelu.alpha.shape == (8,) and prelu.alpha.trainable


def test_prelu_applies_each_learned_slope_to_its_own_unit():
    prelu = layer({"type": "prelu", "initial_alpha": 0.0})
    prelu.build((None, 8))
    slopes = np.linspace(0.0, 0.7, 8).astype("float32")
    prelu.alpha.assign(slopes)
    np.testing.assert_allclose(to_np(prelu(X)), np.where(X > 0, X, slopes * X), rtol=1e-6)


def test_prelu_shared_axes_gives_one_slope_per_channel():
    prelu = layer({"type": "prelu", "shared_axes": [1]})
    prelu.build((None, 10, 4))  # (steps, channels) after a conv1d
    assert prelu.alpha.shape == (1, 4) and prelu.count_params() == 4


def test_prelu_slope_is_learned_by_gradient_descent():
    """One SGD step on L = mean(prelu(x)^2) (mse against 0) moves alpha by the hand-derived gradient:
    for x < 0, d(alpha x)^2 / d alpha = 2 alpha x^2, so dL/d alpha_j = sum_i 2 alpha x_ij^2 [x_ij < 0] / (B F)."""
    x = np.array([[-2.0, 1.0, -1.0], [-1.0, -3.0, 2.0]], dtype="float32")  # B = 2, F = 3
    inputs = keras.Input((3,))
    prelu = layer({"type": "prelu", "initial_alpha": 0.5})
    model = keras.Model(inputs, prelu(inputs))
    lr = 0.1
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    model.train_on_batch(x, np.zeros_like(x))
    grad = (2 * 0.5 * np.where(x < 0, x ** 2, 0.0)).sum(axis=0) / x.size
    np.testing.assert_allclose(to_np(prelu.alpha), 0.5 - lr * grad, rtol=1e-5)
    assert grad.all()  # every slope saw a negative input, so every slope moved


def test_prelu_is_a_layer_only():
    """A slope with weights cannot be fused into another layer's `activation:`: the name is a layer."""
    assert "prelu" in registries.layers and "prelu" not in registries.activations


# -- saved and reloaded ----------------------------------------------------------------------------------
def test_every_parametrized_activation_survives_a_keras_save(tmp_path):
    inputs = keras.Input((8,))
    x = layer({"type": "dense", "units": 8, "activation": {"type": "leaky_relu", "alpha": 0.05}})(inputs)
    x = layer({"type": "activation", "fn": {"type": "leaky_relu", "alpha": 0.02}})(x)
    x = layer({"type": "leaky_relu", "alpha": 0.3})(x)
    x = layer({"type": "dense", "units": 8})(x)
    prelu = layer({"type": "prelu", "initial_alpha": 0.1})
    model = keras.Model(inputs, prelu(x))
    prelu.alpha.assign(np.linspace(0.1, 0.8, 8).astype("float32"))  # as if trained: not the initial value
    data = np.random.default_rng(0).normal(size=(16, 8)).astype("float32")
    before = to_np(model(data))
    save_model(model, tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(to_np(reloaded(data)), before, rtol=1e-6, atol=1e-7)
    slopes = [reloaded.layers[1].activation.negative_slope, reloaded.layers[2].activation.negative_slope,
              reloaded.layers[3].negative_slope]
    assert slopes == pytest.approx([0.05, 0.02, 0.3])
    np.testing.assert_allclose(to_np(reloaded.layers[-1].alpha), np.linspace(0.1, 0.8, 8), rtol=1e-6)


def test_leaky_relu_is_saved_as_a_keras_class_with_its_slope():
    """Keras' own LeakyReLU: a saved model reloads in any process, no pipeline import needed
    (a functools.partial of keras.activations.leaky_relu would be saved by name, losing the slope)."""
    fn = build_spec(registries.activations, {"type": "leaky_relu", "alpha": 0.07})
    with tensorflow_probe_disabled():  # Keras' serializer would import TensorFlow to probe for it
        config = keras.activations.serialize(fn)
        restored = keras.activations.get(config)  # what a reloading layer does with its `activation`
    assert config["module"] == "keras.layers" and config["registered_name"] is None
    assert config["config"]["negative_slope"] == pytest.approx(0.07)
    np.testing.assert_allclose(to_np(restored(X)), leaky(X, 0.07), rtol=1e-6)
