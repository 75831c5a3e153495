"""The repeated stages of VGG, ResNet and U-Net as registered layers with arguments.

Architectures in `recipes/` are written with these (graph models), not as hard-coded networks:
VGG is `vgg_stage` x N then a head; ResNet-20 is a stem, three `residual_stage`s (16, 32, 64
filters, 3 blocks each), pooling and a dense layer; a U-Net joins `vgg_stage(pool: false)`
encoder outputs to `unet_up` decoder steps by name. Classes in `stages_keras.py`.
"""

from __future__ import annotations

from pipeline import registries
from pipeline.components import build_spec
from pipeline.registries import Activation, Initializer, Regularizer, layers
from pipeline.values import PositiveInt
from plugins.layers.normalization import Normalizer


def _built(normalizer, activation):
    """The signature's defaults arrive unbuilt (as in `blocks.residual_block`)."""
    if isinstance(normalizer, (str, dict)):
        normalizer = build_spec(registries.layers, normalizer)
    if isinstance(activation, (str, dict)):
        activation = build_spec(registries.activations, activation)
    return normalizer, activation


@layers.register("vgg_stage")
def vgg_stage(filters: PositiveInt, convs: PositiveInt = 2, pool: bool = True, kernel_size: PositiveInt = 3,
              normalizer: Normalizer | None = None, activation: Activation = "relu",
              kernel_initializer: Initializer = "he_normal", kernel_regularizer: Regularizer | None = None,
              name: str | None = None):
    """VGG stage: `convs` x [3x3 conv (same) -> norm -> act] then 2x2 max pool (halves h and w) unless pool is false.

    Args:
        filters: channels of every convolution (VGG doubles them after each pool).
        convs: convolutions in the stage; two 3x3 see as far as one 5x5 with fewer weights.
            Defaults to 2.
        pool: end with a 2x2 max pool of stride 2. False gives a U-Net encoder step whose output
            is the skip connection (pool it with a separate `max_pool2d`). Defaults to True.
        normalizer: a normalization layer spec after each convolution, or null. Defaults to None.
    """
    from plugins.layers.stages_keras import VGGStage

    normalizer, activation = _built(normalizer, activation)
    return VGGStage(filters, convs=convs, pool=pool, kernel_size=kernel_size, normalizer=normalizer,
                    activation=activation, kernel_initializer=kernel_initializer,
                    kernel_regularizer=kernel_regularizer, name=name)


@layers.register("residual_stage")
def residual_stage(filters: PositiveInt, blocks: PositiveInt = 2, strides: PositiveInt = 1,
                   kernel_size: PositiveInt = 3, normalizer: Normalizer | None = "batch_norm",
                   activation: Activation = "relu", kernel_initializer: Initializer = "he_normal",
                   kernel_regularizer: Regularizer | None = None, name: str | None = None):
    """ResNet stage: `blocks` residual basic blocks of `filters`; the first has `strides` (2 halves h and w, with a 1x1 projection shortcut).

    Args:
        filters: channels of every block.
        blocks: basic blocks (2 convolutions each): ResNet-20 has 3 per stage, ResNet-18 2.
            Defaults to 2.
        strides: stride of the first block. Defaults to 1.
    """
    from plugins.layers.stages_keras import ResidualStage

    normalizer, activation = _built(normalizer, activation)
    return ResidualStage(filters, blocks=blocks, strides=strides, kernel_size=kernel_size,
                         normalizer=normalizer, activation=activation,
                         kernel_initializer=kernel_initializer, kernel_regularizer=kernel_regularizer,
                         name=name)


@layers.register("unet_up")
def unet_up(filters: PositiveInt, convs: PositiveInt = 2, kernel_size: PositiveInt = 3,
            normalizer: Normalizer | None = None, activation: Activation = "relu",
            kernel_initializer: Initializer = "he_normal", kernel_regularizer: Regularizer | None = None,
            name: str | None = None):
    """U-Net decoder step; inputs [x, skip]: 2x2 transposed conv (stride 2) of x, concatenated with skip, then `convs` x [conv -> norm -> act].

    Args:
        filters: channels of the transposed conv and of the convolutions.
        convs: convolutions after the concatenation. Defaults to 2.
    """
    from plugins.layers.stages_keras import UNetUp

    normalizer, activation = _built(normalizer, activation)
    return UNetUp(filters, convs=convs, kernel_size=kernel_size, normalizer=normalizer,
                  activation=activation, kernel_initializer=kernel_initializer,
                  kernel_regularizer=kernel_regularizer, name=name)
