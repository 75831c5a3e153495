"""Stochastic regularizers as layers: inverted dropout, spatial dropout, Gaussian noise.

All are active only in training (`model.fit`) and are the identity at inference.
"""

from __future__ import annotations

from pipeline.lazy import LazyModule
from pipeline.registries import layers
from pipeline.values import NonNegativeFloat, Rate, Seed

keras = LazyModule("keras")


@layers.register("dropout")
def dropout(rate: Rate, seed: Seed | None = None, name: str | None = None):
    """Inverted dropout: zeroes a fraction `rate` of activations and scales the rest by 1/(1-rate) in training; identity at inference."""
    return keras.layers.Dropout(rate, seed=seed, name=name)


@layers.register("spatial_dropout1d")
def spatial_dropout1d(rate: Rate, seed: Seed | None = None, name: str | None = None):
    """Spatial dropout on (steps, channels): drops whole channels (neighbouring steps are correlated, so single values would leak back); inverted scaling."""
    return keras.layers.SpatialDropout1D(rate, seed=seed, name=name)


@layers.register("spatial_dropout2d")
def spatial_dropout2d(rate: Rate, seed: Seed | None = None, name: str | None = None):
    """Spatial dropout on (height, width, channels): drops whole feature maps in training; inverted scaling, identity at inference."""
    return keras.layers.SpatialDropout2D(rate, seed=seed, name=name)


@layers.register("gaussian_noise")
def gaussian_noise(stddev: NonNegativeFloat, seed: Seed | None = None, name: str | None = None):
    """Adds zero-mean Gaussian noise of std `stddev` to activations in training; identity at inference."""
    return keras.layers.GaussianNoise(stddev, seed=seed, name=name)
