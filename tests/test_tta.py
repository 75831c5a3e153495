"""Test-time augmentation: the output is the mean of the model's outputs on the transformed inputs."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline.keras_compat import set_seed
from pipeline.recipe import load_recipe
from pipeline.recipe.transfer_schema import TTA
from pipeline.tta import crop_boxes, evaluate_tta, tta_model
from tests.helpers import to_np

pytestmark = pytest.mark.usefixtures("backend_started")


def small_model():
    set_seed(0)
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(3, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Flatten()(x)  # position-dependent, so flips and crops change the output
    return keras.Model(inputs, keras.layers.Dense(4)(x))


def test_crop_boxes_are_the_fixed_five():
    assert crop_boxes(8, 10, 6, ["center", "top_left", "top_right", "bottom_left", "bottom_right"]) == \
        [(1, 2), (0, 0), (0, 4), (2, 0), (2, 4)]
    with pytest.raises(ValueError, match="larger than the 8x8 input"):
        crop_boxes(8, 8, 9, ["center"])


def test_tta_output_is_the_mean_over_the_transformed_inputs():
    model = small_model()
    x = np.random.default_rng(0).normal(size=(5, 8, 8, 2)).astype("float32")
    tta = TTA(flips=["horizontal", "vertical"], crops={"size": 6, "positions": ["center", "top_left"]})

    def predict(images):
        return to_np(model(images, training=False))

    def resized(crop):
        return to_np(keras.ops.image.resize(crop, (8, 8), interpolation="bilinear"))

    views = [x, resized(x[:, 1:7, 1:7]), resized(x[:, 0:6, 0:6])]
    views += [v[:, :, ::-1] for v in views[:3]] + [v[:, ::-1, :] for v in views[:3]]
    expected = np.mean([predict(v) for v in views], axis=0)
    np.testing.assert_allclose(to_np(tta_model(model, tta)(x)), expected, rtol=1e-5, atol=1e-6)
    # and it is not the plain prediction
    assert not np.allclose(expected, predict(x), atol=1e-3)


def test_tta_metrics_score_the_averaged_predictions(write_recipe):
    loaded = load_recipe(write_recipe("r.yaml", """\
data: {source: {type: shapes, num_samples: 8, num_test: 4}}
model: {layers: [{type: flatten}, {type: dense, units: 4}]}
train:
  epochs: 1
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
  tta: {flips: [horizontal]}
"""))
    model = small_model()
    model.compile(loss="mse")  # a compiled model's own metrics must not leak into the TTA scores
    x = np.random.default_rng(1).normal(size=(6, 8, 8, 2)).astype("float32")
    y = np.array([0, 1, 2, 3, 0, 1])
    averaged = (to_np(model(x)) + to_np(model(x[:, :, ::-1]))) / 2
    shifted = averaged - averaged.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    scores = evaluate_tta(model, loaded.plan, x, y, batch_size=4)
    assert scores["test_tta_accuracy"] == pytest.approx(np.mean(averaged.argmax(axis=1) == y))
    assert scores["test_tta_loss"] == pytest.approx(-log_softmax[np.arange(6), y].mean(), rel=1e-5)


def test_tta_refuses_outputs_it_cannot_average():
    inputs = keras.Input((8, 8, 1))
    segmenter = keras.Model(inputs, keras.layers.Conv2D(1, 1)(inputs))
    with pytest.raises(ValueError, match="spatial output would need the transforms undone"):
        tta_model(segmenter, TTA(flips=["horizontal"]))
