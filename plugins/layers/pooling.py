"""Max, average and global pooling in 1-D and 2-D."""

from __future__ import annotations

from typing import Literal

from pipeline.registries import layers
from pipeline.values import PositiveInt, Size2D

Padding = Literal["valid", "same"]


def _pool(cls_name: str, **kwargs):
    import keras

    return getattr(keras.layers, cls_name)(**kwargs)


@layers.register("max_pool1d")
def max_pool1d(pool_size: PositiveInt = 2, strides: PositiveInt | None = None, padding: Padding = "valid",
               name: str | None = None):
    """Max over windows of `pool_size` steps."""
    return _pool("MaxPooling1D", pool_size=pool_size, strides=strides, padding=padding, name=name)


@layers.register("max_pool2d")
def max_pool2d(pool_size: Size2D = 2, strides: Size2D | None = None,
               padding: Padding = "valid", name: str | None = None):
    """Max over `pool_size` windows of an image."""
    return _pool("MaxPooling2D", pool_size=pool_size, strides=strides, padding=padding, name=name)


@layers.register("avg_pool1d")
def avg_pool1d(pool_size: PositiveInt = 2, strides: PositiveInt | None = None, padding: Padding = "valid",
               name: str | None = None):
    """Mean over windows of `pool_size` steps."""
    return _pool("AveragePooling1D", pool_size=pool_size, strides=strides, padding=padding, name=name)


@layers.register("avg_pool2d")
def avg_pool2d(pool_size: Size2D = 2, strides: Size2D | None = None,
               padding: Padding = "valid", name: str | None = None):
    """Mean over `pool_size` windows of an image."""
    return _pool("AveragePooling2D", pool_size=pool_size, strides=strides, padding=padding, name=name)


@layers.register("global_avg_pool1d")
def global_avg_pool1d(name: str | None = None):
    """Mean over all steps: (batch, steps, channels) -> (batch, channels)."""
    return _pool("GlobalAveragePooling1D", name=name)


@layers.register("global_avg_pool2d")
def global_avg_pool2d(name: str | None = None):
    """Mean over height and width: (batch, h, w, channels) -> (batch, channels)."""
    return _pool("GlobalAveragePooling2D", name=name)


@layers.register("global_max_pool1d")
def global_max_pool1d(name: str | None = None):
    """Max over all steps."""
    return _pool("GlobalMaxPooling1D", name=name)


@layers.register("global_max_pool2d")
def global_max_pool2d(name: str | None = None):
    """Max over height and width."""
    return _pool("GlobalMaxPooling2D", name=name)
