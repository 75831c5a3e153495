"""Augmentation layers Keras lacks: integer shifts (pad-and-crop), time stretch, one-matrix affine
and random resized crop.

Imported by the factories in `augmentation.py` only. Like Keras' preprocessing layers, each is the
identity at inference (`training` false) and draws fresh parameters per example on every training
step from a `keras.random.SeedGenerator` it owns (its state advances inside compiled JAX/TF steps).
`keras.ops` only, so they run on every backend. Inputs are channels-last batches: (batch, steps,
channels) or (batch, height, width, channels).
"""

from __future__ import annotations

import math

import keras
from keras import ops

PACKAGE = "pipeline"


class _TrainingOnly(keras.layers.Layer):
    """The shared part: a seed generator, training-only `call`, and output shape = input shape."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training:
            return inputs
        return self.augment(ops.convert_to_tensor(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def _uniform(shape, low, high, seed):
    return keras.random.uniform(shape, minval=low, maxval=high, seed=seed)


@keras.saving.register_keras_serializable(package=PACKAGE)
class RandomShift(_TrainingOnly):
    """Shifts each example by a random whole number of steps/pixels in [-max_shift, max_shift] along
    every spatial axis (independently), filling the vacated cells with zeros (`fill="constant"`) or
    wrapping around (`fill="wrap"`).

    With zero fill this is exactly "pad by max_shift, then crop a random window of the original
    size" (the CIFAR recipe's random crop with padding 4): the window offset o in [0, 2p] is a shift
    of p - o. Implemented as one gather per axis, so a batch costs no Python loop.
    """

    def __init__(self, max_shift=4, fill="constant", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if max_shift < 0:
            raise ValueError(f"Expected max_shift >= 0. Received: max_shift={max_shift}")
        if fill not in ("constant", "wrap"):
            raise ValueError(f"Expected fill in ('constant', 'wrap'). Received: fill={fill!r}")
        self.max_shift, self.fill = int(max_shift), fill

    def augment(self, x):
        batch = ops.shape(x)[0]
        for axis in range(1, len(x.shape) - 1):  # spatial axes; the last one holds the channels
            length = x.shape[axis]
            shift = keras.random.randint((batch,), -self.max_shift, self.max_shift + 1,
                                         seed=self.seed_generator)
            source = ops.expand_dims(ops.arange(length), 0) - ops.expand_dims(shift, 1)  # (batch, length)
            inside = ops.logical_and(source >= 0, source < length)
            source = ops.mod(source, length) if self.fill == "wrap" else ops.clip(source, 0, length - 1)
            shape = [1] * len(x.shape)
            shape[0], shape[axis] = -1, length
            x = ops.take_along_axis(x, ops.reshape(source, shape), axis=axis)
            if self.fill == "constant":
                x = x * ops.cast(ops.reshape(inside, shape), x.dtype)
        return x

    def get_config(self):
        return {**super().get_config(), "max_shift": self.max_shift, "fill": self.fill}


@keras.saving.register_keras_serializable(package=PACKAGE)
class RandomTimeScale(_TrainingOnly):
    """Stretches or squeezes sequences in time about their centre by a random factor s in
    [1 - factor, 1 + factor] per example (linear interpolation; zeros outside the signal): the
    "scale" transformation MNIST-1D's generator applies. Input (batch, steps, channels)."""

    def __init__(self, factor=0.2, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not 0 <= factor < 1:
            raise ValueError(f"Expected 0 <= factor < 1. Received: factor={factor}")
        self.factor = float(factor)

    def augment(self, x):
        if len(x.shape) != 3:
            raise ValueError(f"Expected sequences (batch, steps, channels). Received: shape={x.shape}")
        steps = x.shape[1]
        scale = _uniform((ops.shape(x)[0], 1), 1 - self.factor, 1 + self.factor, self.seed_generator)
        centre = (steps - 1) / 2
        source = centre + (ops.cast(ops.arange(steps), x.dtype)[None, :] - centre) / scale  # (batch, steps)
        low = ops.floor(source)
        weight = ops.expand_dims(source - low, -1)
        low = ops.cast(low, "int32")

        def at(index):  # x[b, index[b, t]], zero outside the sequence
            inside = ops.cast(ops.logical_and(index >= 0, index < steps), x.dtype)[..., None]
            index = ops.clip(index, 0, steps - 1)[..., None]
            return ops.take_along_axis(x, index, axis=1) * inside

        return (1 - weight) * at(low) + weight * at(low + 1)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class _RandomImageTransform(_TrainingOnly):
    """One affine map per image, applied with `keras.ops.image.affine_transform` (one resampling)."""

    def __init__(self, interpolation="bilinear", fill_mode="constant", fill_value=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.interpolation, self.fill_mode, self.fill_value = interpolation, fill_mode, float(fill_value)

    def augment(self, x):
        if len(x.shape) != 4:
            raise ValueError(f"Expected images (batch, height, width, channels). Received: shape={x.shape}")
        # a (batch, 2, 2) matrix M and offset t mapping output pixel (col, row) to input M @ p + t
        m, t = self.inverse_map(ops.shape(x)[0], x.shape[1], x.shape[2], x.dtype)
        zeros = ops.zeros_like(t[:, :1])
        transform = ops.concatenate([m[:, 0, :], t[:, :1], m[:, 1, :], t[:, 1:], zeros, zeros], axis=-1)
        return ops.image.affine_transform(x, transform, interpolation=self.interpolation,
                                          fill_mode=self.fill_mode, fill_value=self.fill_value)

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value}


def _about_centre(m, height, width, offset):
    """Offset t so that the map p -> M p + t turns about the image centre, then moves by `offset`."""
    centre = ops.convert_to_tensor([(width - 1) / 2, (height - 1) / 2], dtype=m.dtype)
    return centre[None, :] - ops.einsum("bij,j->bi", m, centre) + offset


@keras.saving.register_keras_serializable(package=PACKAGE)
class RandomAffine(_RandomImageTransform):
    """Rotation, scale, shear and translation drawn per image and composed into ONE affine map, so
    the image is resampled once (chaining RandomRotation, RandomZoom, RandomShear and
    RandomTranslation would blur it four times).

    Args:
        rotation: maximum angle, as a fraction of a full turn (Keras' convention): 0.05 = ±18°.
        translation: maximum shift, as a fraction of the height / width.
        scale: the zoom factor is drawn from [1 - scale, 1 + scale] (> 1 enlarges the content).
        shear: maximum shear angle, as a fraction of a full turn, along x and y independently.
    """

    def __init__(self, rotation=0.05, translation=0.1, scale=0.1, shear=0.05, **kwargs):
        super().__init__(**kwargs)
        self.rotation, self.translation = float(rotation), float(translation)
        self.scale, self.shear = float(scale), float(shear)

    def inverse_map(self, batch, height, width, dtype):
        seed = self.seed_generator
        turn = 2 * math.pi
        angle = _uniform((batch,), -self.rotation * turn, self.rotation * turn, seed)
        zoom = _uniform((batch,), 1 - self.scale, 1 + self.scale, seed)
        shear_x = ops.tan(_uniform((batch,), -self.shear * turn, self.shear * turn, seed))
        shear_y = ops.tan(_uniform((batch,), -self.shear * turn, self.shear * turn, seed))
        cos, sin = ops.cos(angle), ops.sin(angle)
        one = ops.ones_like(cos)
        rotate = ops.stack([ops.stack([cos, -sin], -1), ops.stack([sin, cos], -1)], 1)
        skew = ops.stack([ops.stack([one, shear_x], -1), ops.stack([shear_y, one], -1)], 1)
        m = ops.matmul(rotate, skew) / zoom[:, None, None]  # output -> input, so 1/zoom enlarges
        size = ops.convert_to_tensor([width, height], dtype=dtype)
        offset = _uniform((batch, 2), -self.translation, self.translation, seed) * size
        return m, _about_centre(m, height, width, offset)

    def get_config(self):
        return {**super().get_config(), "rotation": self.rotation, "translation": self.translation,
                "scale": self.scale, "shear": self.shear}


@keras.saving.register_keras_serializable(package=PACKAGE)
class RandomResizedCrop(_RandomImageTransform):
    """Crops a random box covering a fraction in `scale` of the image area with aspect ratio
    (width / height) in `ratio` (log-uniform), and resizes it back to the input size: the
    Inception / ResNet training crop. Boxes are clipped to lie inside the image."""

    def __init__(self, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), **kwargs):
        super().__init__(**kwargs)
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"Expected 0 < scale[0] <= scale[1] <= 1. Received: scale={scale}")
        if not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"Expected 0 < ratio[0] <= ratio[1]. Received: ratio={ratio}")
        self.scale, self.ratio = tuple(float(s) for s in scale), tuple(float(r) for r in ratio)

    def inverse_map(self, batch, height, width, dtype):
        seed = self.seed_generator
        area = _uniform((batch,), *self.scale, seed)
        aspect = ops.exp(_uniform((batch,), math.log(self.ratio[0]), math.log(self.ratio[1]), seed))
        box_w = ops.minimum(ops.sqrt(area * aspect), 1.0)  # fractions of the width / height
        box_h = ops.minimum(ops.sqrt(area / aspect), 1.0)
        left = _uniform((batch,), 0.0, 1.0, seed) * (1 - box_w) * (width - 1)
        top = _uniform((batch,), 0.0, 1.0, seed) * (1 - box_h) * (height - 1)
        zero = ops.zeros_like(box_w)
        m = ops.stack([ops.stack([box_w, zero], -1), ops.stack([zero, box_h], -1)], 1)
        return m, ops.stack([left, top], -1)

    def get_config(self):
        return {**super().get_config(), "scale": list(self.scale), "ratio": list(self.ratio)}
