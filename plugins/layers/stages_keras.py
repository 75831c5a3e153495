"""The stage layers of the classic architectures (VGG, ResNet, U-Net), imported by `stages.py` only.

A stage is several layers repeated with one width; as one registered layer with arguments a
recipe writes `{type: vgg_stage, filters: 64, convs: 2}` instead of seven lines. Norms and
activations are stored as nameless layer configs and copied (see `blocks_keras.layer_config`).
"""

from __future__ import annotations

import json

import keras

from plugins.layers.blocks_keras import ResidualBlock, fresh, layer_config


class _Stage(keras.layers.Layer):
    """Shared arguments and config of the stages: conv width, norm, activation, kernel settings."""

    def __init__(self, filters, kernel_size=3, normalizer=None, activation="relu",
                 kernel_initializer="he_normal", kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.normalizer = layer_config(normalizer)
        self.activation = layer_config(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def _conv_norm_act(self, i):
        """[conv, norm or None, act] of the i-th convolution (padding 'same')."""
        conv = keras.layers.Conv2D(self.filters, self.kernel_size, padding="same",
                                   use_bias=self.normalizer is None,
                                   kernel_initializer=self.kernel_initializer,
                                   kernel_regularizer=self.kernel_regularizer, name=f"conv{i}")
        norm = fresh(self.normalizer, f"norm{i}") if self.normalizer is not None else None
        return [conv, norm, fresh(self.activation, f"act{i}")]

    @staticmethod
    def _run(stack, x, training):
        for layer in stack:
            if layer is not None:
                x = layer(x, training=training)
        return x

    @staticmethod
    def _build(stack, shape):
        """Build every sub-layer now, so a reloaded model has all variables before weights load."""
        for layer in stack:
            if layer is not None:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)
        return shape

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "normalizer": None if self.normalizer is None else json.loads(self.normalizer),
                "activation": json.loads(self.activation),
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)}


@keras.saving.register_keras_serializable(package="pipeline")
class VGGStage(_Stage):
    """`convs` x [3x3 conv (same), norm, act], then a 2x2 max pool (stride 2) when `pool`."""

    def __init__(self, filters, convs=2, pool=True, **kwargs):
        super().__init__(filters, **kwargs)
        self.convs = int(convs)
        self.pool = bool(pool)

    def build(self, input_shape):
        self.stack = [layer for i in range(1, self.convs + 1) for layer in self._conv_norm_act(i)]
        if self.pool:
            self.stack.append(keras.layers.MaxPooling2D(2, name="pool"))
        self._build(self.stack, input_shape)

    def call(self, inputs, training=None):
        return self._run(self.stack, inputs, training)

    def compute_output_shape(self, input_shape):
        batch, h, w, _ = input_shape
        if self.pool:
            h, w = (None if h is None else h // 2), (None if w is None else w // 2)
        return (batch, h, w, self.filters)

    def get_config(self):
        return {**super().get_config(), "convs": self.convs, "pool": self.pool}


@keras.saving.register_keras_serializable(package="pipeline")
class ResidualStage(_Stage):
    """`blocks` residual basic blocks of `filters`; the first has `strides` (and a projection shortcut)."""

    def __init__(self, filters, blocks=2, strides=1, **kwargs):
        super().__init__(filters, **kwargs)
        self.blocks = int(blocks)
        self.strides = int(strides)

    def build(self, input_shape):
        norm = None if self.normalizer is None else json.loads(self.normalizer)
        self.stack = [ResidualBlock(self.filters, kernel_size=self.kernel_size,
                                    strides=self.strides if i == 0 else 1, normalizer=norm,
                                    activation=json.loads(self.activation),
                                    kernel_initializer=self.kernel_initializer,
                                    kernel_regularizer=self.kernel_regularizer, name=f"block{i + 1}")
                      for i in range(self.blocks)]
        self._build(self.stack, input_shape)

    def call(self, inputs, training=None):
        return self._run(self.stack, inputs, training)

    def compute_output_shape(self, input_shape):
        return self.stack[0].compute_output_shape(input_shape) if getattr(self, "stack", None) else \
            ResidualBlock(self.filters, strides=self.strides).compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "blocks": self.blocks, "strides": self.strides}


@keras.saving.register_keras_serializable(package="pipeline")
class UNetUp(_Stage):
    """U-Net decoder step on [x, skip]: 2x2 transposed conv (stride 2) of x, concatenated with the
    encoder's `skip` (same height and width), then `convs` x [3x3 conv, norm, act]."""

    def __init__(self, filters, convs=2, **kwargs):
        super().__init__(filters, **kwargs)
        self.convs = int(convs)

    def build(self, input_shape):
        x_shape, skip_shape = input_shape
        self.up = keras.layers.Conv2DTranspose(self.filters, 2, strides=2, padding="same",
                                               kernel_initializer=self.kernel_initializer, name="up")
        self.up.build(x_shape)
        up_shape = self.up.compute_output_shape(x_shape)
        self.concat = keras.layers.Concatenate(name="concat")
        self.concat.build([up_shape, skip_shape])
        self.stack = [layer for i in range(1, self.convs + 1) for layer in self._conv_norm_act(i)]
        self._build(self.stack, self.concat.compute_output_shape([up_shape, skip_shape]))

    def call(self, inputs, training=None):
        x, skip = inputs
        return self._run(self.stack, self.concat([self.up(x), skip]), training)

    def compute_output_shape(self, input_shape):
        batch, h, w, _ = input_shape[1]
        return (batch, h, w, self.filters)

    def get_config(self):
        return {**super().get_config(), "convs": self.convs}
