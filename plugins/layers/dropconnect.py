"""DropConnect (Wan et al., 2013): dense and conv layers that drop *weights*, not activations, in training.

Training: each weight is zeroed with probability `rate` (a fresh mask every step) and the kept ones
are scaled by 1/(1-rate), so each pre-activation keeps its expected value. Inference: all weights,
unchanged, deterministic. The classes live in `dropconnect_keras.py`.
"""

from __future__ import annotations

from typing import Literal

from pipeline.registries import Activation, Constraint, Initializer, Regularizer, layers
from pipeline.values import PositiveInt, Rate, Seed, Size2D
from plugins.layers.normalization import Normalizer, normalized


def _dropconnect(cls_name, *args, activation, use_bias, normalizer, name, **kwargs):
    from plugins.layers import dropconnect_keras

    if use_bias is None:
        use_bias = normalizer is None  # a following norm's shift beta replaces the bias
    core = getattr(dropconnect_keras, cls_name)(
        *args, activation=None if normalizer is not None else activation, use_bias=use_bias,
        name=None if normalizer is not None else name, **kwargs)
    return core if normalizer is None else normalized(core, normalizer, activation, name)


@layers.register("dropconnect_dense")
def dropconnect_dense(units: PositiveInt, rate: Rate = 0.5, seed: Seed | None = None,
                      activation: Activation | None = None, use_bias: bool | None = None,
                      kernel_initializer: Initializer = "glorot_uniform",
                      bias_initializer: Initializer = "zeros", kernel_regularizer: Regularizer | None = None,
                      bias_regularizer: Regularizer | None = None, kernel_constraint: Constraint | None = None,
                      normalizer: Normalizer | None = None, name: str | None = None):
    """DropConnect dense: in training zeroes each weight with probability `rate` (kept ones x 1/(1-rate), new mask per step); all weights at inference.

    Args:
        units: output units.
        rate: probability of dropping each weight of the kernel (never the bias). Defaults to 0.5
            (the paper's).
        seed: seed of the layer's mask generator. Defaults to None.
        use_bias: add b. None: yes, unless a normalizer follows. Defaults to None.
        normalizer: a normalization layer spec placed before the activation. Defaults to None.
    """
    return _dropconnect("DropConnectDense", units, rate=rate, seed=seed, activation=activation,
                        use_bias=use_bias, kernel_initializer=kernel_initializer,
                        bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                        bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                        normalizer=normalizer, name=name)


@layers.register("dropconnect_conv1d")
def dropconnect_conv1d(filters: PositiveInt, kernel_size: PositiveInt, rate: Rate = 0.5, seed: Seed | None = None,
                       strides: PositiveInt = 1, padding: Literal["valid", "same", "causal"] = "valid",
                       dilation_rate: PositiveInt = 1, activation: Activation | None = None,
                       use_bias: bool | None = None, kernel_initializer: Initializer = "glorot_uniform",
                       bias_initializer: Initializer = "zeros", kernel_regularizer: Regularizer | None = None,
                       bias_regularizer: Regularizer | None = None, kernel_constraint: Constraint | None = None,
                       normalizer: Normalizer | None = None, name: str | None = None):
    """DropConnect 1-D convolution: kernel weights dropped with probability `rate` in training (scaled by 1/(1-rate)); all weights at inference."""
    return _dropconnect("DropConnectConv1D", filters, kernel_size, rate=rate, seed=seed, strides=strides,
                        padding=padding, dilation_rate=dilation_rate, activation=activation,
                        use_bias=use_bias, kernel_initializer=kernel_initializer,
                        bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                        bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                        normalizer=normalizer, name=name)


@layers.register("dropconnect_conv2d")
def dropconnect_conv2d(filters: PositiveInt, kernel_size: Size2D, rate: Rate = 0.5,
                       seed: Seed | None = None, strides: Size2D = 1,
                       padding: Literal["valid", "same"] = "valid", dilation_rate: Size2D = 1,
                       activation: Activation | None = None, use_bias: bool | None = None,
                       kernel_initializer: Initializer = "glorot_uniform",
                       bias_initializer: Initializer = "zeros", kernel_regularizer: Regularizer | None = None,
                       bias_regularizer: Regularizer | None = None, kernel_constraint: Constraint | None = None,
                       normalizer: Normalizer | None = None, name: str | None = None):
    """DropConnect 2-D convolution: kernel weights dropped with probability `rate` in training (scaled by 1/(1-rate)); all weights at inference."""
    return _dropconnect("DropConnectConv2D", filters, kernel_size, rate=rate, seed=seed, strides=strides,
                        padding=padding, dilation_rate=dilation_rate, activation=activation,
                        use_bias=use_bias, kernel_initializer=kernel_initializer,
                        bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                        bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                        normalizer=normalizer, name=name)
