"""1-D and 2-D convolutions with stride, padding and dilation, and an optional `normalizer:`."""

from __future__ import annotations

from typing import Literal

from pipeline.registries import Activation, Constraint, Initializer, Regularizer, layers
from pipeline.values import PositiveInt, Size2D
from plugins.layers.normalization import Normalizer, normalized

Padding = Literal["valid", "same", "causal"]


def _conv(cls_name: str, filters, kernel_size, strides, padding, dilation_rate, activation, use_bias,
          kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, kernel_constraint,
          normalizer, name):
    import keras

    if use_bias is None:
        use_bias = normalizer is None  # a following norm's shift beta replaces the bias
    core = getattr(keras.layers, cls_name)(
        filters, kernel_size, strides=strides, padding=padding, dilation_rate=dilation_rate,
        activation=None if normalizer is not None else activation, use_bias=use_bias,
        kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
        kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
        kernel_constraint=kernel_constraint, name=None if normalizer is not None else name)
    return core if normalizer is None else normalized(core, normalizer, activation, name)


@layers.register("conv1d")
def conv1d(filters: PositiveInt, kernel_size: PositiveInt, strides: PositiveInt = 1, padding: Padding = "valid",
           dilation_rate: PositiveInt = 1, activation: Activation | None = None, use_bias: bool | None = None,
           kernel_initializer: Initializer = "glorot_uniform", bias_initializer: Initializer = "zeros",
           kernel_regularizer: Regularizer | None = None, bias_regularizer: Regularizer | None = None,
           kernel_constraint: Constraint | None = None, normalizer: Normalizer | None = None,
           name: str | None = None):
    """1-D convolution over (steps, channels) inputs; `normalizer:` puts a norm between it and the activation.

    Args:
        use_bias: add a bias per filter. None: yes, unless a normalizer follows. Defaults to None.
        normalizer: a normalization layer spec placed before the activation (the layer is then a
            `Sequential` [Conv1D, norm, Activation]). Defaults to None.
    """
    return _conv("Conv1D", filters, kernel_size, strides, padding, dilation_rate, activation, use_bias,
                 kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                 kernel_constraint, normalizer, name)


@layers.register("conv2d")
def conv2d(filters: PositiveInt, kernel_size: Size2D, strides: Size2D = 1,
           padding: Literal["valid", "same"] = "valid", dilation_rate: Size2D = 1,
           activation: Activation | None = None, use_bias: bool | None = None,
           kernel_initializer: Initializer = "glorot_uniform", bias_initializer: Initializer = "zeros",
           kernel_regularizer: Regularizer | None = None, bias_regularizer: Regularizer | None = None,
           kernel_constraint: Constraint | None = None, normalizer: Normalizer | None = None,
           name: str | None = None):
    """2-D convolution over (height, width, channels) inputs; `normalizer:` puts a norm between it and the activation.

    Args:
        use_bias: add a bias per filter. None: yes, unless a normalizer follows. Defaults to None.
        normalizer: a normalization layer spec placed before the activation (the layer is then a
            `Sequential` [Conv2D, norm, Activation]). Defaults to None.
    """
    return _conv("Conv2D", filters, kernel_size, strides, padding, dilation_rate, activation, use_bias,
                 kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                 kernel_constraint, normalizer, name)
