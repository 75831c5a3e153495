"""Residual block and maxout, shown by their formulas; and every layer of this family (regularization
layers, normalizers, DropConnect, maxout, residual block, `normalizer:`) saved in a model and reloaded
with identical predictions.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from pipeline import registries
from pipeline.model.network import build_model
from pipeline.keras_compat import save_model, tensorflow_probe_disabled
from pipeline.recipe.validate import plan_recipe
from tests.helpers import layer, to_np

pytestmark = pytest.mark.usefixtures("backend_started")

EPS = 1e-3  # batch norm's epsilon


def rand(*shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


# -- residual block ----------------------------------------------------------------------------------
def block(shape, **spec):
    """A built block with random convolution kernels (drawn by NumPy: no per-shape compile)."""
    res = layer({"type": "residual_block", "kernel_initializer": "zeros", **spec})
    res.build((None, *shape))
    rng = np.random.default_rng(1)
    for conv in (res.conv1, res.conv2, res.shortcut_conv):
        if conv is not None:
            conv.kernel.assign(rng.normal(scale=0.3, size=conv.kernel.shape).astype("float32"))
    return res


def zero_branch(res):
    """gamma = beta = 0 in the branch's last norm: F(x) = 0, only the shortcut is left."""
    res.norm2.gamma.assign(np.zeros(res.norm2.gamma.shape, "float32"))
    res.norm2.beta.assign(np.zeros(res.norm2.beta.shape, "float32"))


def branch(res, x):
    y = res.act1(res.norm1(res.conv1(x), training=False))
    return to_np(res.norm2(res.conv2(y), training=False))


def test_identity_shortcut_adds_the_input():
    x = rand(2, 6, 6, 4)
    res = block((6, 6, 4), filters=4)
    assert not res.projection and res.shortcut_conv is None
    # out = relu(F(x) + x)
    np.testing.assert_allclose(to_np(res(x)), np.maximum(branch(res, x) + x, 0), rtol=1e-5, atol=1e-5)
    zero_branch(res)
    np.testing.assert_allclose(to_np(res(x)), np.maximum(x, 0), rtol=1e-6, atol=1e-6)
    linear = block((6, 6, 4), filters=4, activation="linear")
    zero_branch(linear)
    np.testing.assert_allclose(to_np(linear(x)), x, rtol=1e-6, atol=1e-6)  # exactly the input


@pytest.mark.parametrize("strides, filters, out_shape", [(2, 4, (3, 3, 4)), (1, 8, (6, 6, 8)), (2, 8, (3, 3, 8))])
def test_projection_shortcut_when_stride_or_channels_change(strides, filters, out_shape):
    x = rand(2, 6, 6, 4)
    res = block((6, 6, 4), filters=filters, strides=strides, activation="linear")
    assert res.projection
    assert tuple(res.shortcut_conv.kernel.shape) == (1, 1, 4, filters)
    assert tuple(res.shortcut_conv.strides) == (strides, strides)
    zero_branch(res)
    out = to_np(res(x))
    assert out.shape == (2, *out_shape)
    # 1x1 convolution with stride s (samples every s-th position), then the fresh norm x / sqrt(1 + eps)
    projected = x[:, ::strides, ::strides, :] @ to_np(res.shortcut_conv.kernel)[0, 0]
    np.testing.assert_allclose(out, projected / np.sqrt(1 + EPS), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape, spec, expected", [
    # identity: two 3x3 convs 4->4 (no bias: the norm's beta), two batch norms of 4 parameters per channel
    ((6, 6, 4), {"filters": 4}, 2 * 3 * 3 * 4 * 4 + 2 * 4 * 4),
    # projection: 3x3 4->8, 3x3 8->8, 1x1 4->8, three batch norms on 8 channels
    ((6, 6, 4), {"filters": 8, "strides": 2}, 3 * 3 * 4 * 8 + 3 * 3 * 8 * 8 + 4 * 8 + 3 * 4 * 8),
    # 1-D, group norm (gamma, beta only), projection
    ((10, 3), {"filters": 6, "kernel_size": 5, "normalizer": {"type": "group_norm", "groups": 2}},
     5 * 3 * 6 + 5 * 6 * 6 + 3 * 6 + 3 * 2 * 6),
    # no norms: the convolutions get biases
    ((10, 6), {"filters": 6, "normalizer": None}, 2 * (3 * 6 * 6 + 6)),
])
def test_residual_block_parameter_count_matches_a_hand_count(shape, spec, expected):
    assert block(shape, **spec).count_params() == expected


def test_residual_block_1d():
    x = rand(2, 10, 3)
    res = block((10, 3), filters=5, strides=2, activation="linear")
    assert isinstance(res.conv1, keras.layers.Conv1D) and to_np(res(x)).shape == (2, 5, 5)
    zero_branch(res)
    projected = x[:, ::2, :] @ to_np(res.shortcut_conv.kernel)[0]
    np.testing.assert_allclose(to_np(res(x)), projected / np.sqrt(1 + EPS), rtol=1e-4, atol=1e-5)


def test_residual_block_refuses_flat_inputs():
    with pytest.raises(ValueError, match=r"Expected a \(batch, steps, channels\).*Received: input_shape"):
        block((12,), filters=4)


def test_residual_blocks_in_a_sequential_recipe_list():
    data = {"data": {"source": "digits"}, "train": {"epochs": 1, "loss": "sparse_categorical_crossentropy"},
            "model": {"defaults": {"kernel_regularizer": {"type": "l2", "factor": 1e-4},
                                   "kernel_initializer": "zeros"},
                      "layers": [{"type": "residual_block", "filters": 8, "strides": 2},
                                 {"type": "residual_block", "filters": 8, "name": "block2"},
                                 {"type": "global_avg_pool2d"}, {"type": "dense", "units": 10}]}}
    plan, problems = plan_recipe(data)
    assert problems == []
    model = build_model(plan.layers, plan.outputs, (8, 8, 1))
    assert model.output.shape == (None, 10) and model.get_layer("block2").count_params() == 2 * (576 + 32)
    # model.defaults reach the block's convolutions
    assert len(model.get_layer("block2").losses) == 2


# -- maxout ------------------------------------------------------------------------------------------
def test_maxout_is_the_max_over_pieces_of_linear_functions():
    units, pieces = 4, 3
    mo = layer({"type": "maxout", "units": units, "pieces": pieces})
    mo.build((None, 5))
    w, b = rand(5, units, pieces, seed=1), rand(units, pieces, seed=2)
    mo.kernel.assign(w)
    mo.bias.assign(b)
    x = rand(7, 5, seed=3)
    expected = np.max(np.einsum("ni,iuk->nuk", x, w) + b, axis=-1)  # max_k (w_k.x + b_k)
    np.testing.assert_allclose(to_np(mo(x)), expected, rtol=1e-5, atol=1e-5)
    assert mo.count_params() == 5 * units * pieces + units * pieces


def test_maxout_generalizes_relu_and_applies_on_the_last_axis():
    mo = layer({"type": "maxout", "units": 2})
    mo.build((None, 3))
    w = rand(3, 2, seed=4)
    mo.kernel.assign(np.stack([w, np.zeros_like(w)], axis=-1))  # pieces: w.x and 0
    x = rand(6, 4, 3, seed=5)  # a sequence: applied at every step
    np.testing.assert_allclose(to_np(mo(x)), np.maximum(x @ w, 0), rtol=1e-5, atol=1e-6)


# -- every layer of this family saves and reloads ----------------------------------------------------
ROUND_TRIP = [
    ({"type": "spatial_dropout1d", "rate": 0.3}, (6, 4)),
    ({"type": "spatial_dropout2d", "rate": 0.3}, (4, 4, 3)),
    ({"type": "gaussian_noise", "stddev": 0.5}, (5,)),
    ({"type": "dropconnect_dense", "units": 3, "rate": 0.4, "seed": 1,
      "kernel_regularizer": {"type": "elastic", "l1": 0.01, "l2": 0.01}, "kernel_constraint": "max_norm"}, (5,)),
    ({"type": "dropconnect_conv1d", "filters": 3, "kernel_size": 3, "padding": "causal"}, (6, 2)),
    ({"type": "dropconnect_conv2d", "filters": 3, "kernel_size": 3, "normalizer": "batch_norm",
      "activation": "relu"}, (5, 5, 2)),
    ({"type": "maxout", "units": 3, "pieces": 4, "kernel_constraint": {"type": "unit_norm"}}, (5,)),
    ({"type": "residual_block", "filters": 4, "strides": 2}, (6, 6, 2)),
    ({"type": "residual_block", "filters": 2, "normalizer": "instance_norm", "activation": "elu"}, (6, 2)),
    ({"type": "residual_block", "filters": 2, "normalizer": None}, (6, 2)),
    ({"type": "layer_norm"}, (4, 4, 3)),
    ({"type": "layer_norm", "axis": -1}, (6, 3)),
    ({"type": "group_norm", "groups": 3}, (4, 4, 6)),
    ({"type": "instance_norm"}, (6, 3)),
    ({"type": "dense", "units": 3, "normalizer": {"type": "batch_norm", "momentum": 0.9}, "activation": "relu",
      "kernel_constraint": "non_neg"}, (5,)),
    ({"type": "conv1d", "filters": 4, "kernel_size": 3, "normalizer": {"type": "group_norm", "groups": 2}}, (6, 2)),
    ({"type": "conv2d", "filters": 2, "kernel_size": 1, "normalizer": "layer_norm", "activation": "tanh"}, (3, 3, 2)),
]


def randomize(model):
    """Non-trivial weights everywhere (moving variances stay positive), so a reload has to restore them."""
    rng = np.random.default_rng(7)
    for v in model.weights:
        if "float" in str(v.dtype):
            v.assign(rng.uniform(0.5, 1.5, size=v.shape).astype(v.dtype) * rng.choice([-1, 1], size=v.shape)
                     if "variance" not in v.path else rng.uniform(0.5, 1.5, size=v.shape).astype(v.dtype))


@pytest.mark.parametrize("spec, shape", ROUND_TRIP, ids=lambda v: v["type"] if isinstance(v, dict) else "")
def test_saves_and_reloads_with_identical_predictions(spec, shape, tmp_path):
    if "kernel_initializer" in registries.layers.get(spec["type"]).signature.parameters:
        spec = {"kernel_initializer": "zeros", **spec}  # no random draw (a compile per shape on JAX)
    inputs = keras.Input(shape)
    built = layer(spec)
    model = keras.Model(inputs, built(inputs))
    randomize(model)  # ... the weights are random all the same
    x = rand(3, *shape, seed=8)
    path = tmp_path / "model.keras"
    save_model(model, path)
    with tensorflow_probe_disabled():
        reloaded = keras.saving.load_model(path)
    assert type(reloaded.layers[1]) is type(built)
    np.testing.assert_array_equal(to_np(reloaded(x)), to_np(model(x)))
    with tensorflow_probe_disabled():  # Keras' config serializer would import TensorFlow
        saved, original = reloaded.layers[1].get_config(), built.get_config()
    assert json.loads(json.dumps(saved)) == json.loads(json.dumps(original))  # (tuples become lists)
