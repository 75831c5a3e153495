"""The residual block layer (He et al., 2016), imported by `blocks.py`'s factory only."""

from __future__ import annotations

import json

import keras
from keras import ops

from pipeline.keras_compat import tensorflow_probe_disabled


def layer_config(obj) -> str | None:
    """A layer (or an activation function or name) as a nameless serialized layer config, so the
    block can make as many fresh copies as it needs and save them in its own config.

    Kept as a JSON string: Keras tracks dicts set on a layer, and copying a tracked dict would
    copy (pickle, i.e. save) the layer itself.
    """
    if obj is None or isinstance(obj, str) and obj.startswith("{"):
        return obj
    if isinstance(obj, dict):
        return json.dumps(obj)
    if not isinstance(obj, keras.layers.Layer):
        obj = keras.layers.Activation(obj)
    with tensorflow_probe_disabled():  # Keras' serializer would import TensorFlow on other backends
        config = keras.layers.serialize(obj)
    config["config"].pop("name", None)
    return json.dumps(config)


def fresh(config: str, name: str, dtype=None):
    """A new layer from `layer_config`'s string (with the block's dtype policy, when given)."""
    config = json.loads(config)
    config["config"]["name"] = name
    with tensorflow_probe_disabled():
        if dtype is not None:
            config["config"]["dtype"] = keras.dtype_policies.serialize(dtype)
        return keras.layers.deserialize(config)


@keras.saving.register_keras_serializable(package="pipeline")
class ResidualBlock(keras.layers.Layer):
    """The basic block: `act(norm(conv(act(norm(conv(x))))) + shortcut(x))`.

    Both convolutions have `filters` filters, `kernel_size` and padding 'same'; the first one has
    `strides`. The shortcut is the identity when the output has the input's shape; a 1x1
    convolution with `strides` (then a norm) projects it when the stride or the channel count
    changes (He et al.'s option B). 1-D or 2-D is read from the input's rank when the block is
    built: (batch, steps, channels) or (batch, height, width, channels).

    Args:
        normalizer: a normalization layer (copied for every place a norm goes), its serialized
            config, or None (no norms; the convolutions then have biases).
        activation: an activation function, name or layer, or a serialized layer config
            (copied for both places).
    """

    def __init__(self, filters, kernel_size=3, strides=1, normalizer=None, activation="relu",
                 kernel_initializer="he_normal", kernel_regularizer=None, kernel_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.normalizer = layer_config(normalizer)
        self.activation = layer_config(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)

    def _conv(self, cls, kernel_size, strides, name):
        return cls(self.filters, kernel_size, strides=strides, padding="same",
                   use_bias=self.normalizer is None,  # a norm's shift beta replaces the bias
                   kernel_initializer=self.kernel_initializer, kernel_regularizer=self.kernel_regularizer,
                   kernel_constraint=self.kernel_constraint, name=name, dtype=self.dtype_policy)

    def _norm(self, name):
        return fresh(self.normalizer, name, self.dtype_policy) if self.normalizer is not None else None

    def build(self, input_shape):
        rank = len(input_shape) - 2
        if rank not in (1, 2):
            raise ValueError(f"Expected a (batch, steps, channels) or (batch, height, width, channels) "
                             f"input for the residual block. Received: input_shape={input_shape}")
        conv = keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D
        self.conv1 = self._conv(conv, self.kernel_size, self.strides, "conv1")
        self.norm1 = self._norm("norm1")
        self.act1 = fresh(self.activation, "act1", self.dtype_policy)
        self.conv2 = self._conv(conv, self.kernel_size, 1, "conv2")
        self.norm2 = self._norm("norm2")
        self.projection = self.strides != 1 or input_shape[-1] != self.filters
        self.shortcut_conv = self._conv(conv, 1, self.strides, "shortcut_conv") if self.projection else None
        self.shortcut_norm = self._norm("shortcut_norm") if self.projection else None
        self.act_out = fresh(self.activation, "act_out", self.dtype_policy)
        # Build every sub-layer now, so a reloaded model has all variables before weights load.
        out_shape = self.conv1.compute_output_shape(input_shape)
        for layer, shape in ((self.conv1, input_shape), (self.norm1, out_shape), (self.act1, out_shape),
                             (self.conv2, out_shape), (self.norm2, out_shape),
                             (self.shortcut_conv, input_shape), (self.shortcut_norm, out_shape),
                             (self.act_out, out_shape)):
            if layer is not None:
                layer.build(shape)

    @staticmethod
    def _apply(layer, x, training):
        return x if layer is None else layer(x, training=training)

    def call(self, inputs, training=None):
        y = self._apply(self.norm1, self.conv1(inputs), training)
        y = self.act1(y, training=training)
        y = self._apply(self.norm2, self.conv2(y), training)
        shortcut = inputs
        if self.projection:
            shortcut = self._apply(self.shortcut_norm, self.shortcut_conv(inputs), training)
        return self.act_out(ops.add(y, shortcut), training=training)

    def compute_output_shape(self, input_shape):
        conv = keras.layers.Conv1D if len(input_shape) == 3 else keras.layers.Conv2D
        return conv(self.filters, self.kernel_size, strides=self.strides,
                    padding="same").compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides,
                "normalizer": None if self.normalizer is None else json.loads(self.normalizer),
                "activation": json.loads(self.activation),
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint)}
