"""Metrics reported per epoch on the training and validation data, and once on the test split."""

from __future__ import annotations

from pipeline.registries import metrics


@metrics.register("accuracy", aliases=("acc",))
def accuracy():
    """Fraction of correct predictions; Keras picks the sparse/categorical/binary form from the loss."""
    return "accuracy"


@metrics.register("mae", aliases=("mean_absolute_error",))
def mae():
    """Mean absolute error, for regression."""
    import keras

    return keras.metrics.MeanAbsoluteError(name="mae")
