"""What each built-in component *does*, built through its registry exactly as a recipe builds it.

Every component here comes from `build_spec(registry, spec)` (or `registry.build` where the trainer
passes an extra argument, e.g. a schedule as the optimizer's learning rate), then gets evaluated on
small, known tensors: variances of initializers, penalties of regularizers, dropout and batch-norm
statistics in training and inference, activation formulas, layer shapes and parameter counts,
optimizer steps, schedule curves, loss values, early stopping, preprocessing, datasets and splits.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from pipeline import registries
from pipeline.components import build_spec
from pipeline.data import Dataset
from pipeline.data.split import split_dataset
from pipeline.errors import DataError
from tests.helpers import layer, to_np

pytestmark = pytest.mark.usefixtures("backend_started")


def shape_of(spec, *input_shapes):
    """Output shape and parameter count of a layer applied to symbolic inputs (batch axis None)."""
    if "kernel_initializer" in registries.layers.get(spec["type"]).signature.parameters:
        spec = {**spec, "kernel_initializer": "zeros"}  # no random draw: keeps the test fast
    built = layer(spec)
    inputs = [keras.Input(s) for s in input_shapes]
    out = built(inputs if len(inputs) > 1 else inputs[0])
    return tuple(out.shape), built.count_params()


# -- initializers ------------------------------------------------------------------------------------
FAN_IN, FAN_OUT = 400, 300
GLOROT_VAR = 2 / (FAN_IN + FAN_OUT)
HE_VAR = 2 / FAN_IN


def sample(spec, shape=(FAN_IN, FAN_OUT)) -> np.ndarray:
    init = build_spec(registries.initializers, spec)
    return to_np(init(shape, dtype="float32"))


@pytest.mark.parametrize("name, variance, bound", [
    ("glorot_uniform", GLOROT_VAR, math.sqrt(6 / (FAN_IN + FAN_OUT))),
    # truncated at 2 standard deviations of the untruncated normal (stddev = sqrt(var) / .8796)
    ("glorot_normal", GLOROT_VAR, 2 * math.sqrt(GLOROT_VAR) / 0.87962566103423978),
    ("he_normal", HE_VAR, 2 * math.sqrt(HE_VAR) / 0.87962566103423978),
    ("he_uniform", HE_VAR, math.sqrt(6 / FAN_IN)),
])
def test_initializer_variance_matches_its_rule(name, variance, bound):
    w = sample({"type": name, "seed": 0})
    assert w.shape == (FAN_IN, FAN_OUT) and w.dtype == np.float32
    assert w.var() == pytest.approx(variance, rel=0.05)
    assert abs(w.mean()) < 0.05 * math.sqrt(variance)
    assert np.abs(w).max() <= bound * (1 + 1e-5)


def test_glorot_and_he_differ_by_fan_out():
    """Same fan_in, different fan_out: only Glorot's variance changes."""
    wide = (FAN_IN, 4 * FAN_IN)
    assert sample({"type": "glorot_normal", "seed": 1}, wide).var() == \
        pytest.approx(2 / (5 * FAN_IN), rel=0.05)
    assert sample({"type": "he_normal", "seed": 1}, wide).var() == pytest.approx(2 / FAN_IN, rel=0.05)


def test_zeros_initializer_is_all_zero():
    assert not sample("zeros", (7, 5)).any()


@pytest.mark.parametrize("alias, name", [
    ("xavier_uniform", "glorot_uniform"), ("xavier_normal", "glorot_normal"),
    ("kaiming_normal", "he_normal"), ("msra_normal", "he_normal"),
    ("kaiming_uniform", "he_uniform"), ("Xavier-Uniform", "glorot_uniform"),
])
def test_initializer_aliases_resolve_to_the_same_component(alias, name):
    assert registries.initializers.get(alias) is registries.initializers.get(name)
    a = sample({"type": alias, "seed": 3})
    b = sample({"type": name, "seed": 3})
    np.testing.assert_array_equal(a, b)


def test_seeded_initializer_is_reproducible_and_seed_matters():
    a = sample({"type": "he_uniform", "seed": 5})
    np.testing.assert_array_equal(a, sample({"type": "he_uniform", "seed": 5}))
    assert not np.array_equal(a, sample({"type": "he_uniform", "seed": 6}))


def test_layer_kernel_initializer_spec_is_applied():
    dense = layer({"type": "dense", "units": FAN_OUT, "kernel_initializer": {"type": "he_normal", "seed": 0},
                   "bias_initializer": "zeros"})
    dense.build((None, FAN_IN))
    assert to_np(dense.kernel).var() == pytest.approx(HE_VAR, rel=0.05)
    assert not to_np(dense.bias).any()


# -- regularizers ------------------------------------------------------------------------------------
W = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -0.25]], dtype="float32")


def penalty(spec, w=W) -> float:
    return float(to_np(build_spec(registries.regularizers, spec)(keras.ops.convert_to_tensor(w))))


def test_l2_is_factor_times_sum_of_squares():
    assert penalty({"type": "l2", "factor": 0.1}) == pytest.approx(0.1 * np.sum(W ** 2), rel=1e-6)


def test_l1_is_factor_times_sum_of_absolute_values():
    assert penalty({"type": "l1", "factor": 0.3}) == pytest.approx(0.3 * np.sum(np.abs(W)), rel=1e-6)


def test_l1_l2_is_the_sum_of_both():
    expected = 0.3 * np.sum(np.abs(W)) + 0.1 * np.sum(W ** 2)
    assert penalty({"type": "l1_l2", "l1": 0.3, "l2": 0.1}) == pytest.approx(expected, rel=1e-6)


def test_regularizer_defaults_are_001():
    assert penalty("l2") == pytest.approx(0.01 * np.sum(W ** 2), rel=1e-6)
    assert penalty("l1") == pytest.approx(0.01 * np.sum(np.abs(W)), rel=1e-6)


def test_dense_kernel_regularizer_spec_adds_exactly_its_penalty_to_layer_losses():
    dense = layer({"type": "dense", "units": 3, "kernel_regularizer": {"type": "l2", "factor": 0.1},
                   "kernel_initializer": "zeros"})
    dense.build((None, 2))
    dense.kernel.assign(W)
    losses = [float(to_np(x)) for x in dense.losses]
    assert losses == [pytest.approx(0.1 * np.sum(W ** 2), rel=1e-6)]


def test_no_regularizer_means_no_layer_losses():
    dense = layer({"type": "dense", "units": 3, "kernel_initializer": "zeros"})
    dense.build((None, 2))
    assert list(dense.losses) == []


def test_conv_kernel_and_bias_regularizers_both_count():
    conv = layer({"type": "conv1d", "filters": 2, "kernel_size": 1, "kernel_initializer": "zeros",
                  "kernel_regularizer": {"type": "l1", "factor": 0.5},
                  "bias_regularizer": {"type": "l2", "factor": 2.0}})
    conv.build((None, 4, 3))
    kernel = np.arange(6, dtype="float32").reshape(1, 3, 2) - 2.0
    conv.kernel.assign(kernel)
    conv.bias.assign(np.array([1.0, -3.0], dtype="float32"))
    total = sum(float(to_np(x)) for x in conv.losses)
    assert total == pytest.approx(0.5 * np.abs(kernel).sum() + 2.0 * 10.0, rel=1e-6)


# -- dropout -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_dropout_in_training_zeroes_rate_and_rescales_survivors(rate):
    drop = layer({"type": "dropout", "rate": rate, "seed": 0})
    ones = np.ones((100, 400), dtype="float32")
    out = to_np(drop(ones, training=True))
    zero = out == 0
    assert zero.mean() == pytest.approx(rate, abs=0.01)
    np.testing.assert_allclose(out[~zero], 1 / (1 - rate), rtol=1e-6)  # inverted dropout
    assert out.mean() == pytest.approx(1.0, abs=0.02)  # expectation preserved


def test_dropout_draws_a_new_mask_each_call():
    drop = layer({"type": "dropout", "rate": 0.5, "seed": 0})
    ones = np.ones((100, 400), dtype="float32")
    assert not np.array_equal(to_np(drop(ones, training=True)), to_np(drop(ones, training=True)))


def test_dropout_is_the_identity_at_inference():
    drop = layer({"type": "dropout", "rate": 0.5, "seed": 0})
    x = np.random.default_rng(0).normal(size=(16, 32)).astype("float32")
    np.testing.assert_array_equal(to_np(drop(x, training=False)), x)
    np.testing.assert_array_equal(to_np(drop(x)), x)  # outside fit, the default is inference


# -- batch normalization -----------------------------------------------------------------------------
def batch(shape=(256, 4), seed=0):
    """Channels with very different means and scales."""
    rng = np.random.default_rng(seed)
    means = np.array([5.0, -3.0, 0.0, 100.0], dtype="float32")
    stds = np.array([2.0, 0.5, 1.0, 10.0], dtype="float32")
    return (rng.normal(size=shape) * stds + means).astype("float32")


def test_batch_norm_training_normalizes_each_channel_with_batch_statistics():
    bn = layer({"type": "batch_norm"})
    x = batch()
    out = to_np(bn(x, training=True))
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(out.std(axis=0), 1.0, atol=3e-3)  # sqrt(var / (var + eps))
    # exactly (x - batch mean) / sqrt(batch variance + eps), with the fresh gamma = 1, beta = 0
    np.testing.assert_allclose(out, (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-3), rtol=1e-4, atol=1e-4)


def test_batch_norm_normalizes_over_batch_and_space_per_channel_of_images():
    bn = layer({"type": "batch_normalization"})  # the alias
    x = batch(shape=(8, 5, 5, 4))
    out = to_np(bn(x, training=True))
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-3)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1.0, atol=0.01)


def test_fresh_batch_norm_at_inference_uses_moving_stats_zero_and_one():
    eps = 1e-3
    bn = layer({"type": "batch_norm", "epsilon": eps})
    x = batch()
    np.testing.assert_allclose(to_np(bn(x, training=False)), x / np.sqrt(1 + eps), rtol=1e-5)


def test_batch_norm_moving_stats_follow_momentum():
    momentum, steps = 0.9, 3
    bn = layer({"type": "batch_norm", "momentum": momentum})
    x = batch()
    for _ in range(steps):
        bn(x, training=True)
    keep = momentum ** steps
    # moving = momentum * moving + (1 - momentum) * batch, from mean 0 / variance 1
    np.testing.assert_allclose(to_np(bn.moving_mean), (1 - keep) * x.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(to_np(bn.moving_variance), keep + (1 - keep) * x.var(axis=0), rtol=1e-4)
    # ... and inference now uses them, not the batch's own statistics
    mean, var = to_np(bn.moving_mean), to_np(bn.moving_variance)
    np.testing.assert_allclose(to_np(bn(x, training=False)), (x - mean) / np.sqrt(var + 1e-3),
                               rtol=1e-4, atol=1e-4)


def test_batch_norm_center_and_scale_switch_the_learned_parameters():
    full = layer({"type": "batch_norm"})
    full.build((None, 4))
    bare = layer({"type": "batch_norm", "center": False, "scale": False})
    bare.build((None, 4))
    assert len(full.trainable_weights) == 2 and full.count_params() == 16  # gamma, beta + 2 moving
    assert len(bare.trainable_weights) == 0 and bare.count_params() == 8


# -- activations -------------------------------------------------------------------------------------
POINTS = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0], dtype="float32")
FORMULAS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "leaky_relu": lambda x: np.where(x > 0, x, 0.1 * x),  # the course's max(0.1x, x)
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "gelu": lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    "softmax": lambda x: np.exp(x) / np.exp(x).sum(),
}


def test_every_builtin_activation_has_a_formula_here():
    builtin = {e.name for e in registries.activations.entries() if e.provider.plugin == "builtin"}
    assert builtin and builtin <= set(FORMULAS)


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_activation_matches_its_formula(name):
    fn = build_spec(registries.activations, name)
    x = POINTS[None, :]  # softmax normalizes over the last axis
    np.testing.assert_allclose(to_np(fn(x))[0], FORMULAS[name](POINTS.astype("float64")),
                               rtol=1e-5, atol=1e-6)


def test_gelu_is_close_to_its_tanh_approximation():
    gelu = build_spec(registries.activations, "gelu")
    approx = 0.5 * POINTS * (1 + np.tanh(math.sqrt(2 / math.pi) * (POINTS + 0.044715 * POINTS ** 3)))
    np.testing.assert_allclose(to_np(gelu(POINTS)), approx, atol=1e-3)


def test_softmax_rows_are_probabilities():
    softmax = build_spec(registries.activations, "softmax")
    logits = np.random.default_rng(0).normal(size=(5, 7)).astype("float32") * 10
    probs = to_np(softmax(logits))
    assert (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(probs.argmax(axis=-1), logits.argmax(axis=-1))


def test_identity_alias_is_linear():
    fn = build_spec(registries.activations, "identity")
    np.testing.assert_array_equal(to_np(fn(POINTS)), POINTS)


def test_activation_layer_and_layer_activation_argument_apply_the_function():
    act = layer({"type": "activation", "fn": "relu"})
    np.testing.assert_array_equal(to_np(act(POINTS)), np.maximum(POINTS, 0))
    dense = layer({"type": "dense", "units": 2, "activation": "tanh", "kernel_initializer": "zeros",
                   "bias_initializer": "zeros"})
    dense.build((None, 3))
    dense.bias.assign(np.array([0.5, -2.0], dtype="float32"))
    np.testing.assert_allclose(to_np(dense(np.ones((1, 3), "float32")))[0], np.tanh([0.5, -2.0]),
                               rtol=1e-6)


# -- layer shapes and parameter counts ---------------------------------------------------------------
@pytest.mark.parametrize("spec, input_shape, out_shape, params", [
    # ten 5x5 filters on 32x32x3: 5*5*3*10 weights + 10 biases
    ({"type": "conv2d", "filters": 10, "kernel_size": 5, "padding": "same"}, (32, 32, 3), (32, 32, 10), 760),
    ({"type": "conv2d", "filters": 10, "kernel_size": 5}, (32, 32, 3), (28, 28, 10), 760),
    ({"type": "conv2d", "filters": 10, "kernel_size": 5, "use_bias": False}, (32, 32, 3), (28, 28, 10), 750),
    ({"type": "conv2d", "filters": 4, "kernel_size": 3, "strides": 2}, (32, 32, 3), (15, 15, 4), 112),
    ({"type": "conv2d", "filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
     (32, 32, 3), (16, 16, 4), 112),
    # dilation 2: a 3x3 kernel spans 5x5
    ({"type": "conv2d", "filters": 4, "kernel_size": 3, "dilation_rate": 2}, (32, 32, 3), (28, 28, 4), 112),
    ({"type": "conv2d", "filters": 2, "kernel_size": [3, 5]}, (10, 10, 1), (8, 6, 2), 32),
    ({"type": "conv1d", "filters": 8, "kernel_size": 5}, (40, 1), (36, 8), 48),
    ({"type": "conv1d", "filters": 8, "kernel_size": 5, "strides": 2, "padding": "same"}, (40, 1), (20, 8), 48),
    ({"type": "conv1d", "filters": 8, "kernel_size": 3, "dilation_rate": 4}, (40, 2), (32, 8), 56),
    ({"type": "conv1d", "filters": 8, "kernel_size": 3, "dilation_rate": 2, "padding": "causal"},
     (40, 2), (40, 8), 56),
    ({"type": "max_pool2d"}, (32, 32, 10), (16, 16, 10), 0),
    ({"type": "max_pool2d", "pool_size": 3, "strides": 2}, (32, 32, 10), (15, 15, 10), 0),
    ({"type": "avg_pool2d", "pool_size": 3, "strides": 2, "padding": "same"}, (32, 32, 10), (16, 16, 10), 0),
    ({"type": "max_pool1d"}, (41, 8), (20, 8), 0),
    ({"type": "avg_pool1d", "pool_size": 4, "strides": 1}, (40, 8), (37, 8), 0),
    ({"type": "global_avg_pool2d"}, (7, 7, 10), (10,), 0),
    ({"type": "global_max_pool2d"}, (7, 7, 10), (10,), 0),
    ({"type": "global_avg_pool1d"}, (40, 8), (8,), 0),
    ({"type": "global_max_pool1d"}, (40, 8), (8,), 0),
    ({"type": "flatten"}, (4, 4, 10), (160,), 0),
    ({"type": "reshape", "target_shape": [4, -1]}, (40,), (4, 10), 0),
    ({"type": "dense", "units": 10}, (160,), (10,), 1610),
    ({"type": "dense", "units": 10, "use_bias": False}, (160,), (10,), 1600),
    ({"type": "dense", "units": 3}, (5, 7), (5, 3), 24),  # applied on the last axis
])
def test_layer_output_shape_and_parameter_count(spec, input_shape, out_shape, params):
    assert shape_of(spec, input_shape) == ((None, *out_shape), params)


def test_merge_layers_output_shapes():
    assert shape_of({"type": "add"}, (8,), (8,)) == ((None, 8), 0)
    assert shape_of({"type": "concatenate"}, (8,), (4,)) == ((None, 12), 0)
    assert shape_of({"type": "concatenate"}, (6, 6, 3), (6, 6, 5)) == ((None, 6, 6, 8), 0)
    assert shape_of({"type": "concatenate", "axis": 1}, (3, 4), (5, 4)) == ((None, 8, 4), 0)


def test_merge_layers_values():
    a = np.arange(6, dtype="float32").reshape(2, 3)
    b = np.full((2, 3), 10.0, dtype="float32")
    np.testing.assert_array_equal(to_np(layer("add")([a, b])), a + b)
    np.testing.assert_array_equal(to_np(layer("concatenate")([a, b])), np.concatenate([a, b], axis=-1))
    np.testing.assert_array_equal(to_np(layer({"type": "concatenate", "axis": 0})([a, b])),
                                  np.concatenate([a, b], axis=0))


def test_pooling_values():
    x = np.array([[1, 2, 5, 6], [3, 4, 7, 8], [0, 0, 1, 1], [0, -4, 1, 1]], dtype="float32")[None, :, :, None]
    np.testing.assert_array_equal(to_np(layer("max_pool2d")(x))[0, :, :, 0], [[4, 8], [0, 1]])
    np.testing.assert_array_equal(to_np(layer("avg_pool2d")(x))[0, :, :, 0], [[2.5, 6.5], [-1, 1]])
    np.testing.assert_array_equal(to_np(layer("global_max_pool2d")(x)), [[8]])
    np.testing.assert_allclose(to_np(layer("global_avg_pool2d")(x)), [[x.mean()]])
    seq = np.array([1, 5, -2, 0, 3], dtype="float32")[None, :, None]
    np.testing.assert_array_equal(to_np(layer("max_pool1d")(seq))[0, :, 0], [5, 0])  # last step dropped
    np.testing.assert_array_equal(to_np(layer({"type": "max_pool1d", "padding": "same"})(seq))[0, :, 0],
                                  [5, 0, 3])


def test_flatten_keeps_row_major_order():
    x = np.arange(24, dtype="float32").reshape(2, 3, 4)
    np.testing.assert_array_equal(to_np(layer("flatten")(x)), x.reshape(2, 12))


def test_causal_conv1d_never_looks_at_future_steps():
    conv = layer({"type": "conv1d", "filters": 3, "kernel_size": 3, "dilation_rate": 2, "padding": "causal",
                  "kernel_initializer": "zeros"})
    conv.build((None, 20, 2))
    rng = np.random.default_rng(0)
    conv.kernel.assign(rng.normal(size=(3, 2, 3)).astype("float32"))
    x = rng.normal(size=(1, 20, 2)).astype("float32")
    changed = x.copy()
    changed[0, 12:] += 5.0  # alter step 12 onwards
    y, y_changed = to_np(conv(x)), to_np(conv(changed))
    np.testing.assert_array_equal(y[0, :12], y_changed[0, :12])
    assert not np.allclose(y[0, 12:], y_changed[0, 12:])


def test_conv2d_computes_a_correlation():
    conv = layer({"type": "conv2d", "filters": 1, "kernel_size": 2, "kernel_initializer": "zeros"})
    conv.build((None, 3, 3, 1))
    conv.kernel.assign(np.array([[1, 0], [0, -1]], dtype="float32")[:, :, None, None])
    conv.bias.assign(np.array([0.5], dtype="float32"))
    x = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    # out[i, j] = x[i, j] - x[i+1, j+1] + 0.5 = -4 + 0.5 everywhere
    np.testing.assert_array_equal(to_np(conv(x))[0, :, :, 0], np.full((2, 2), -3.5))


# -- optimizers --------------------------------------------------------------------------------------
def step(optimizer, w0, grads):
    """Apply `grads` (one per step) to a variable starting at `w0`; the values after each step."""
    w = keras.Variable(np.asarray(w0, dtype="float32"))
    values = []
    for g in grads:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(np.asarray(g, dtype="float32")), w)])
        values.append(to_np(w))
    return values


def test_sgd_one_step_on_a_quadratic_is_w_minus_lr_grad():
    w0 = np.array([1.0, -2.0, 3.0], dtype="float32")
    grad = 2 * w0  # d/dw sum(w^2)
    (w1,) = step(build_spec(registries.optimizers, {"type": "sgd", "learning_rate": 0.1}), w0, [grad])
    np.testing.assert_allclose(w1, w0 - 0.1 * grad, rtol=1e-6)


def test_sgd_minimizes_a_quadratic_with_gradients_from_the_backend():
    opt = build_spec(registries.optimizers, {"type": "sgd", "learning_rate": 0.25})
    w = keras.Variable(np.array([4.0, -1.0], dtype="float32"))
    target = np.array([1.0, 2.0], dtype="float32")
    import jax

    def loss(v):
        return keras.ops.sum((v - target) ** 2)

    for _ in range(3):
        opt.apply_gradients([(jax.grad(loss)(w.value), w)])
    # each step halves the distance to the minimum: w <- w - 0.25 * 2 (w - t)
    np.testing.assert_allclose(to_np(w), target + (np.array([4.0, -1.0]) - target) / 8, rtol=1e-6)


def test_sgd_momentum_and_nesterov_reach_keras():
    opt = build_spec(registries.optimizers, {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9,
                                             "nesterov": True})
    assert isinstance(opt, keras.optimizers.SGD)
    assert opt.momentum == pytest.approx(0.9) and opt.nesterov is True
    assert float(to_np(opt.learning_rate)) == pytest.approx(0.1)
    plain = build_spec(registries.optimizers, "sgd")
    assert plain.momentum == 0.0 and plain.nesterov is False
    assert float(to_np(plain.learning_rate)) == pytest.approx(0.01)


def test_momentum_accumulates_and_nesterov_looks_ahead():
    lr, g = 0.1, [1.0]
    momentum = build_spec(registries.optimizers, {"type": "sgd", "learning_rate": lr, "momentum": 0.9})
    w1, w2 = step(momentum, [0.0], [g, g])
    np.testing.assert_allclose([w1[0], w2[0]], [-lr, -lr - 1.9 * lr], rtol=1e-6)  # v = 0.9 v - lr g
    nesterov = build_spec(registries.optimizers, {"type": "sgd", "learning_rate": lr, "momentum": 0.9,
                                                  "nesterov": True})
    (n1,) = step(nesterov, [0.0], [g])
    np.testing.assert_allclose(n1, [-1.9 * lr], rtol=1e-6)  # w += 0.9 v - lr g with v = -lr g


def test_sgd_clipping_options():
    clipnorm = build_spec(registries.optimizers, {"type": "sgd", "learning_rate": 1.0, "clipnorm": 1.0})
    (w,) = step(clipnorm, [0.0, 0.0], [[3.0, 4.0]])
    np.testing.assert_allclose(w, [-0.6, -0.8], rtol=1e-6)
    clipvalue = build_spec(registries.optimizers, {"type": "sgd", "learning_rate": 1.0, "clipvalue": 0.5})
    (w,) = step(clipvalue, [0.0, 0.0], [[3.0, -0.1]])
    np.testing.assert_allclose(w, [-0.5, 0.1], rtol=1e-6)


def test_sgd_weight_decay_shrinks_weights_without_gradient():
    opt = build_spec(registries.optimizers, {"type": "sgd", "learning_rate": 0.1, "weight_decay": 0.5})
    (w,) = step(opt, [2.0], [[0.0]])
    np.testing.assert_allclose(w, [2.0 * (1 - 0.1 * 0.5)], rtol=1e-6)  # decoupled: w -= lr * wd * w


def test_adam_first_step_is_lr_times_sign_of_gradient():
    lr = 0.01
    opt = build_spec(registries.optimizers, {"type": "adam", "learning_rate": lr})
    assert isinstance(opt, keras.optimizers.Adam)
    grads = np.array([100.0, -0.5, 3.0, -7.0], dtype="float32")  # the step ignores the magnitude
    (w1,) = step(opt, np.zeros(4), [grads])
    np.testing.assert_allclose(w1, -lr * np.sign(grads), rtol=1e-4)


def test_adam_arguments_reach_keras():
    opt = build_spec(registries.optimizers, {"type": "adam", "learning_rate": 3e-4, "beta_1": 0.8,
                                             "beta_2": 0.95, "epsilon": 1e-6, "amsgrad": True})
    assert (opt.beta_1, opt.beta_2, opt.epsilon, opt.amsgrad) == (0.8, 0.95, 1e-6, True)
    assert float(to_np(opt.learning_rate)) == pytest.approx(3e-4)


# -- schedules ---------------------------------------------------------------------------------------
def curve(spec, lr=0.1, steps_per_epoch=10, epochs=5):
    """The learning rate at every step of training, and a few steps past the end."""
    make = build_spec(registries.schedules, spec)
    schedule = make(lr, steps_per_epoch, epochs)
    assert isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
    steps = np.arange(steps_per_epoch * epochs + 5)
    if keras.backend.backend() == "jax":  # one compiled call instead of one eager call per step
        import jax

        return np.asarray(jax.jit(jax.vmap(schedule))(steps), dtype=np.float64)
    return np.array([float(to_np(schedule(s))) for s in steps])


def test_cosine_with_warmup():
    lr, final = 0.1, 0.1
    lrs = curve({"type": "cosine", "warmup_epochs": 1, "final_fraction": final}, lr=lr)
    assert lrs[0] == 0.0
    assert lrs[5] == pytest.approx(lr / 2)  # linear warmup
    assert np.all(np.diff(lrs[:11]) > 0)
    assert lrs[10] == pytest.approx(lr)  # peak at the end of warmup
    assert lrs.max() == pytest.approx(lr)
    assert np.all(np.diff(lrs[10:]) <= 1e-9)  # monotone decreasing after warmup
    assert lrs[50] == pytest.approx(final * lr, rel=1e-5)  # end of training
    assert lrs[30] == pytest.approx(lr * (final + (1 - final) * 0.5), rel=1e-5)  # half way through decay
    assert lrs[-1] == pytest.approx(final * lr, rel=1e-5)  # stays there


def test_cosine_without_warmup_starts_at_the_learning_rate():
    lrs = curve("cosine", lr=0.2)
    assert lrs[0] == pytest.approx(0.2)
    assert lrs[25] == pytest.approx(0.1, rel=1e-5)
    assert lrs[50] == pytest.approx(0.0, abs=1e-7)
    assert np.all(np.diff(lrs) <= 1e-9)


def test_constant_with_warmup_is_flat_after_warmup():
    lrs = curve({"type": "constant", "warmup_epochs": 2}, lr=0.05)
    assert lrs[0] == 0.0
    assert lrs[10] == pytest.approx(0.025)
    np.testing.assert_allclose(lrs[20:], 0.05, rtol=1e-6)


def test_constant_without_warmup_is_flat():
    np.testing.assert_allclose(curve("constant", lr=0.05), 0.05, rtol=1e-6)


def test_step_schedule_multiplies_by_factor_at_each_milestone():
    spe = 10
    lrs = curve({"type": "step", "milestones": [4, 2], "factor": 0.5}, lr=0.8, steps_per_epoch=spe, epochs=6)
    # whole epochs before, after and between the milestones (epochs 2 and 4)
    np.testing.assert_allclose(lrs[:2 * spe], 0.8)
    np.testing.assert_allclose(lrs[2 * spe:4 * spe], 0.4)
    np.testing.assert_allclose(lrs[4 * spe:], 0.2)


def test_step_schedule_first_batch_of_a_milestone_epoch_uses_the_new_rate():
    spe = 10
    lrs = curve({"type": "step", "milestones": [2], "factor": 0.5}, lr=0.8, steps_per_epoch=spe, epochs=4)
    assert lrs[2 * spe] == pytest.approx(0.4)


def test_step_schedule_through_the_optimizer_changes_rate_at_the_epoch_boundary():
    make = build_spec(registries.schedules, {"type": "step", "milestones": [1], "factor": 0.1})
    # as the trainer does: the schedule replaces the optimizer's learning rate
    opt = registries.optimizers.build("sgd", learning_rate=make(1.0, 2, 2))
    values = step(opt, [0.0], [[1.0]] * 4)  # epoch 0 = updates 1-2, epoch 1 = updates 3-4
    deltas = -np.diff(np.concatenate([[0.0], [v[0] for v in values]]))
    np.testing.assert_allclose(deltas, [1.0, 1.0, 0.1, 0.1], rtol=1e-5)


# -- losses ------------------------------------------------------------------------------------------
def loss_value(spec, y_true, y_pred) -> float:
    fn = build_spec(registries.losses, spec)
    return float(to_np(fn(np.asarray(y_true), np.asarray(y_pred, dtype="float32"))))


@pytest.mark.parametrize("classes", [2, 10])
def test_sparse_crossentropy_on_uniform_logits_is_ln_c(classes):
    logits = np.zeros((4, classes), dtype="float32")
    labels = np.arange(4) % classes
    value = loss_value({"type": "sparse_categorical_crossentropy", "from_logits": True}, labels, logits)
    assert value == pytest.approx(math.log(classes), rel=1e-6)


def test_sparse_crossentropy_on_probabilities_and_its_alias():
    probs = np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]], dtype="float32")
    expected = -(math.log(0.7) + math.log(0.5)) / 2
    assert loss_value("sparse_categorical_crossentropy", [0, 2], probs) == pytest.approx(expected, rel=1e-5)
    assert loss_value("sparse_cross_entropy", [0, 2], probs) == pytest.approx(expected, rel=1e-5)


def test_categorical_crossentropy_with_label_smoothing():
    probs = np.array([[0.2, 0.7, 0.1]], dtype="float32")
    smoothed = np.array([0, 1, 0]) * 0.9 + 0.1 / 3
    expected = -np.sum(smoothed * np.log(probs[0]))
    value = loss_value({"type": "categorical_crossentropy", "label_smoothing": 0.1}, [[0.0, 1.0, 0.0]], probs)
    assert value == pytest.approx(expected, rel=1e-5)


def test_mse_on_known_values():
    assert loss_value("mse", [[1.0, 2.0, 3.0]], [[1.0, 3.0, 5.0]]) == pytest.approx(5 / 3, rel=1e-6)
    assert loss_value("mean_squared_error", [[0.0], [0.0]], [[2.0], [4.0]]) == pytest.approx(10.0)


def test_binary_crossentropy_known_values():
    expected = -(math.log(0.8) + math.log(1 - 0.4)) / 2
    assert loss_value("binary_crossentropy", [[1.0], [0.0]], [[0.8], [0.4]]) == pytest.approx(expected, rel=1e-5)
    value = loss_value({"type": "binary_crossentropy", "from_logits": True}, [[1.0], [0.0]], [[0.0], [0.0]])
    assert value == pytest.approx(math.log(2), rel=1e-6)


# -- metrics -----------------------------------------------------------------------------------------
def test_metrics():
    assert build_spec(registries.metrics, "acc") == "accuracy"  # Keras picks the right accuracy
    mae = build_spec(registries.metrics, "mae")
    assert mae.name == "mae"
    mae.update_state(np.array([[1.0], [2.0]]), np.array([[2.0], [4.0]]))
    assert float(to_np(mae.result())) == pytest.approx(1.5)


# -- callbacks ---------------------------------------------------------------------------------------
def test_early_stopping_arguments_and_defaults():
    cb = build_spec(registries.callbacks, {"type": "early_stopping", "monitor": "val_accuracy", "patience": 3})
    assert isinstance(cb, keras.callbacks.EarlyStopping)
    assert (cb.monitor, cb.patience, cb.restore_best_weights) == ("val_accuracy", 3, True)
    default = build_spec(registries.callbacks, "early_stopping")
    assert (default.monitor, default.patience, default.restore_best_weights) == ("val_loss", 10, True)
    off = build_spec(registries.callbacks, {"type": "early_stopping", "restore_best_weights": False})
    assert off.restore_best_weights is False


# -- preprocessors -----------------------------------------------------------------------------------
def features(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 4)) * [1.0, 5.0, 0.1, 20.0] + [0.0, 10.0, -3.0, 100.0]).astype("float32")


def test_standardize_per_feature_uses_training_statistics():
    pre = build_spec(registries.preprocessors, "standardize").fit(features())
    train = pre.transform(features())
    assert train.dtype == np.float32
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(train.std(axis=0), 1.0, atol=1e-4)
    other = features(seed=1) * 2 + 1
    expected = (other - features().mean(axis=0)) / features().std(axis=0)
    np.testing.assert_allclose(pre.transform(other), expected, rtol=1e-4, atol=1e-4)
    assert not np.allclose(pre.transform(other).mean(axis=0), 0.0, atol=0.1)  # not its own statistics
    state = pre.state()
    assert state["mean"].shape == (4,) and state["std"].shape == (4,)


def test_standardize_global_uses_one_mean_and_std():
    x = features()
    pre = build_spec(registries.preprocessors, {"type": "standardize", "per": "global"}).fit(x)
    assert np.ndim(pre.mean) == 0 and np.ndim(pre.std) == 0
    assert float(pre.mean) == pytest.approx(x.mean(), rel=1e-4)
    out = pre.transform(x)
    assert out.mean() == pytest.approx(0.0, abs=1e-4) and out.std() == pytest.approx(1.0, rel=1e-4)
    assert out.std(axis=0).std() > 0.1  # features are not equalized individually


def test_standardize_per_pixel_on_images_and_constant_features():
    x = np.random.default_rng(0).uniform(size=(50, 8, 8, 1)).astype("float32")
    x[:, 0, 0, 0] = 0.0  # a blank corner pixel, as in digits
    pre = build_spec(registries.preprocessors, "standardize").fit(x)
    assert pre.mean.shape == (8, 8, 1)
    out = pre.transform(x)
    assert np.isfinite(out).all() and not out[:, 0, 0, 0].any()
    np.testing.assert_allclose(out[:, 1:, 1:].std(axis=0), 1.0, atol=1e-3)


def test_standardize_refuses_to_transform_before_fit():
    with pytest.raises(RuntimeError, match="before fit"):
        build_spec(registries.preprocessors, "standardize").transform(features())


# -- datasets ----------------------------------------------------------------------------------------
def test_digits_dataset():
    data = build_spec(registries.datasets, "digits")
    assert isinstance(data, Dataset)
    assert data.x.shape == (1797, 8, 8, 1) and data.x.dtype == np.float32
    assert data.x.min() == 0.0 and data.x.max() == 1.0
    assert np.issubdtype(data.y.dtype, np.integer) and set(np.unique(data.y)) == set(range(10))
    assert data.num_classes == 10 and not data.has_test and data.x_test is None
    raw = build_spec(registries.datasets, {"type": "digits", "scale": False})
    assert raw.x.max() == 16.0
    np.testing.assert_allclose(raw.x / 16, data.x)


def test_mnist1d_dataset_sizes_and_shapes():
    data = build_spec(registries.datasets, {"type": "mnist1d", "num_samples": 500})
    assert data.has_test
    assert data.x.shape == (400, 40, 1) and data.x_test.shape == (100, 40, 1)
    assert data.y.shape == (400,) and data.y_test.shape == (100,)
    assert data.x.dtype == np.float32 and data.y.dtype == np.int32
    assert set(np.unique(data.y)) <= set(range(10)) and data.num_classes == 10
    flat = build_spec(registries.datasets, {"type": "mnist1d", "num_samples": 500, "train_split": 0.6,
                                            "channels_last": False})
    assert flat.x.shape == (300, 40) and flat.x_test.shape == (200, 40)


def test_mnist1d_is_reproducible_from_its_seed():
    a = build_spec(registries.datasets, {"type": "mnist1d", "num_samples": 200, "seed": 1})
    b = build_spec(registries.datasets, {"type": "mnist1d", "num_samples": 200, "seed": 1})
    c = build_spec(registries.datasets, {"type": "mnist1d", "num_samples": 200, "seed": 2})
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_npz_dataset_without_test_split(tmp_path, monkeypatch):
    x = np.random.default_rng(0).normal(size=(30, 5)).astype("float32")
    y = np.arange(30) % 3
    np.savez(tmp_path / "train.npz", x=x, y=y)
    monkeypatch.chdir(tmp_path)  # the path is relative to the working directory
    data = build_spec(registries.datasets, {"type": "npz", "path": "train.npz"})
    np.testing.assert_array_equal(data.x, x)
    np.testing.assert_array_equal(data.y, y)
    assert not data.has_test and data.num_classes == 3 and data.name == "train"


def test_npz_dataset_with_test_split_and_custom_keys(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "all.npz"
    np.savez(path, features=rng.normal(size=(20, 2)), labels=rng.normal(size=20),
             x_test=rng.normal(size=(7, 2)), y_test=rng.normal(size=7))
    data = build_spec(registries.datasets, {"type": "npz", "path": str(path), "x_key": "features",
                                            "y_key": "labels"})
    assert data.has_test and data.x.shape == (20, 2) and data.x_test.shape == (7, 2)
    assert data.num_classes is None  # float targets: regression


def test_npz_dataset_missing_file(tmp_path):
    missing = tmp_path / "nowhere.npz"
    with pytest.raises(ValueError) as error:  # refused by the argument's check, before the factory
        build_spec(registries.datasets, {"type": "npz", "path": str(missing)})
    assert str(error.value) == f"path: expected an existing file (not found: {missing}). Received: '{missing}'"


def test_npz_dataset_missing_key_names_it_and_the_keys_present(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 2)), labels=np.zeros(3))
    with pytest.raises(DataError) as error:
        build_spec(registries.datasets, {"type": "npz", "path": str(path)})
    assert str(error.value) == f"data.source.y_key: no array 'y' in {path}. Arrays: labels, x"


def test_npz_dataset_refuses_pickled_arrays(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="allow_pickle"):
        build_spec(registries.datasets, {"type": "npz", "path": str(path)})


def test_npz_dataset_with_half_a_test_split_is_an_error(tmp_path):
    path = tmp_path / "half.npz"
    np.savez(path, x=np.zeros((4, 2)), y=np.arange(4), x_test=np.zeros((2, 2)))
    with pytest.raises(DataError, match="expected both 'x_test' and 'y_test'"):
        build_spec(registries.datasets, {"type": "npz", "path": str(path)})


def test_dataset_fingerprint():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(10, 3)).astype("float32"), np.arange(10)
    a = Dataset(x, y)
    assert a.fingerprint() == Dataset(x.copy(), y.copy()).fingerprint()  # equal arrays, same id
    assert a.fingerprint() == Dataset(np.asfortranarray(x), y).fingerprint()  # memory layout ignored
    changed = x.copy()
    changed[4, 1] += 1e-3
    assert Dataset(changed, y).fingerprint() != a.fingerprint()
    assert Dataset(x.astype("float64"), y).fingerprint() != a.fingerprint()
    assert Dataset(x.reshape(10, 3, 1), y).fingerprint() != a.fingerprint()
    assert Dataset(x, y, x[:2], y[:2]).fingerprint() != a.fingerprint()
    assert len(a.fingerprint()) == 16


def test_dataset_validates_its_arrays():
    with pytest.raises(ValueError, match="as many labels"):
        Dataset(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="both x_test and y_test"):
        Dataset(np.zeros((3, 2)), np.zeros(3), x_test=np.zeros((1, 2)))


# -- splits ------------------------------------------------------------------------------------------
def labelled(n=1000, minority=0.2):
    """x holds each example's id; labels are imbalanced (minority class 1)."""
    y = (np.arange(n) < n * minority).astype(np.int64)
    return np.arange(n).reshape(n, 1), np.random.default_rng(0).permutation(y)


def test_split_without_own_test_split_holds_out_test_then_val():
    x, y = labelled()
    splits = split_dataset(Dataset(x, y), val=0.1, test=0.2, stratify=False, seed=0)
    assert splits.sizes() == {"train": 700, "val": 100, "test": 200}  # fractions of the whole data
    ids = [s.ravel() for s in (splits.x_train, splits.x_val, splits.x_test)]
    all_ids = np.concatenate(ids)
    assert len(np.unique(all_ids)) == 1000  # disjoint and complete
    for xs, ys in ((splits.x_train, splits.y_train), (splits.x_val, splits.y_val), (splits.x_test, splits.y_test)):
        np.testing.assert_array_equal(ys, y[xs.ravel()])  # labels travel with their examples


def test_split_keeps_the_datasets_own_test_split_untouched():
    x, y = labelled()
    x_test, y_test = np.arange(300).reshape(300, 1) + 10_000, np.arange(300) % 2
    data = Dataset(x, y, x_test, y_test)
    splits = split_dataset(data, val=0.1, test=0.2, stratify=True, seed=0)
    assert splits.sizes() == {"train": 900, "val": 100, "test": 300}  # `test` is ignored
    assert splits.x_test is x_test and splits.y_test is y_test


def test_stratified_split_keeps_class_proportions():
    x, y = labelled(minority=0.2)
    splits = split_dataset(Dataset(x, y), val=0.1, test=0.2, stratify=True, seed=3)
    assert splits.y_train.mean() == pytest.approx(0.2, abs=1 / 700)
    assert splits.y_val.mean() == pytest.approx(0.2, abs=1 / 100)
    assert splits.y_test.mean() == pytest.approx(0.2, abs=1 / 200)


def test_split_is_reproducible_from_its_seed():
    x, y = labelled()
    a = split_dataset(Dataset(x, y), val=0.1, test=0.2, stratify=True, seed=7)
    b = split_dataset(Dataset(x, y), val=0.1, test=0.2, stratify=True, seed=7)
    c = split_dataset(Dataset(x, y), val=0.1, test=0.2, stratify=True, seed=8)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, c.x_val)


def test_stratify_is_skipped_for_regression_targets():
    x = np.arange(100).reshape(100, 1)
    y = np.linspace(0, 1, 100)
    splits = split_dataset(Dataset(x, y), val=0.2, test=0.2, stratify=True, seed=0)
    assert splits.sizes() == {"train": 60, "val": 20, "test": 20}
