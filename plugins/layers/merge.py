"""Layers that join branches of a graph model (residual and skip connections)."""

from __future__ import annotations

from pipeline.registries import layers


@layers.register("add")
def add(name: str | None = None):
    """Element-wise sum of its inputs: the residual connection x + F(x)."""
    import keras

    return keras.layers.Add(name=name)


@layers.register("concatenate")
def concatenate(axis: int = -1, name: str | None = None):
    """Joins its inputs along `axis` (channels by default): the U-Net/DenseNet skip connection."""
    import keras

    return keras.layers.Concatenate(axis=axis, name=name)
