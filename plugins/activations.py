"""Activation functions, usable as `activation:` on a layer or as `{type: activation, fn: ...}`.

Parametrized ones must survive a `.keras` save: a `functools.partial` of `keras.activations.leaky_relu`
is saved by name only and reloads with Keras' default slope. Keras' own parameter-free layers are
callables that Keras serializes with their config, so `leaky_relu` returns `keras.layers.LeakyReLU`.
Activations with *learned* parameters (PReLU) need weights, hence a layer in the model's list:
see `plugins/layers/activation_layers.py`.
"""

from __future__ import annotations

from pydantic import NonNegativeFloat

from pipeline.registries import activations


def _keras(name: str):
    import keras

    return keras.activations.get(name)


@activations.register("linear", aliases=("identity",))
def linear():
    """f(x) = x (no non-linearity; the default of dense and conv layers)."""
    return _keras("linear")


@activations.register("relu")
def relu():
    """max(0, x): cheap, no saturation for x > 0; units can die for x < 0."""
    return _keras("relu")


@activations.register("sigmoid")
def sigmoid():
    """1 / (1 + e^-x): saturates at both ends, outputs not zero-centred."""
    return _keras("sigmoid")


@activations.register("tanh")
def tanh():
    """tanh(x): zero-centred but saturates at both ends."""
    return _keras("tanh")


@activations.register("leaky_relu")
def leaky_relu(alpha: NonNegativeFloat = 0.1):
    """max(alpha * x, x): ReLU with a small slope for x < 0, so units cannot die (course: alpha = 0.1).

    Args:
        alpha: slope for negative inputs. Defaults to 0.1 (the course's max(0.1x, x)).
    """
    import keras

    # A layer object, not a function: `activations.serialize` keeps its config (the slope).
    return keras.layers.LeakyReLU(negative_slope=alpha)


@activations.register("elu")
def elu():
    """x for x > 0, e^x - 1 otherwise: smooth, negative outputs push means toward zero."""
    return _keras("elu")


@activations.register("gelu")
def gelu():
    """x * Phi(x): the smooth ReLU of Transformers."""
    return _keras("gelu")


@activations.register("softmax")
def softmax():
    """Normalized exponentials: class probabilities (use from_logits losses instead when possible)."""
    return _keras("softmax")
