"""Per-example data augmentation as layers: active in training (`model.fit`), identity at inference.

Placed first in `model.layers`, they run inside the compiled train step (on the accelerator, no
TensorFlow needed on JAX/torch) and are saved with the model, where they do nothing at
`predict`/`evaluate` time. Keras' own preprocessing layers are used wherever they exist; what Keras
lacks (integer shifts / pad-and-crop, time stretch, one-matrix affine, random resized crop) lives in
`augmentation_keras.py`. For Gaussian noise on sequences use the `gaussian_noise` layer.
Batch mixing (mixup, cutmix, CowMask) changes labels too, so it is not a layer: see `data.mix`.

Colour layers need `value_range`, the range the pixels are in *when the layer sees them* (after
preprocessing): (0, 1) for `digits`, (0, 255) for raw 8-bit images.
"""

from __future__ import annotations

from typing import Literal

from pipeline.lazy import LazyModule
from pipeline.registries import layers
from pipeline.values import NonNegativeInt, Seed

keras = LazyModule("keras")

FillMode = Literal["constant", "reflect", "wrap", "nearest"]
Interpolation = Literal["nearest", "bilinear"]
#: a number, or the [low, high] range a random value is drawn from (Keras' convention per layer)
Factor = float | tuple[float, float]


def _listed(value):
    """Ranges go to Keras as lists: a saved config comes back from JSON with lists, so a tuple
    would not reload to an equal config."""
    return list(value) if isinstance(value, tuple) else value


# -- geometry: Keras layers ----------------------------------------------------------------------------
@layers.register("random_flip")
def random_flip(mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = "horizontal",
                seed: Seed | None = None, name: str | None = None):
    """Flips images left-right (and/or up-down) with probability 1/2 each, in training only."""
    return keras.layers.RandomFlip(mode, seed=seed, name=name)


@layers.register("random_translation")
def random_translation(height_factor: float = 0.1, width_factor: float = 0.1, fill_mode: FillMode = "constant",
                       interpolation: Interpolation = "bilinear", seed: Seed | None = None, name: str | None = None):
    """Shifts images by up to a fraction of their height/width, in training only (Keras RandomTranslation)."""
    return keras.layers.RandomTranslation(height_factor, width_factor, fill_mode=fill_mode,
                                          interpolation=interpolation, seed=seed, name=name)


@layers.register("random_rotation")
def random_rotation(factor: float = 0.05, fill_mode: FillMode = "constant", interpolation: Interpolation = "bilinear",
                    seed: Seed | None = None, name: str | None = None):
    """Rotates images by up to ±factor of a full turn (0.05 = ±18°), in training only (Keras RandomRotation)."""
    return keras.layers.RandomRotation(factor, fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                                       name=name)


@layers.register("random_zoom")
def random_zoom(height_factor: float = 0.1, width_factor: float | None = None, fill_mode: FillMode = "constant",
                interpolation: Interpolation = "bilinear", seed: Seed | None = None, name: str | None = None):
    """Zooms images in or out by up to a fraction (width follows height when unset), in training only (Keras RandomZoom)."""
    return keras.layers.RandomZoom(height_factor, width_factor, fill_mode=fill_mode,
                                   interpolation=interpolation, seed=seed, name=name)


# -- geometry: written here ----------------------------------------------------------------------------
@layers.register("random_crop")
def random_crop(padding: NonNegativeInt = 4, seed: Seed | None = None, name: str | None = None):
    """Pads by `padding` zeros and crops a random window of the input size (= a random integer shift), in training only."""
    from plugins.layers.augmentation_keras import RandomShift

    return RandomShift(max_shift=padding, fill="constant", seed=seed, name=name)


@layers.register("random_shift")
def random_shift(max_shift: NonNegativeInt = 4, fill: Literal["constant", "wrap"] = "constant",
                 seed: Seed | None = None, name: str | None = None):
    """Shifts sequences (or images) by a random whole number of steps in [-max_shift, max_shift], zero-filled or wrapped, in training only."""
    from plugins.layers.augmentation_keras import RandomShift

    return RandomShift(max_shift=max_shift, fill=fill, seed=seed, name=name)


@layers.register("random_time_scale", aliases=("random_scale",))
def random_time_scale(factor: float = 0.2, seed: Seed | None = None, name: str | None = None):
    """Stretches sequences in time about their centre by a random factor in [1-factor, 1+factor] (linear interpolation), in training only."""
    from plugins.layers.augmentation_keras import RandomTimeScale

    return RandomTimeScale(factor=factor, seed=seed, name=name)


@layers.register("random_affine")
def random_affine(rotation: float = 0.05, translation: float = 0.1, scale: float = 0.1, shear: float = 0.05,
                  fill_mode: FillMode = "constant", interpolation: Interpolation = "bilinear",
                  seed: Seed | None = None, name: str | None = None):
    """Random rotation, scale, shear and translation composed into one affine map (one resampling), in training only."""
    from plugins.layers.augmentation_keras import RandomAffine

    return RandomAffine(rotation=rotation, translation=translation, scale=scale, shear=shear,
                        fill_mode=fill_mode, interpolation=interpolation, seed=seed, name=name)


@layers.register("random_shear")
def random_shear(shear: float = 0.05, fill_mode: FillMode = "constant", interpolation: Interpolation = "bilinear",
                 seed: Seed | None = None, name: str | None = None):
    """Shears images along x and y by angles up to ±shear of a full turn, in training only (`random_affine` with shear alone)."""
    # Not Keras' RandomShear: in Keras 3.15 its saved config does not reload (it stores the factor
    # as (-f, f), which its own constructor refuses), so a model holding it could not be loaded.
    from plugins.layers.augmentation_keras import RandomAffine

    return RandomAffine(rotation=0.0, translation=0.0, scale=0.0, shear=shear, fill_mode=fill_mode,
                        interpolation=interpolation, seed=seed, name=name)


@layers.register("random_resized_crop")
def random_resized_crop(scale: tuple[float, float] = (0.08, 1.0), ratio: tuple[float, float] = (0.75, 1.3333),
                        interpolation: Interpolation = "bilinear", seed: Seed | None = None, name: str | None = None):
    """Crops a random box (area fraction in `scale`, aspect ratio in `ratio`) and resizes it to the input size, in training only."""
    from plugins.layers.augmentation_keras import RandomResizedCrop

    return RandomResizedCrop(scale=scale, ratio=ratio, interpolation=interpolation, seed=seed, name=name)


# -- occlusion -----------------------------------------------------------------------------------------
@layers.register("random_erasing", aliases=("cutout",))
def random_erasing(factor: Factor = 1.0, scale: tuple[float, float] = (0.02, 0.33), fill_value: float | None = None,
                   value_range: tuple[float, float] = (0.0, 255.0), seed: Seed | None = None, name: str | None = None):
    """Erases a random rectangle (size range `scale`) with probability `factor`; Gaussian-noise fill unless fill_value (cutout: 0), in training only (Keras RandomErasing)."""
    return keras.layers.RandomErasing(factor=_listed(factor), scale=_listed(scale), fill_value=fill_value, value_range=_listed(value_range),
                                      seed=seed, name=name)


# -- colour --------------------------------------------------------------------------------------------
@layers.register("random_brightness")
def random_brightness(factor: Factor = 0.2, value_range: tuple[float, float] = (0.0, 255.0),
                      seed: Seed | None = None, name: str | None = None):
    """Adds a random offset of up to ±factor × the value range to each image, in training only (Keras RandomBrightness)."""
    return keras.layers.RandomBrightness(_listed(factor), value_range=_listed(value_range), seed=seed, name=name)


@layers.register("random_contrast")
def random_contrast(factor: Factor = 0.2, value_range: tuple[float, float] = (0.0, 255.0),
                    seed: Seed | None = None, name: str | None = None):
    """Scales each image's deviation from its mean by a random factor in [1-factor, 1+factor], in training only (Keras RandomContrast)."""
    return keras.layers.RandomContrast(_listed(factor), value_range=_listed(value_range), seed=seed, name=name)


@layers.register("random_saturation")
def random_saturation(factor: Factor = (0.3, 0.7), value_range: tuple[float, float] = (0.0, 255.0),
                      seed: Seed | None = None, name: str | None = None):
    """Changes colour saturation by a factor drawn from `factor` (0.5 unchanged, 0 grey, 1 fully saturated), in training only (Keras RandomSaturation); RGB."""
    return keras.layers.RandomSaturation(_listed(factor), value_range=_listed(value_range), seed=seed, name=name)


@layers.register("random_hue")
def random_hue(factor: Factor = 0.1, value_range: tuple[float, float] = (0.0, 255.0),
               seed: Seed | None = None, name: str | None = None):
    """Rotates the hue by a random amount drawn from [0, factor] (0 = unchanged), in training only (Keras RandomHue); RGB."""
    return keras.layers.RandomHue(_listed(factor), value_range=_listed(value_range), seed=seed, name=name)


@layers.register("random_color_jitter", aliases=("color_jitter",))
def random_color_jitter(brightness: Factor | None = 0.2, contrast: Factor | None = 0.2,
                        saturation: Factor | None = None, hue: Factor | None = None,
                        value_range: tuple[float, float] = (0.0, 255.0), seed: Seed | None = None,
                        name: str | None = None):
    """Random brightness, contrast, saturation and hue in one layer (each skipped when None), in training only (Keras RandomColorJitter)."""
    return keras.layers.RandomColorJitter(value_range=_listed(value_range), brightness_factor=_listed(brightness),
                                          contrast_factor=_listed(contrast), saturation_factor=_listed(saturation),
                                          hue_factor=_listed(hue), seed=seed, name=name)
