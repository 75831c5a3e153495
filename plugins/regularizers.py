"""Weight penalties added to the loss."""

from __future__ import annotations

from pipeline.registries import regularizers


@regularizers.register("l1")
def l1(factor: float = 0.01):
    """factor * sum|w|: drives weights to exactly zero (sparse)."""
    import keras

    return keras.regularizers.L1(factor)


@regularizers.register("l2")
def l2(factor: float = 0.01):
    """factor * sum w^2: weight decay through the loss (prefer the optimizer's decoupled decay with Adam)."""
    import keras

    return keras.regularizers.L2(factor)


@regularizers.register("l1_l2")
def l1_l2(l1: float = 0.01, l2: float = 0.01):
    """l1 * sum|w| + l2 * sum w^2."""
    import keras

    return keras.regularizers.L1L2(l1=l1, l2=l2)
