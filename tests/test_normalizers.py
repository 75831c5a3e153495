"""Normalization layers normalize over the axes the course draws, and `normalizer:` puts the norm
between a dense/conv layer and its activation.

For conv features x: N x H x W x C (channels last), the statistics mu, sigma are taken over
batch norm: N, H, W · layer norm: H, W, C · instance norm: H, W · group norm: H, W and the channels
of a group. Each learns a scale gamma and shift beta per channel.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline.recipe.lint import check_normalizers, lint
from pipeline.recipe.validate import plan_recipe
from tests.helpers import layer, to_np

pytestmark = pytest.mark.usefixtures("backend_started")

EPS = 1e-3


def images(shape=(6, 5, 5, 4), seed=0) -> np.ndarray:
    """Every example and channel with its own offset and scale."""
    rng = np.random.default_rng(seed)
    n, c = shape[0], shape[-1]
    offsets = rng.normal(scale=5.0, size=(n, 1, 1, c))
    scales = rng.uniform(0.5, 4.0, size=(n, 1, 1, c))
    return (rng.normal(size=shape) * scales + offsets).astype("float32")


def normalized(x, axes):
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + EPS)


@pytest.mark.parametrize("spec, axes", [
    ("layer_norm", (1, 2, 3)),                   # each example over H, W, C
    ("instance_norm", (1, 2)),                   # each example and channel over H, W
])
def test_layer_and_instance_norm_use_the_courses_axes(spec, axes):
    x = images()
    out = to_np(layer(spec)(x))
    np.testing.assert_allclose(out, normalized(x, axes), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out.mean(axis=axes), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=axes), 1.0, atol=1e-2)


def test_group_norm_normalizes_each_group_of_channels_per_example():
    x = images(shape=(3, 4, 4, 6))
    out = to_np(layer({"type": "group_norm", "groups": 2})(x))
    for g in range(2):  # channels 0-2 and 3-5
        part = x[..., 3 * g:3 * (g + 1)]
        np.testing.assert_allclose(out[..., 3 * g:3 * (g + 1)], normalized(part, (1, 2, 3)), rtol=1e-4, atol=1e-4)
    # not per channel: one channel of a group keeps its offset relative to the others
    assert np.abs(out.mean(axis=(1, 2))).max() > 0.1


def test_group_norm_extremes_are_layer_and_instance_norm():
    x = images(shape=(3, 4, 4, 6))
    np.testing.assert_allclose(to_np(layer({"type": "group_norm", "groups": 1})(x)), to_np(layer("layer_norm")(x)),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_np(layer({"type": "group_norm", "groups": 6})(x)), to_np(layer("instance_norm")(x)),
                               rtol=1e-5, atol=1e-5)


def test_layer_norm_on_features_and_per_position():
    x = np.random.default_rng(1).normal(size=(8, 12)).astype("float32") * 3 + 7
    np.testing.assert_allclose(to_np(layer("layer_norm")(x)), normalized(x, (1,)), rtol=1e-4, atol=1e-4)
    seq = images(shape=(2, 5, 5, 3)).reshape(2, 25, 3)
    per_position = to_np(layer({"type": "layer_norm", "axis": -1})(seq))  # Keras' LayerNormalization
    np.testing.assert_allclose(per_position, normalized(seq, (2,)), rtol=1e-4, atol=1e-4)


def test_sample_norms_are_the_same_in_training_and_inference_and_learn_per_channel_parameters():
    x = images()
    for spec in ("layer_norm", "instance_norm", {"type": "group_norm", "groups": 2}):
        norm = layer(spec)
        np.testing.assert_array_equal(to_np(norm(x, training=True)), to_np(norm(x, training=False)))
        assert [tuple(w.shape) for w in norm.trainable_weights] == [(4,), (4,)]  # gamma, beta per channel
        assert not norm.non_trainable_weights  # no moving statistics


def test_group_norm_rejects_groups_that_do_not_divide_the_channels():
    with pytest.raises(ValueError, match="multiple"):
        layer({"type": "group_norm", "groups": 3})(images())


# -- normalizer: on dense and conv layers -------------------------------------------------------------
def test_normalizer_puts_the_norm_between_the_layer_and_its_activation():
    block = layer({"type": "dense", "units": 6, "normalizer": "batch_norm", "activation": "relu"})
    assert isinstance(block, keras.Sequential)
    dense, norm, act = block.layers
    assert isinstance(dense, keras.layers.Dense) and isinstance(norm, keras.layers.BatchNormalization)
    assert isinstance(act, keras.layers.Activation)
    assert dense.use_bias is False and dense.activation is keras.activations.linear  # beta is the bias
    x = np.random.default_rng(0).normal(size=(512, 5)).astype("float32") * 3 + 2
    out = to_np(block(x, training=True))
    pre = to_np(norm(dense(x), training=True))
    np.testing.assert_allclose(pre.mean(axis=0), 0.0, atol=1e-4)  # normalized before relu ...
    np.testing.assert_allclose(out, np.maximum(pre, 0.0))         # ... then relu
    # relu of a unit Gaussian: half the units fire, mean 1/sqrt(2 pi)
    np.testing.assert_allclose((out > 0).mean(axis=0), 0.5, atol=0.06)
    np.testing.assert_allclose(out.mean(axis=0), 1 / np.sqrt(2 * np.pi), atol=0.06)


def test_without_normalizer_the_layer_is_unchanged():
    dense = layer({"type": "dense", "units": 3})
    assert isinstance(dense, keras.layers.Dense) and dense.use_bias is True
    assert layer({"type": "conv2d", "filters": 2, "kernel_size": 1, "use_bias": False}).use_bias is False


@pytest.mark.parametrize("spec, shape, norm_class", [
    ({"type": "conv1d", "filters": 4, "kernel_size": 3, "padding": "same",
      "normalizer": {"type": "group_norm", "groups": 2}, "activation": "tanh"}, (10, 3),
     keras.layers.GroupNormalization),
    ({"type": "conv2d", "filters": 4, "kernel_size": 3, "normalizer": "instance_norm", "activation": "relu"},
     (6, 6, 2), keras.layers.GroupNormalization),
    ({"type": "dropconnect_dense", "units": 4, "normalizer": "layer_norm", "activation": "relu"},
     (5,), keras.layers.GroupNormalization),
])
def test_normalizer_on_conv_and_dropconnect_layers(spec, shape, norm_class):
    block = layer({**spec, "kernel_initializer": "zeros"})
    core, norm, act = block.layers
    assert core.use_bias is False and isinstance(norm, norm_class) and isinstance(act, keras.layers.Activation)
    inputs = keras.Input(shape)
    assert block(inputs).shape[-1] == 4


def test_normalizer_keeps_an_explicit_bias_and_a_given_name():
    block = layer({"type": "conv1d", "filters": 2, "kernel_size": 1, "normalizer": "batch_norm",
                   "use_bias": True, "name": "stem"})
    assert block.name == "stem" and block.layers[0].use_bias is True
    assert len(block.layers) == 2  # no activation given: [conv, norm]


def test_parameter_count_with_a_normalizer():
    block = layer({"type": "conv2d", "filters": 8, "kernel_size": 3, "normalizer": "batch_norm", "activation": "relu",
                   "kernel_initializer": "zeros"})
    block.build((None, 6, 6, 3))
    # 3*3*3*8 weights, no bias; batch norm: gamma, beta, moving mean, moving variance per channel
    assert block.count_params() == 3 * 3 * 3 * 8 + 4 * 8


RECIPE = {"data": {"source": "digits"}, "train": {"epochs": 1, "loss": "sparse_categorical_crossentropy"}}


def test_normalizer_must_name_a_normalization_layer():
    dense = {"type": "dense", "units": 2, "normalizer": {"type": "dropout", "rate": 0.1}}
    data = {**RECIPE, "model": {"layers": [dense]}}
    plan, problems = plan_recipe(data, run_lint=False)
    assert problems == []
    (problem,) = check_normalizers(plan)
    assert plan_recipe(data)[1] == [problem]  # validation reports it
    assert problem.path == ("model", "layers", 0, "normalizer")
    assert "expected a normalization layer. Received: 'dropout'" in problem.message
    assert "batch_norm, group_norm, instance_norm, layer_norm" in problem.message
    good = {**RECIPE, "model": {"defaults": {"normalizer": {"type": "group_norm", "groups": 1}},
                                "layers": [{"type": "dense", "units": 2}, {"type": "conv1d", "filters": 2,
                                                                          "kernel_size": 1}]}}
    plan, problems = plan_recipe(good)
    assert problems == [] and lint(plan) == []
    assert plan.layers[0].layer.kwargs["normalizer"].name == "group_norm"


def test_normalizer_arguments_are_validated_like_any_component():
    data = {**RECIPE, "model": {"layers": [{"type": "dense", "units": 2,
                                            "normalizer": {"type": "batch_norm", "momentun": 0.9}}]}}
    _, problems = plan_recipe(data)
    assert [p.path for p in problems] == [("model", "layers", 0, "normalizer", "momentun")]
    assert "did you mean 'momentum'" in problems[0].message
