"""Dense, flatten, reshape, dropout and a stand-alone activation layer."""

from __future__ import annotations

from pipeline.registries import Activation, Constraint, Initializer, Regularizer, layers


@layers.register("dense")
def dense(units: int, activation: Activation | None = None, use_bias: bool = True,
          kernel_initializer: Initializer = "glorot_uniform", bias_initializer: Initializer = "zeros",
          kernel_regularizer: Regularizer | None = None, bias_regularizer: Regularizer | None = None,
          kernel_constraint: Constraint | None = None, name: str | None = None):
    """Fully connected layer: activation(x W + b)."""
    import keras

    return keras.layers.Dense(units, activation=activation, use_bias=use_bias,
                              kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                              kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                              kernel_constraint=kernel_constraint, name=name)


@layers.register("flatten")
def flatten(name: str | None = None):
    """Flattens every axis but the batch axis (conv features -> dense input)."""
    import keras

    return keras.layers.Flatten(name=name)


@layers.register("reshape")
def reshape(target_shape: tuple[int, ...], name: str | None = None):
    """Reshapes each example to `target_shape` (-1 infers one axis)."""
    import keras

    return keras.layers.Reshape(target_shape, name=name)


@layers.register("dropout")
def dropout(rate: float, seed: int | None = None, name: str | None = None):
    """Inverted dropout: zeroes a fraction `rate` of activations and scales the rest by 1/(1-rate) in training; identity at inference."""
    import keras

    return keras.layers.Dropout(rate, seed=seed, name=name)


@layers.register("activation")
def activation(fn: Activation, name: str | None = None):
    """Applies an activation function as its own layer (e.g. after batch norm)."""
    import keras

    return keras.layers.Activation(fn, name=name)
