"""The foreground IoU metric, imported by `segmentation.py`'s factory only.

Keras' `BinaryIoU` builds a confusion matrix in int64, which JAX truncates with a warning on
every step; two running sums in float32 give the same number on every backend.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="pipeline")
class ForegroundIoU(keras.metrics.Metric):
    """|P ∩ Y| / |P ∪ Y| summed over every pixel seen, P = (y_pred > threshold), Y = (y_true > 0.5)."""

    def __init__(self, threshold=0.5, name="iou", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.threshold = float(threshold)
        self.intersection = self.add_variable(shape=(), initializer="zeros", name="intersection")
        self.union = self.add_variable(shape=(), initializer="zeros", name="union")

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted = ops.cast(ops.greater(y_pred, self.threshold), "float32")
        truth = ops.cast(ops.greater(ops.cast(y_true, "float32"), 0.5), "float32")
        self.intersection.assign_add(ops.sum(predicted * truth))
        self.union.assign_add(ops.sum(ops.maximum(predicted, truth)))

    def result(self):
        return ops.divide_no_nan(self.intersection, self.union)

    def reset_state(self):
        self.intersection.assign(0.0)
        self.union.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}
