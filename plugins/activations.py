"""Activation functions, usable as `activation:` on a layer or as `{type: activation, fn: ...}`."""

from __future__ import annotations

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
