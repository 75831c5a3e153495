"""Initializers by their numbers: variance rules (dense and conv fans), orthogonality, LSUV's unit
variance on data, the warning for constant kernels, and the course's 10-layer tanh experiment.

Everything is built through the registry as a recipe builds it (`build_spec`).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from pipeline import registries
from pipeline.model.data_init import (SymmetricKernelWarning, apply_data_dependent_init,
                                      calibration_batch, finish_initialization, data_dependent_layers,
                                      warn_symmetric_kernels)
from pipeline.model.network import build_model
from pipeline.components import build_spec
from pipeline.keras_compat import save_model
from pipeline.recipe import load_recipe
from tests.conftest import RECIPES

pytestmark = pytest.mark.usefixtures("backend_started")


def to_np(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def init(spec):
    return build_spec(registries.initializers, spec)


def layer(spec):
    return build_spec(registries.layers, spec)


def sample(spec, shape) -> np.ndarray:
    return to_np(init(spec)(shape, dtype="float32"))


# -- variance rules: dense and conv kernels ------------------------------------------------------------
DENSE = (400, 300)            # fan_in 400, fan_out 300
CONV2D = (3, 3, 16, 64)       # 3x3 kernel, 16 input channels, 64 filters: fan_in 144, fan_out 576
RULES = {
    "glorot_uniform": lambda fi, fo: 2 / (fi + fo), "xavier_normal": lambda fi, fo: 2 / (fi + fo),
    "he_normal": lambda fi, fo: 2 / fi, "msra_uniform": lambda fi, fo: 2 / fi,
    "lecun_normal": lambda fi, fo: 1 / fi, "lecun_uniform": lambda fi, fo: 1 / fi,
}


def fans(shape):
    """The course's rule: fan_in = kernel area x input channels; fan_out = kernel area x filters."""
    area = math.prod(shape[:-2])
    return area * shape[-2], area * shape[-1]


@pytest.mark.parametrize("shape", [DENSE, CONV2D], ids=["dense", "conv2d"])
@pytest.mark.parametrize("name", sorted(RULES))
def test_variance_follows_its_rule_with_conv_fans(name, shape):
    w = sample({"type": name, "seed": 0}, shape)
    fan_in, fan_out = fans(shape)
    assert w.var() == pytest.approx(RULES[name](fan_in, fan_out), rel=0.05)
    assert abs(w.mean()) < 0.05 * w.std()


def test_conv2d_layer_kernel_uses_kernel_area_times_channels_as_fan_in():
    """Built as a recipe builds it: a 3x3 conv on 16 channels has fan_in 144, not 16 and not 9."""
    conv = layer({"type": "conv2d", "filters": 64, "kernel_size": 3,
                  "kernel_initializer": {"type": "he_normal", "seed": 1}})
    conv.build((None, 8, 8, 16))
    kernel = to_np(conv.kernel)
    assert kernel.shape == CONV2D
    assert kernel.var() == pytest.approx(2 / (3 * 3 * 16), rel=0.05)


def test_small_normal_is_the_courses_first_idea_whatever_the_layer_size():
    for shape in [(500, 500), (40, 2000)]:
        w = sample({"type": "small_normal", "seed": 0}, shape)
        assert w.std() == pytest.approx(0.01, rel=0.02)
        assert abs(w.mean()) < 5e-4
    w = sample({"type": "random_normal", "stddev": 1.0, "seed": 0}, (500, 500))  # alias, other std
    assert w.std() == pytest.approx(1.0, rel=0.02)


def test_constant_and_zeros_fill_every_weight():
    np.testing.assert_array_equal(sample({"type": "constant", "value": 0.25}, (4, 3)), np.full((4, 3), 0.25))
    np.testing.assert_array_equal(sample("zeros", (4, 3)), np.zeros((4, 3)))


@pytest.mark.parametrize("shape", [(64, 32), (32, 64), (2, 2, 16, 32)], ids=["tall", "wide", "conv2d"])
def test_orthogonal_columns_or_rows_are_orthonormal(shape):
    w = sample({"type": "orthogonal", "seed": 0}, shape).reshape(-1, shape[-1])
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T  # W^T W = I (tall), W W^T = I (wide)
    np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-5)


def test_orthogonal_gain_scales_the_gram_matrix():
    w = sample({"type": "orthogonal", "gain": 2.0, "seed": 0}, (64, 32))
    np.testing.assert_allclose(w.T @ w, 4 * np.eye(32), atol=1e-4)


def test_orthogonal_layer_preserves_the_norm_of_its_input():
    """Saxe et al.'s point: a linear layer with an orthogonal kernel neither shrinks nor blows up a signal."""
    w = sample({"type": "orthogonal", "seed": 3}, (32, 64))  # orthonormal rows: W W^T = I
    x = np.random.default_rng(0).normal(size=(10, 32)).astype("float32")
    np.testing.assert_allclose(np.linalg.norm(x @ w, axis=1), np.linalg.norm(x, axis=1), rtol=1e-4)


# -- constant kernels warn; constant biases do not -----------------------------------------------------
def model_of(*specs, input_shape=(6,)):
    inputs = keras.Input(input_shape)
    x = inputs
    for spec in specs:
        x = layer(spec)(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("kernel", ["zeros", {"type": "constant", "value": 0.5}])
def test_constant_kernel_warns_and_names_the_layer(kernel):
    model = model_of({"type": "dense", "units": 4, "kernel_initializer": kernel, "name": "hidden"},
                     {"type": "dense", "units": 2})
    with pytest.warns(SymmetricKernelWarning, match="layer 'hidden': kernel_initializer .*symmetry"):
        found = warn_symmetric_kernels(model)
    assert found == ["hidden.kernel_initializer"]


def test_constant_kernel_inside_a_wrapped_layer_and_a_conv_warns():
    model = model_of({"type": "conv1d", "filters": 3, "kernel_size": 2, "kernel_initializer": "zeros",
                      "name": "conv"},
                     {"type": "flatten"},
                     {"type": "dense", "units": 4, "normalizer": "batch_norm", "kernel_initializer": "zeros",
                      "name": "normed"}, input_shape=(6, 2))
    with pytest.warns(SymmetricKernelWarning) as record:
        found = warn_symmetric_kernels(model)
    assert len(record) == 2 and found[0] == "conv.kernel_initializer"
    assert found[1].endswith(".kernel_initializer") and found[1] != found[0]


def test_constant_biases_and_single_unit_kernels_do_not_warn(recwarn):
    model = model_of({"type": "dense", "units": 4, "bias_initializer": {"type": "constant", "value": 0.1}},
                     {"type": "dense", "units": 1, "kernel_initializer": "zeros"},  # nothing to be symmetric with
                     {"type": "prelu"})
    assert warn_symmetric_kernels(model) == []
    assert not [w for w in recwarn if issubclass(w.category, SymmetricKernelWarning)]


def test_trainer_step_warns_for_constant_kernels(write_recipe):
    """`finish_initialization` is what `pipeline run` calls between building the model and fit."""
    path = write_recipe("r.yaml", """
data: {source: {type: digits}}
train: {epochs: 1, loss: sparse_categorical_crossentropy}
model:
  defaults: {kernel_initializer: zeros}
  layers: [{type: flatten}, {type: dense, units: 8}, {type: dense, units: 3}]
""")
    plan = load_recipe(path).plan
    model = build_model(plan.layers, plan.outputs, (8, 8, 1))
    with pytest.warns(SymmetricKernelWarning) as record:
        assert finish_initialization(model, np.zeros((4, 8, 8, 1), "float32")) == {}
    assert len(record) == 2


# -- LSUV --------------------------------------------------------------------------------------------
def lsuv_model():
    """LSUV on a conv, a dense with a fused tanh and a dense wrapped with its batch norm; a non-LSUV head."""
    inputs = keras.Input((8, 4))
    x = layer({"type": "conv1d", "filters": 16, "kernel_size": 4, "name": "conv",
               "kernel_initializer": {"type": "lsuv", "seed": 0}})(inputs)
    x = layer({"type": "flatten"})(x)
    x = layer({"type": "dense", "units": 16, "activation": "tanh", "name": "tanh_dense",
               "bias_initializer": {"type": "constant", "value": 0.2},
               "kernel_initializer": {"type": "lsuv", "seed": 1}})(x)
    x = layer({"type": "dense", "units": 16, "activation": "relu", "normalizer": "batch_norm", "name": "normed",
               "kernel_initializer": {"type": "lsuv", "seed": 2}})(x)
    # orthogonal, not LSUV: must stay untouched (same 16 x 16 draw as the others: one compile, fast test)
    outputs = layer({"type": "dense", "units": 16, "name": "head",
                     "kernel_initializer": {"type": "orthogonal", "seed": 3}})(x)
    return keras.Model(inputs, outputs)


def calibration_data(n=128):
    # far from unit variance on purpose: mean 2, std 5
    return np.random.default_rng(0).normal(2.0, 5.0, size=(n, 8, 4)).astype("float32")


def test_lsuv_draws_an_orthogonal_kernel_before_calibration():
    w = sample({"type": "lsuv", "seed": 0}, (64, 32))
    np.testing.assert_allclose(w.T @ w, np.eye(32), atol=1e-5)


def test_lsuv_gives_each_layer_unit_output_variance_on_the_calibration_batch():
    model = lsuv_model()
    x = calibration_data()
    head_before = to_np(model.get_layer("head").kernel)
    kernels_before = {layer.name: to_np(layer.kernel) for layer in data_dependent_layers(model)}
    conv_before = to_np(keras.Model(model.input, model.get_layer("conv").output)(x))
    report = apply_data_dependent_init(model, x)
    assert len(report) == 3 and all(abs(r["variance"] - 1) < 0.1 for r in report.values())

    # Checked independently of the hooks: the conv's output, and the tanh dense's pre-activation x W + b.
    conv_out = to_np(keras.Model(model.input, model.get_layer("conv").output)(x))
    assert conv_out.var() == pytest.approx(1.0, abs=0.1)
    dense = model.get_layer("tanh_dense")
    dense_in = to_np(keras.Model(model.input, dense.input)(x))
    pre = dense_in @ to_np(dense.kernel) + to_np(dense.bias)
    assert pre.var() == pytest.approx(1.0, abs=0.1)
    assert conv_before.var() > 10  # before: the raw inputs' std of 5 went straight through

    # LSUV only rescales: each kernel is its orthogonal draw times one positive number.
    for layer in data_dependent_layers(model):
        ratio = to_np(layer.kernel) / kernels_before[layer.name]
        np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-4)
    np.testing.assert_array_equal(to_np(model.get_layer("head").kernel), head_before)  # not LSUV: untouched


def test_lsuv_calibrates_in_data_order_and_a_second_pass_changes_nothing():
    model = lsuv_model()
    x = calibration_data()
    first = apply_data_dependent_init(model, x)
    assert list(first)[:2] == ["conv", "tanh_dense"]
    assert first["conv"]["steps"] >= 1
    again = apply_data_dependent_init(model, x)
    assert all(r["steps"] == 0 for r in again.values())


def test_lsuv_respects_max_iter_and_restores_the_layers():
    model = model_of({"type": "dense", "units": 16, "activation": "tanh", "name": "d",
                      "kernel_initializer": {"type": "lsuv", "max_iter": 1, "tol": 1e-9, "seed": 0},
                      "bias_initializer": {"type": "constant", "value": 3.0}}, input_shape=(16,))
    x = np.random.default_rng(0).normal(size=(64, 16)).astype("float32")
    report = apply_data_dependent_init(model, x)
    assert report["d"]["steps"] == 1
    dense = model.get_layer("d")
    assert dense.activation is keras.activations.tanh and "call" not in vars(dense)  # hooks removed
    out = to_np(model(x))
    np.testing.assert_allclose(out, np.tanh(x @ to_np(dense.kernel) + 3.0), rtol=1e-5, atol=1e-6)


def test_finish_initialization_draws_the_calibration_batch_and_costs_nothing_without_lsuv():
    model = lsuv_model()
    big = calibration_data(1000)
    batch = calibration_batch(model, big, seed=1)
    assert len(batch) == 256 and len(np.unique(batch[:, 0, 0])) == 256  # LSUV's default batch_size, no repeats
    x_train = calibration_data()
    report = finish_initialization(model, x_train, seed=1)
    assert set(report) == {"conv", "tanh_dense", data_dependent_layers(model)[2].name}

    plain = model_of({"type": "dense", "units": 4}, {"type": "dense", "units": 2})
    weights = [to_np(w) for w in plain.weights]
    assert finish_initialization(plain, x_train[:, :6, 0]) == {}
    for before, w in zip(weights, plain.weights):
        np.testing.assert_array_equal(to_np(w), before)


def test_calibrated_model_saves_and_reloads_with_identical_predictions(tmp_path):
    model = lsuv_model()
    x = calibration_data()
    apply_data_dependent_init(model, x)
    before = to_np(model(x, training=False))
    save_model(model, tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(to_np(reloaded(x, training=False)), before, rtol=1e-6, atol=1e-6)
    restored = reloaded.get_layer("conv").kernel_initializer
    assert type(restored).__name__ == "LSUV" and restored.get_config()["batch_size"] == 256


def test_lsuv_arguments_are_checked_by_the_recipe_validator():
    from pipeline.components import check

    problems = []
    check(registries.initializers, {"type": "lsuv", "tol": 0, "max_iter": -1}, ("init",), problems)
    assert [p.path for p in problems] == [("init", "tol"), ("init", "max_iter")]


# -- the course's 10-layer tanh experiment ------------------------------------------------------------
def tanh_stack(kernel_initializer, inputs=None, layers=10, units=500):
    """Activations of 10 tanh layers of 500 units on unit-Gaussian input (the course's numpy loop)."""
    x = np.random.default_rng(0).normal(size=(1000, units)).astype("float32") if inputs is None else inputs
    acts = []
    for i in range(layers):
        spec = kernel_initializer if isinstance(kernel_initializer, str) else {**kernel_initializer, "seed": i}
        x = layer({"type": "dense", "units": units, "activation": "tanh", "kernel_initializer": spec})(x)
        acts.append(to_np(x))
    return acts


def test_tanh_stack_with_std_001_collapses_to_zero():
    stds = [a.std() for a in tanh_stack({"type": "small_normal", "stddev": 0.01})]
    assert stds[-1] < 1e-3
    assert all(b < a for a, b in zip(stds, stds[1:]))  # shrinks at every layer (x ~0.22)


def test_tanh_stack_with_std_1_saturates():
    acts = tanh_stack({"type": "small_normal", "stddev": 1.0})
    for a in acts:
        assert np.mean(np.abs(a) > 0.99) > 0.8  # most units sit at +-1, where tanh' ~ 0


@pytest.mark.parametrize("name", ["xavier_normal", "glorot_uniform"])
def test_tanh_stack_with_xavier_keeps_its_scale(name):
    stds = [a.std() for a in tanh_stack({"type": name})]
    assert all(stds[0] / 3 < s <= stds[0] for s in stds)
    assert np.mean(np.abs(tanh_stack({"type": name}, layers=1)[0]) > 0.99) < 0.05  # and no saturation


@pytest.fixture(scope="module")
def unit_gaussian_40():
    return np.random.default_rng(1).normal(size=(500, 40)).astype("float32")


@pytest.mark.parametrize("recipe, initializer", [
    ("tanh-depth-xavier.yaml", "glorot_normal"), ("tanh-depth-small-std.yaml", "small_normal"),
    ("tanh-depth-unit-std.yaml", "small_normal"),
])
def test_tanh_depth_recipes_are_the_experiment(recipe, initializer, unit_gaussian_40):
    """The shipped recipes build the course's net (10 tanh dense layers of 500 units + a linear head)
    on MNIST-1D's 40 standardized features, and show the same three behaviours."""
    plan = load_recipe(RECIPES / recipe).plan
    model = build_model(plan.layers, plan.outputs, (40,))
    hidden = model.layers[1:-1]
    assert len(hidden) == 10 and {(layer.units, layer.activation.__name__) for layer in hidden} == {(500, "tanh")}
    assert model.layers[-1].units == 10 and model.layers[-1].activation.__name__ == "linear"
    assert registries.initializers.get(initializer) is \
        registries.initializers.get(plan.layers[0].layer.kwargs["kernel_initializer"].name)
    acts = [to_np(a) for a in keras.Model(model.input, [layer.output for layer in hidden])(unit_gaussian_40)]
    stds = [a.std() for a in acts]
    if "small-std" in recipe:
        assert stds[-1] < 1e-3
    elif "unit-std" in recipe:
        assert np.mean(np.abs(acts[-1]) > 0.99) > 0.8
    else:
        assert all(stds[0] / 3 < s <= stds[0] for s in stds)


def test_lsuv_warns_when_a_layer_outputs_no_variance():
    model = model_of({"type": "dense", "units": 16, "name": "dead", "kernel_initializer": "lsuv"},
                     input_shape=(16,))
    with pytest.warns(UserWarning, match="layer 'dead' outputs variance 0"):
        report = apply_data_dependent_init(model, np.zeros((8, 16), "float32"))
    assert report["dead"]["steps"] == 0
