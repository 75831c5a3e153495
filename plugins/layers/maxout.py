"""Maxout units (Goodfellow et al., 2013): a learned, piecewise-linear activation."""

from __future__ import annotations

from pipeline.registries import Constraint, Initializer, Regularizer, layers
from pipeline.values import PositiveInt


@layers.register("maxout")
def maxout(units: PositiveInt, pieces: PositiveInt = 2, use_bias: bool = True,
           kernel_initializer: Initializer = "glorot_uniform", bias_initializer: Initializer = "zeros",
           kernel_regularizer: Regularizer | None = None, bias_regularizer: Regularizer | None = None,
           kernel_constraint: Constraint | None = None, name: str | None = None):
    """Maxout: each of `units` outputs is max(w_1.x + b_1, ..., w_k.x + b_k) over k = `pieces` linear pieces (generalizes ReLU and leaky ReLU; no saturation, no dead units).

    Args:
        units: output units.
        pieces: linear pieces per unit (k); the layer has k times the weights of a dense layer.
            Defaults to 2 (the course's max(w_1.x + b_1, w_2.x + b_2)).
    """
    from plugins.layers.maxout_keras import Maxout

    return Maxout(units, pieces=pieces, use_bias=use_bias, kernel_initializer=kernel_initializer,
                  bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                  bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint, name=name)
