"""Learning-rate schedules, written in epochs and turned into steps once the data size is known.

A schedule factory returns `make(learning_rate, steps_per_epoch, epochs)`, which the trainer calls
with the optimizer's learning rate (after `train.scale_lr_with_batch`, if set) to get a Keras
`LearningRateSchedule`. Every schedule takes `warmup_epochs`: a linear ramp from 0 to the learning
rate over that many epochs (fractions allowed), after which the decay starts from the full rate
(step and inverse-sqrt read absolute epochs, so their milestones do not move). Keras' own
schedules do the decays; `plugins/schedules_keras.py` adds the warmup wrapper and 1/sqrt(t).
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Le

from pipeline.lazy import LazyModule
from pipeline.registries import schedules
from pipeline.values import NonNegativeFloat, PositiveFloat, PositiveInt, UnitInterval

keras = LazyModule("keras")

DecayRate = Annotated[PositiveFloat, Le(1)]  # a decay per epoch: (0, 1]


def _steps(epochs: float, steps_per_epoch: int) -> int:
    return int(round(epochs * steps_per_epoch))


def _with_warmup(schedule, learning_rate: float, warmup_steps: int, shift: bool = True):
    """`schedule` after a linear warmup from 0 to `learning_rate` (no wrapper without warmup)."""
    if warmup_steps <= 0:
        return schedule
    from plugins.schedules_keras import LinearWarmup

    return LinearWarmup(schedule, warmup_steps, learning_rate, shift=shift)


def _decay_steps(steps_per_epoch: int, epochs: int, warmup_steps: int) -> int:
    """Steps left for the decay once the warmup is over (at least 1)."""
    return max(1, epochs * steps_per_epoch - warmup_steps)


def _cosine(learning_rate: float, steps_per_epoch: int, epochs: int, warmup_epochs: float, alpha: float):
    warmup = _steps(warmup_epochs, steps_per_epoch)
    decay = _decay_steps(steps_per_epoch, epochs, warmup)
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay, alpha=alpha)
    # Keras' cosine has the linear warmup built in (from initial_learning_rate=0 to warmup_target).
    return keras.optimizers.schedules.CosineDecay(0.0, decay, alpha=alpha, warmup_target=learning_rate,
                                                  warmup_steps=warmup)


@schedules.register("constant")
def constant(warmup_epochs: NonNegativeFloat = 0):
    """The optimizer's learning rate throughout, after an optional linear warmup."""
    # A cosine that decays to alpha=1.0 of its start is flat: Keras' warmup then comes for free.
    return lambda learning_rate, steps_per_epoch, epochs: _cosine(
        learning_rate, steps_per_epoch, epochs, warmup_epochs, alpha=1.0)


@schedules.register("cosine")
def cosine(warmup_epochs: NonNegativeFloat = 0, final_fraction: UnitInterval = 0.0):
    """Half a cosine, 1/2 a0 (1 + cos(pi t/T)), down to final_fraction of the rate by the last epoch (SGDR)."""
    return lambda learning_rate, steps_per_epoch, epochs: _cosine(
        learning_rate, steps_per_epoch, epochs, warmup_epochs, alpha=final_fraction)


@schedules.register("step")
def step(milestones: list[PositiveInt], factor: PositiveFloat = 0.1, warmup_epochs: NonNegativeFloat = 0):
    """Multiply the learning rate by `factor` at each milestone epoch (e.g. x0.1 at 30, 60, 90)."""

    def make(learning_rate, steps_per_epoch, epochs):
        # Keras keeps the old value while step <= boundary, and the optimizer asks for the rate at
        # `iterations`, which is m * steps_per_epoch on the first batch of epoch m.
        boundaries = [m * steps_per_epoch - 1 for m in sorted(milestones)]
        values = [learning_rate * factor ** i for i in range(len(boundaries) + 1)]
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
        # milestones are absolute epochs: the warmup does not move them
        return _with_warmup(schedule, learning_rate, _steps(warmup_epochs, steps_per_epoch), shift=False)

    return make


@schedules.register("exponential")
def exponential(decay_rate: DecayRate = 0.9, warmup_epochs: NonNegativeFloat = 0, staircase: bool = False):
    """a0 * decay_rate^t, t in epochs (the course's a0 e^(-kt) with decay_rate = e^(-k)); staircase: whole epochs."""

    def make(learning_rate, steps_per_epoch, epochs):
        schedule = keras.optimizers.schedules.ExponentialDecay(
            learning_rate, decay_steps=steps_per_epoch, decay_rate=decay_rate, staircase=staircase)
        return _with_warmup(schedule, learning_rate, _steps(warmup_epochs, steps_per_epoch))

    return make


@schedules.register("inverse_time", aliases=("one_over_t",))
def inverse_time(decay_rate: NonNegativeFloat = 1.0, warmup_epochs: NonNegativeFloat = 0, staircase: bool = False):
    """1/t decay: a0 / (1 + k t), k = decay_rate, t in epochs since the end of warmup."""

    def make(learning_rate, steps_per_epoch, epochs):
        schedule = keras.optimizers.schedules.InverseTimeDecay(
            learning_rate, decay_steps=steps_per_epoch, decay_rate=decay_rate, staircase=staircase)
        return _with_warmup(schedule, learning_rate, _steps(warmup_epochs, steps_per_epoch))

    return make


@schedules.register("linear")
def linear(warmup_epochs: NonNegativeFloat = 0, end_fraction: UnitInterval = 0.0):
    """a0 (1 - t/T): a straight line from the rate down to end_fraction of it at the last epoch."""

    def make(learning_rate, steps_per_epoch, epochs):
        warmup = _steps(warmup_epochs, steps_per_epoch)
        schedule = keras.optimizers.schedules.PolynomialDecay(
            learning_rate, decay_steps=_decay_steps(steps_per_epoch, epochs, warmup),
            end_learning_rate=learning_rate * end_fraction, power=1.0)
        return _with_warmup(schedule, learning_rate, warmup)

    return make


@schedules.register("inverse_sqrt", aliases=("rsqrt",))
def inverse_sqrt(warmup_epochs: NonNegativeFloat = 0, timescale_epochs: PositiveFloat | None = None):
    """a0 / sqrt(t), t in units of timescale_epochs (default: the warmup, else 1 epoch); the Transformer's decay."""

    def make(learning_rate, steps_per_epoch, epochs):
        from plugins.schedules_keras import InverseSqrtDecay

        warmup = _steps(warmup_epochs, steps_per_epoch)
        scale = timescale_epochs if timescale_epochs is not None else (warmup_epochs or 1)
        schedule = InverseSqrtDecay(learning_rate, max(1, _steps(scale, steps_per_epoch)))
        # the decay reads the global step, so it continues the warmup without a jump
        return _with_warmup(schedule, learning_rate, warmup, shift=False)

    return make
