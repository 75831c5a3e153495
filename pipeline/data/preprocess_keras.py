"""Fitted preprocessing as Keras layers, so a saved model takes raw inputs.

The statistics are non-trainable weights (saved in the model's weights file, not in its config),
set once from the training split. A fresh process reloading a model imports this module first
(`import pipeline.data.preprocess_keras`), as for any custom layer.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="pipeline")
class Affine(keras.layers.Layer):
    """`(x - shift) * scale`, shift and scale of shape `param_shape` broadcast over the batch."""

    def __init__(self, param_shape, **kwargs):
        super().__init__(**kwargs)
        self.param_shape = tuple(param_shape)

    @classmethod
    def from_statistics(cls, shift: np.ndarray, scale: np.ndarray, name: str | None = None):
        layer = cls(shift.shape, name=name)
        layer.build((None, *shift.shape))
        layer.shift.assign(shift)
        layer.scale.assign(scale)
        return layer

    def build(self, input_shape):
        self.shift = self.add_weight(shape=self.param_shape, initializer="zeros", trainable=False, name="shift")
        self.scale = self.add_weight(shape=self.param_shape, initializer="ones", trainable=False, name="scale")

    def call(self, inputs):
        return (ops.cast(inputs, self.compute_dtype) - self.shift) * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "param_shape": list(self.param_shape)}


@keras.saving.register_keras_serializable(package="pipeline")
class Projection(keras.layers.Layer):
    """Flatten, subtract `mean` and multiply by `matrix` (features x components): PCA, whitened or not."""

    def __init__(self, features: int, components: int, **kwargs):
        super().__init__(**kwargs)
        self.features, self.components = int(features), int(components)

    @classmethod
    def from_statistics(cls, mean: np.ndarray, matrix: np.ndarray, name: str | None = None):
        layer = cls(*matrix.shape, name=name)
        layer.build((None, matrix.shape[0]))
        layer.mean.assign(mean)
        layer.matrix.assign(matrix)
        return layer

    def build(self, input_shape):
        self.mean = self.add_weight(shape=(self.features,), initializer="zeros", trainable=False, name="mean")
        self.matrix = self.add_weight(shape=(self.features, self.components), initializer="zeros",
                                      trainable=False, name="matrix")

    def call(self, inputs):
        flat = ops.reshape(ops.cast(inputs, self.compute_dtype), (-1, self.features))
        return ops.matmul(flat - self.mean, self.matrix)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.components)

    def get_config(self):
        return {**super().get_config(), "features": self.features, "components": self.components}


def with_preprocessing(model, steps, raw_shape, dtype="float32"):
    """`model` with the fitted `steps` in front of it, as one model taking raw inputs.

    A step without `layer()` (e.g. a third-party preprocessor) cannot be saved: the model is then
    returned alone, taking preprocessed inputs, and a message says so.
    """
    if not steps:
        return model
    missing = [type(s).__name__ for s in steps if not hasattr(s, "layer")]
    if missing:
        import sys

        print(f"note: preprocessing steps {missing} have no layer(): the saved model takes preprocessed "
              f"inputs, not raw ones", file=sys.stderr)
        return model
    inputs = keras.Input(raw_shape, dtype=dtype, name="raw_inputs")
    x = inputs
    for step in steps:
        x = step.layer()(x)
    return keras.Model(inputs, model(x), name=f"{model.name}_with_preprocessing")
