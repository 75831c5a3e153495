"""Weight constraints: projections applied after every optimizer step (max-norm, unit-norm, non-negative).

`axis` names the axes a norm is taken over: 0 for a dense kernel (in, out) is each unit's vector of
incoming weights; use [0, 1] for a conv1d kernel (k, in, out) and [0, 1, 2] for conv2d.
"""

from __future__ import annotations

from pipeline.lazy import LazyModule
from pipeline.registries import constraints
from pipeline.values import PositiveFloat

keras = LazyModule("keras")


@constraints.register("max_norm", aliases=("maxnorm",))
def max_norm(max_value: PositiveFloat = 2.0, axis: int | list[int] = 0):
    """Max-norm: after each update, rescales every unit's incoming weight vector whose L2 norm exceeds max_value (Srebro et al.; pairs well with dropout)."""
    return keras.constraints.MaxNorm(max_value=max_value, axis=axis)


@constraints.register("unit_norm")
def unit_norm(axis: int | list[int] = 0):
    """Unit-norm: after each update, rescales every unit's incoming weight vector to L2 norm 1."""
    return keras.constraints.UnitNorm(axis=axis)


@constraints.register("non_neg", aliases=("non_negative",))
def non_neg():
    """Non-negative: after each update, sets negative weights to zero."""
    return keras.constraints.NonNeg()
