"""The Keras classes behind the example plugin's factories (imported only when a factory runs).

They use `keras.ops` only, so they run on every backend, and they are registered with Keras
serialization (the registered name is `pipeline_example_plugin>ClassName`); the plugin declares this
module in `KERAS_MODULES`, so `pipeline.saving.load_model` imports it before loading a saved model.
"""

from __future__ import annotations

import keras
from keras import ops

PACKAGE = "pipeline_example_plugin"


@keras.saving.register_keras_serializable(package=PACKAGE)
class ScaledTanh(keras.layers.Layer):
    """`a * tanh(b * x)`; `a` is a scalar weight (trainable when `learn_scale`), `b` a constant."""

    def __init__(self, scale=1.7159, slope=2 / 3, learn_scale=False, scale_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)
        self.slope = float(slope)
        self.learn_scale = bool(learn_scale)
        self.scale_regularizer = keras.regularizers.get(scale_regularizer)

    def build(self, input_shape):
        # A weight even when fixed: the saved model then carries the value it was trained with.
        self.a = self.add_weight(shape=(), name="scale", trainable=self.learn_scale,
                                 initializer=keras.initializers.Constant(self.scale),
                                 regularizer=self.scale_regularizer)

    def call(self, inputs):
        a = ops.cast(self.a, inputs.dtype)
        return a * ops.tanh(ops.multiply(inputs, ops.cast(self.slope, inputs.dtype)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "slope": self.slope,
                "learn_scale": self.learn_scale,
                "scale_regularizer": keras.regularizers.serialize(self.scale_regularizer)}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SmoothL1(keras.regularizers.Regularizer):
    """`factor * sum(huber(w, delta))`: 0.5 w^2 for |w| <= delta, delta * (|w| - delta / 2) beyond."""

    def __init__(self, factor=0.01, delta=1.0):
        if delta <= 0:
            raise ValueError(f"Expected delta > 0. Received: delta={delta}")
        self.factor = float(factor)
        self.delta = float(delta)

    def __call__(self, x):
        magnitude = ops.abs(x)
        inner = ops.minimum(magnitude, self.delta)
        return self.factor * ops.sum(0.5 * ops.square(inner) + self.delta * (magnitude - inner))

    def get_config(self):
        return {"factor": self.factor, "delta": self.delta}
