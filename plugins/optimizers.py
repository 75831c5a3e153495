"""Optimizers. `learning_rate` may be replaced by the recipe's `train.schedule`."""

from __future__ import annotations

from pipeline.registries import optimizers


@optimizers.register("sgd")
def sgd(learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
        weight_decay: float | None = None, clipnorm: float | None = None, clipvalue: float | None = None):
    """Stochastic gradient descent, with optional (Nesterov) momentum."""
    import keras

    return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov,
                                weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue)


@optimizers.register("adam")
def adam(learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
         amsgrad: bool = False, clipnorm: float | None = None, clipvalue: float | None = None):
    """Adam: momentum plus per-parameter step sizes from running second moments (bias-corrected)."""
    import keras

    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                                 epsilon=epsilon, amsgrad=amsgrad, clipnorm=clipnorm, clipvalue=clipvalue)
