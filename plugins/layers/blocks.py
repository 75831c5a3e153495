"""Reusable blocks registered as layers, usable in a plain layer list: the residual block."""

from __future__ import annotations

from pipeline import registries
from pipeline.components import build_spec
from pipeline.registries import Activation, Constraint, Initializer, Regularizer, layers
from pipeline.values import PositiveInt
from plugins.layers.normalization import Normalizer


@layers.register("residual_block")
def residual_block(filters: PositiveInt, kernel_size: PositiveInt = 3, strides: PositiveInt = 1,
                   normalizer: Normalizer | None = "batch_norm", activation: Activation = "relu",
                   kernel_initializer: Initializer = "he_normal",
                   kernel_regularizer: Regularizer | None = None,
                   kernel_constraint: Constraint | None = None, name: str | None = None):
    """Residual basic block (He et al.): act(x' + norm(conv(act(norm(conv(x)))))), x' = x or a 1x1 projection when the stride or channels change; 1-D or 2-D from the input.

    Args:
        filters: channels of both convolutions (and of the output).
        kernel_size: size of both convolutions (padding 'same'). Defaults to 3.
        strides: stride of the first convolution and of the projection; 2 halves each spatial
            axis. Defaults to 1.
        normalizer: the normalization layer after each convolution (a layer spec), or null for
            none. Defaults to batch_norm.
        activation: after the first norm and after the addition. Defaults to relu.
        kernel_initializer: of every convolution. Defaults to he_normal (for ReLU).
    """
    from plugins.layers.blocks_keras import ResidualBlock

    if isinstance(normalizer, (str, dict)):  # the signature's default arrives unbuilt
        normalizer = build_spec(registries.layers, normalizer)
    if isinstance(activation, (str, dict)):
        activation = build_spec(registries.activations, activation)
    return ResidualBlock(filters, kernel_size=kernel_size, strides=strides, normalizer=normalizer,
                         activation=activation, kernel_initializer=kernel_initializer,
                         kernel_regularizer=kernel_regularizer, kernel_constraint=kernel_constraint,
                         name=name)
