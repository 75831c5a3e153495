"""The layer wrapping a Keras Applications model, imported by `applications.py`'s factory only."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="pipeline")
class KerasApplication(keras.layers.Layer):
    """`keras.applications.<architecture>(include_top=False)` built for the input it first sees.

    The network is created in `build` (its input shape is needed). `weights` (a local file) is
    read then; the saved config keeps no path, since a saved model holds the weights itself.
    """

    def __init__(self, architecture="MobileNetV2", weights=None, pooling="avg", **kwargs):
        super().__init__(**kwargs)
        self.architecture = architecture
        self.weights_file = weights
        self.pooling = pooling

    def build(self, input_shape):
        constructor = getattr(keras.applications, self.architecture)
        self.backbone = constructor(include_top=False, weights=self.weights_file,
                                    input_shape=tuple(input_shape[1:]), pooling=self.pooling)

    def call(self, inputs, training=None):
        return self.backbone(inputs, training=training)

    def compute_output_shape(self, input_shape):
        if not self.built:
            self.build(input_shape)
        return self.backbone.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "architecture": self.architecture, "weights": None,
                "pooling": self.pooling}
