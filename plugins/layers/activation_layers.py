"""Activations as layers: PReLU, whose slope is learned (weights need a layer), and leaky ReLU.

The same names as in the activation registry where both exist: which registry a name is looked up in
follows from where it is written (`layers:` entry vs `activation:` argument), so `{type: leaky_relu,
alpha: 0.1}` means the same function in both places. `prelu` is a layer only: an activation that owns
weights cannot be fused into a dense/conv layer and still be saved and reloaded by Keras.
"""

from __future__ import annotations

from pydantic import NonNegativeFloat

from pipeline.registries import Constraint, Regularizer, layers


@layers.register("leaky_relu")
def leaky_relu(alpha: NonNegativeFloat = 0.1, name: str | None = None):
    """Leaky ReLU as a layer: max(alpha * x, x), fixed slope (course: alpha = 0.1).

    Args:
        alpha: slope for negative inputs. Defaults to 0.1.
        name: layer name. Defaults to None.
    """
    import keras

    return keras.layers.LeakyReLU(negative_slope=alpha, name=name)


@layers.register("prelu")
def prelu(initial_alpha: float = 0.25, shared_axes: list[int] | None = None,
          alpha_regularizer: Regularizer | None = None, alpha_constraint: Constraint | None = None,
          name: str | None = None):
    """Parametric ReLU (He et al., 2015): max(alpha * x, x) with the slope alpha learned by backprop.

    Args:
        initial_alpha: starting slope of every alpha. Defaults to 0.25 (the paper's).
        shared_axes: axes along which one alpha is shared, e.g. [1] after a conv1d or [1, 2] after
            a conv2d for one slope per channel (the paper's channel-wise PReLU). None: one alpha per
            feature of the input (per unit after a dense layer). Defaults to None.
        alpha_regularizer: penalty on the slopes (the paper uses none: decay pushes alpha to ReLU's 0).
            Defaults to None.
        alpha_constraint: constraint on the slopes. Defaults to None.
        name: layer name. Defaults to None.
    """
    import keras

    return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(initial_alpha),
                              alpha_regularizer=alpha_regularizer, alpha_constraint=alpha_constraint,
                              shared_axes=shared_axes, name=name)
