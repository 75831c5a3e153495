"""Loss functions."""

from __future__ import annotations

from pipeline.registries import losses


@losses.register("sparse_categorical_crossentropy", aliases=("sparse_cross_entropy",))
def sparse_categorical_crossentropy(from_logits: bool = False):
    """Cross-entropy with integer class labels; from_logits=True applies a stable softmax itself."""
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)


@losses.register("categorical_crossentropy", aliases=("cross_entropy",))
def categorical_crossentropy(from_logits: bool = False, label_smoothing: float = 0.0):
    """Cross-entropy with one-hot labels, optionally smoothed."""
    import keras

    return keras.losses.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)


@losses.register("binary_crossentropy")
def binary_crossentropy(from_logits: bool = False, label_smoothing: float = 0.0):
    """Cross-entropy for one or more independent yes/no labels."""
    import keras

    return keras.losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)


@losses.register("mse", aliases=("mean_squared_error",))
def mse():
    """Mean squared error, for regression."""
    import keras

    return keras.losses.MeanSquaredError()
