"""Normalization layers (batch, layer, group, instance) and the `normalizer:` argument of dense/conv layers.

The course's picture, for conv features of shape N x H x W x C (mu, sigma are the statistics; gamma,
beta the learned per-channel scale and shift):

| layer         | mu, sigma over      | train vs inference                      |
|---------------|---------------------|-----------------------------------------|
| batch_norm    | N, H, W (per C)     | batch statistics / moving averages      |
| layer_norm    | H, W, C (per N)     | the same                                |
| instance_norm | H, W (per N and C)  | the same                                |
| group_norm    | H, W, C/G (per N, G)| the same; G=1 is layer norm, G=C instance norm |
"""

from __future__ import annotations

from typing import Annotated, Any

from pipeline import registries
from pipeline.components import build_spec
from pipeline.lazy import LazyModule
from pipeline.registries import Ref, layers
from pipeline.values import PositiveFloat, PositiveInt, Rate

keras = LazyModule("keras")

#: A `normalizer:` argument: a layer spec (`batch_norm` or `{type: group_norm, groups: 8}`), built
#: before the factory runs. The recipe lint checks that it names a normalization layer, i.e. a
#: layer factory marked `is_normalizer = True` (third-party normalizers can set the same mark).
Normalizer = Annotated[Any, Ref("layers")]


def normalizer(fn):
    """Marks a layer factory as usable in `normalizer:` (checked by `pipeline.recipe.lint`)."""
    fn.is_normalizer = True
    return fn


@layers.register("batch_norm", aliases=("batch_normalization",))
@normalizer
def batch_norm(momentum: Rate = 0.99, epsilon: PositiveFloat = 1e-3, center: bool = True, scale: bool = True,
               name: str | None = None):
    """Batch norm: batch statistics in training, moving averages at inference; learned scale and shift."""
    return keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, center=center,
                                           scale=scale, name=name)


@layers.register("layer_norm", aliases=("layer_normalization",))
@normalizer
def layer_norm(axis: int | list[int] | None = None, epsilon: PositiveFloat = 1e-3, center: bool = True,
               scale: bool = True, name: str | None = None):
    """Layer norm (Ba et al.): each example normalized by its own mean and variance; same at train and test.

    Args:
        axis: the axes the statistics are taken over. None (the course's layer norm): every axis
            but the batch axis, with a learned scale and shift per channel (Keras'
            `GroupNormalization(groups=1)`). An int or list (e.g. -1, the Transformer's per-position
            norm over channels) uses Keras' `LayerNormalization(axis)`, whose scale and shift span
            those axes. Both agree on (batch, features) inputs. Defaults to None.
        epsilon: added to the variance. Defaults to 1e-3.
        center: learn a shift beta. Defaults to True.
        scale: learn a scale gamma. Defaults to True.
    """
    if axis is None:
        return keras.layers.GroupNormalization(groups=1, epsilon=epsilon, center=center, scale=scale,
                                               name=name)
    return keras.layers.LayerNormalization(axis=axis, epsilon=epsilon, center=center, scale=scale,
                                           name=name)


@layers.register("group_norm", aliases=("group_normalization",))
@normalizer
def group_norm(groups: PositiveInt = 32, epsilon: PositiveFloat = 1e-3, center: bool = True, scale: bool = True,
               name: str | None = None):
    """Group norm (Wu & He): each example's channels split into `groups`, each normalized over its channels and space; batch-size independent."""
    return keras.layers.GroupNormalization(groups=groups, epsilon=epsilon, center=center, scale=scale,
                                           name=name)


@layers.register("instance_norm", aliases=("instance_normalization",))
@normalizer
def instance_norm(epsilon: PositiveFloat = 1e-3, center: bool = True, scale: bool = True, name: str | None = None):
    """Instance norm (Ulyanov et al.): each example's channels normalized separately over space (group norm with one channel per group)."""
    # groups=-1: one group per channel, fixed to the channel count when the layer is built
    return keras.layers.GroupNormalization(groups=-1, epsilon=epsilon, center=center, scale=scale,
                                           name=name)


def normalized(core, norm, activation, name: str | None):
    """`core` (no bias, no activation), then `norm`, then `activation`, as one Keras `Sequential`.

    The course places the normalization after the linear layer and before the non-linearity; the
    norm's learned shift beta replaces the bias. `norm` is a built layer or a layer spec.
    """
    if isinstance(norm, (str, dict)):
        norm = build_spec(registries.layers, norm)
    stack = [core, norm]
    if activation is not None:
        stack.append(activation if isinstance(activation, keras.layers.Layer)
                     else keras.layers.Activation(activation, name=f"{core.name}_activation"))
    return keras.Sequential(stack, name=name or f"{core.name}_normalized")
