"""Weight penalties added to the loss: L1 (sparsity), L2 (weight decay through the loss), elastic L1+L2.

L2 through the loss and the optimizer's decoupled `weight_decay` both shrink the weights; a recipe
with both is refused by the validator unless the regularizer says `with_weight_decay: true`
(see `pipeline.recipe.lint.check_weight_decay`).
"""

from __future__ import annotations

from pipeline.lazy import LazyModule
from pipeline.registries import regularizers
from pipeline.values import NonNegativeFloat

keras = LazyModule("keras")


@regularizers.register("l1")
def l1(factor: NonNegativeFloat = 0.01):
    """factor * sum|w|: drives weights to exactly zero (sparse)."""
    return keras.regularizers.L1(factor)


@regularizers.register("l2")
def l2(factor: NonNegativeFloat = 0.01, with_weight_decay: bool = False):
    """factor * sum w^2: weight decay through the loss (with Adam prefer the optimizer's decoupled decay, AdamW).

    Args:
        factor: the penalty's coefficient (lambda). Defaults to 0.01.
        with_weight_decay: set true to keep this penalty although the optimizer also applies
            decoupled `weight_decay`; without it such a recipe is refused, because the two
            shrink the same weights twice. Changes nothing else. Defaults to False.
    """
    return keras.regularizers.L2(factor)


@regularizers.register("elastic", aliases=("l1_l2", "elastic_net"))
def elastic(l1: NonNegativeFloat = 0.01, l2: NonNegativeFloat = 0.01, with_weight_decay: bool = False):
    """Elastic net l1 * sum|w| + l2 * sum w^2: sparse like L1, stable like L2 (the course's beta|W| + alpha|W|^2).

    Args:
        l1: coefficient of sum|w| (the course's beta). Defaults to 0.01.
        l2: coefficient of sum w^2 (the course's alpha). Defaults to 0.01.
        with_weight_decay: as for `l2`: keep the L2 part although the optimizer also applies
            decoupled `weight_decay`. Defaults to False.
    """
    return keras.regularizers.L1L2(l1=l1, l2=l2)
