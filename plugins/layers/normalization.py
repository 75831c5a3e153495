"""Batch normalization."""

from __future__ import annotations

from pipeline.registries import layers


@layers.register("batch_norm", aliases=("batch_normalization",))
def batch_norm(momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
               name: str | None = None):
    """Batch norm: batch statistics in training, moving averages at inference; learned scale and shift."""
    import keras

    return keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, center=center,
                                           scale=scale, name=name)
