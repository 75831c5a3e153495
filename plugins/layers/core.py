"""Dense, flatten, reshape and a stand-alone activation layer (dropout and noise: regularization.py)."""

from __future__ import annotations

from pipeline.lazy import LazyModule
from pipeline.registries import Activation, Constraint, Initializer, Regularizer, layers
from pipeline.values import PositiveInt
from plugins.layers.normalization import Normalizer, normalized

keras = LazyModule("keras")


@layers.register("dense")
def dense(units: PositiveInt, activation: Activation | None = None, use_bias: bool | None = None,
          kernel_initializer: Initializer = "glorot_uniform", bias_initializer: Initializer = "zeros",
          kernel_regularizer: Regularizer | None = None, bias_regularizer: Regularizer | None = None,
          kernel_constraint: Constraint | None = None, normalizer: Normalizer | None = None,
          name: str | None = None):
    """Fully connected layer: activation(x W + b); with `normalizer:`, activation(norm(x W)).

    Args:
        use_bias: add b. None: yes, unless a normalizer follows (its shift beta does the job).
            Defaults to None.
        normalizer: a normalization layer spec (`batch_norm`, `{type: group_norm, groups: 4}`, ...)
            placed between the product and the activation, as the course recommends; the layer is
            then a small `Sequential` [Dense, norm, Activation]. Defaults to None.
    """
    if use_bias is None:
        use_bias = normalizer is None
    core = keras.layers.Dense(units, activation=None if normalizer is not None else activation,
                              use_bias=use_bias, kernel_initializer=kernel_initializer,
                              bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                              bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                              name=None if normalizer is not None else name)
    return core if normalizer is None else normalized(core, normalizer, activation, name)


@layers.register("flatten")
def flatten(name: str | None = None):
    """Flattens every axis but the batch axis (conv features -> dense input)."""
    return keras.layers.Flatten(name=name)


@layers.register("reshape")
def reshape(target_shape: tuple[int, ...], name: str | None = None):
    """Reshapes each example to `target_shape` (-1 infers one axis)."""
    return keras.layers.Reshape(target_shape, name=name)


@layers.register("activation")
def activation(fn: Activation, name: str | None = None):
    """Applies an activation function as its own layer (e.g. after batch norm)."""
    return keras.layers.Activation(fn, name=name)
