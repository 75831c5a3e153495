"""Optimizers (Keras' own). `learning_rate` may be replaced by the recipe's `train.schedule`.

Every optimizer takes Keras' gradient-clipping options, one at a time: `clipnorm` (rescale each
variable's gradient to at most this norm), `clipvalue` (clip each gradient element to [-v, v]) or
`global_clipnorm` (rescale all gradients together so their joint norm is at most this).
SGD+momentum and Nesterov are `sgd` with `momentum: 0.9` and `nesterov: true`, not separate names:
one optimizer, one set of flags. `weight_decay` (sgd, adamw) is decoupled weight decay,
`w -= lr * weight_decay * w` each step, not an L2 term in the loss.
"""

from __future__ import annotations

from pipeline.lazy import LazyModule
from pipeline.registries import optimizers
from pipeline.values import NonNegativeFloat, PositiveFloat, Rate

keras = LazyModule("keras")


def _clipping(clipnorm, clipvalue, global_clipnorm) -> dict:
    # Keras refuses more than one of the three, with a message naming them.
    return {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}


@optimizers.register("sgd")
def sgd(learning_rate: PositiveFloat = 0.01, momentum: Rate = 0.0, nesterov: bool = False,
        weight_decay: NonNegativeFloat | None = None, clipnorm: PositiveFloat | None = None,
        clipvalue: PositiveFloat | None = None, global_clipnorm: PositiveFloat | None = None):
    """Stochastic gradient descent; momentum: 0.9 gives SGD+momentum, nesterov: true Nesterov's look-ahead."""
    return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov,
                                weight_decay=weight_decay,
                                **_clipping(clipnorm, clipvalue, global_clipnorm))


@optimizers.register("adagrad")
def adagrad(learning_rate: PositiveFloat = 0.001, initial_accumulator_value: NonNegativeFloat = 0.1,
            epsilon: PositiveFloat = 1e-7, clipnorm: PositiveFloat | None = None,
            clipvalue: PositiveFloat | None = None, global_clipnorm: PositiveFloat | None = None):
    """AdaGrad: per-parameter steps lr * g / sqrt(sum of past g^2); steep directions damped, steps shrink to 0."""
    return keras.optimizers.Adagrad(learning_rate=learning_rate,
                                    initial_accumulator_value=initial_accumulator_value, epsilon=epsilon,
                                    **_clipping(clipnorm, clipvalue, global_clipnorm))


@optimizers.register("rmsprop")
def rmsprop(learning_rate: PositiveFloat = 0.001, rho: Rate = 0.9, momentum: Rate = 0.0, epsilon: PositiveFloat = 1e-7,
            centered: bool = False, clipnorm: PositiveFloat | None = None, clipvalue: PositiveFloat | None = None,
            global_clipnorm: PositiveFloat | None = None):
    """RMSProp: AdaGrad with a leaky (rho) average of g^2, so steps do not decay to zero; optional momentum."""
    return keras.optimizers.RMSprop(learning_rate=learning_rate, rho=rho, momentum=momentum,
                                    epsilon=epsilon, centered=centered,
                                    **_clipping(clipnorm, clipvalue, global_clipnorm))


@optimizers.register("adam")
def adam(learning_rate: PositiveFloat = 0.001, beta_1: Rate = 0.9, beta_2: Rate = 0.999, epsilon: PositiveFloat = 1e-7,
         amsgrad: bool = False, clipnorm: PositiveFloat | None = None, clipvalue: PositiveFloat | None = None,
         global_clipnorm: PositiveFloat | None = None):
    """Adam: momentum plus per-parameter step sizes from running second moments (bias-corrected)."""
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                                 epsilon=epsilon, amsgrad=amsgrad,
                                 **_clipping(clipnorm, clipvalue, global_clipnorm))


@optimizers.register("adamw")
def adamw(learning_rate: PositiveFloat = 0.001, weight_decay: NonNegativeFloat = 0.004, beta_1: Rate = 0.9,
          beta_2: Rate = 0.999, epsilon: PositiveFloat = 1e-7, amsgrad: bool = False,
          clipnorm: PositiveFloat | None = None, clipvalue: PositiveFloat | None = None,
          global_clipnorm: PositiveFloat | None = None):
    """AdamW: Adam with decoupled weight decay w -= lr * weight_decay * w (Loshchilov & Hutter), not an L2 loss."""
    return keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay, beta_1=beta_1,
                                  beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
                                  **_clipping(clipnorm, clipvalue, global_clipnorm))
