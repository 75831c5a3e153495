"""Augmentation layers: identity at inference, a change in training, and the numbers of the ones written here."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline import registries
from tests.helpers import layer, to_np

pytestmark = pytest.mark.usefixtures("backend_started")

IMAGE = (12, 12, 3)
SEQUENCE = (40, 1)
#: every augmentation layer, with the input it is meant for and arguments that make a change certain
AUGMENTATIONS = {
    "random_flip": (IMAGE, {"mode": "horizontal_and_vertical"}),
    "random_translation": (IMAGE, {"height_factor": 0.3, "width_factor": 0.3}),
    "random_rotation": (IMAGE, {"factor": 0.2}),
    "random_zoom": (IMAGE, {"height_factor": 0.3}),
    "random_shear": (IMAGE, {"shear": 0.1}),
    "random_crop": (IMAGE, {"padding": 3}),
    "random_shift": (SEQUENCE, {"max_shift": 5}),
    "random_time_scale": (SEQUENCE, {"factor": 0.3}),
    "random_affine": (IMAGE, {}),
    "random_resized_crop": (IMAGE, {"scale": [0.2, 0.6]}),
    "random_erasing": (IMAGE, {"value_range": [0, 1], "scale": [0.1, 0.3]}),
    "random_brightness": (IMAGE, {"value_range": [0, 1], "factor": 0.4}),
    "random_contrast": (IMAGE, {"value_range": [0, 1], "factor": 0.5}),
    "random_saturation": (IMAGE, {"value_range": [0, 1], "factor": [0.1, 0.9]}),
    "random_hue": (IMAGE, {"value_range": [0, 1], "factor": 0.4}),
    "random_color_jitter": (IMAGE, {"value_range": [0, 1], "saturation": [0.1, 0.9], "hue": 0.3}),
}


def batch(shape, n=6, seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(n, *shape)).astype("float32")


def test_every_registered_augmentation_is_covered():
    names = {e.name for e in registries.layers.entries() if e.factory.__module__ == "plugins.layers.augmentation"}
    assert names == set(AUGMENTATIONS)


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_identity_at_inference_changes_in_training(name):
    shape, kwargs = AUGMENTATIONS[name]
    inputs = keras.Input(shape)
    model = keras.Model(inputs, layer({"type": name, "seed": 3, **kwargs})(inputs))
    x = batch(shape)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)          # evaluate / predict
    trained = to_np(model(x, training=True))
    assert trained.shape == x.shape
    assert not np.allclose(trained, x), f"{name} left training inputs unchanged"


def test_augmentation_changes_every_step_of_a_compiled_fit():
    """The seed generator's state advances inside the jitted train step: a new draw per step."""
    aug = layer({"type": "random_shift", "max_shift": 3, "seed": 0})
    inputs = keras.Input(SEQUENCE)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(aug(inputs))))
    model.compile(optimizer="sgd", loss="mse")
    before = to_np(aug.seed_generator.state)
    model.fit(batch(SEQUENCE, n=8), np.zeros((8, 1)), batch_size=4, epochs=1, verbose=0)
    assert not np.array_equal(to_np(aug.seed_generator.state), before)


def test_random_crop_is_pad_then_crop_a_window():
    x = np.arange(1, 1 + 7 * 7, dtype="float32").reshape(1, 7, 7, 1).repeat(20, axis=0)
    out = to_np(layer({"type": "random_crop", "padding": 2, "seed": 1})(x, training=True))
    padded = np.pad(x[0, :, :, 0], 2)
    for example in out[..., 0]:  # each result is one 7x7 window of the zero-padded image
        windows = [padded[i:i + 7, j:j + 7] for i in range(5) for j in range(5)]
        assert any(np.array_equal(example, w) for w in windows)
    assert len({o.tobytes() for o in out}) > 3  # windows differ per example


def test_random_shift_wrap_is_a_roll():
    x = np.arange(10, dtype="float32").reshape(1, 10, 1).repeat(8, axis=0)
    out = to_np(layer({"type": "random_shift", "max_shift": 3, "fill": "wrap", "seed": 2})(x, training=True))
    for example in out[..., 0]:
        shift = int(np.argmax(example == 0))  # where element 0 went
        shift = shift if shift <= 3 else shift - 10
        assert abs(shift) <= 3
        np.testing.assert_array_equal(example, np.roll(np.arange(10), shift))


def test_time_scale_keeps_the_centre_and_stretches_a_ramp():
    steps = 41
    ramp = (np.arange(steps, dtype="float32") - 20).reshape(1, steps, 1).repeat(6, axis=0)
    out = to_np(layer({"type": "random_time_scale", "factor": 0.3, "seed": 0})(ramp, training=True))[..., 0]
    centre = out[:, 15:26]  # away from the zero-filled edges: still a straight line through 0 at t=20
    slopes = np.diff(centre, axis=1).mean(axis=1)
    np.testing.assert_allclose(out[:, 20], 0, atol=1e-5)
    np.testing.assert_allclose(np.diff(centre, axis=1), slopes[:, None].repeat(10, 1), atol=1e-4)
    assert np.all((slopes > 1 / 1.3 - 1e-4) & (slopes < 1 / 0.7 + 1e-4)) and np.ptp(slopes) > 0.01


def test_resized_crop_of_full_area_is_the_image():
    x = batch(IMAGE, n=2)
    crop = layer({"type": "random_resized_crop", "scale": [1.0, 1.0], "ratio": [1.0, 1.0], "seed": 0})
    np.testing.assert_allclose(to_np(crop(x, training=True)), x, atol=1e-5)


def test_affine_with_zero_ranges_is_the_identity_and_a_pure_shear_keeps_the_centre_row():
    x = batch(IMAGE, n=2)
    still = layer({"type": "random_affine", "rotation": 0, "translation": 0, "scale": 0, "shear": 0})
    np.testing.assert_allclose(to_np(still(x, training=True)), x, atol=1e-5)
    odd = batch((11, 11, 1), n=4)
    sheared = layer({"type": "random_affine", "rotation": 0, "translation": 0, "scale": 0, "shear": 0.05,
                     "seed": 1})
    out = to_np(sheared(odd, training=True))
    np.testing.assert_allclose(out[:, 5, 5], odd[:, 5, 5], atol=1e-5)  # the centre pixel stays put
    assert not np.allclose(out, odd)
