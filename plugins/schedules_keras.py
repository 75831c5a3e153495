"""Learning-rate schedules Keras does not have: linear warmup around any schedule, inverse square root.

Imported by the factories in `plugins/schedules.py` only (never at plugin import time). Both classes
use `keras.ops` only, so they run inside a compiled train step on every backend, and serialize with
`get_config` so an optimizer holding them saves and reloads with the model.
"""

from __future__ import annotations

import keras
from keras import ops

from pipeline.keras_compat import tensorflow_probe_disabled


@keras.saving.register_keras_serializable(package="pipeline")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """`peak * step / warmup_steps` for the first `warmup_steps` steps, then `schedule`.

    Linear from 0 (Goyal et al. 2017): the first update is made with a learning rate of 0 and step
    `warmup_steps` is the first to use `peak`. With `shift=True` the wrapped schedule starts its own
    clock when warmup ends (a decay begins at its initial rate right after warmup); with
    `shift=False` it reads the global step (milestones written in absolute epochs stay put).

    Args:
        schedule: the `LearningRateSchedule` that follows the warmup.
        warmup_steps: number of warmup steps (> 0).
        peak: the learning rate reached at the end of the warmup (usually the schedule's start).
        shift: whether `schedule` is evaluated at `step - warmup_steps`. Defaults to `True`.
    """

    def __init__(self, schedule, warmup_steps: int, peak: float, shift: bool = True, name: str | None = None):
        super().__init__()
        if warmup_steps <= 0:
            raise ValueError(f"Expected warmup_steps > 0. Received: warmup_steps={warmup_steps}")
        if isinstance(schedule, dict):
            with tensorflow_probe_disabled():
                schedule = keras.optimizers.schedules.deserialize(schedule)
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)
        self.peak = float(peak)
        self.shift = bool(shift)
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = float(self.warmup_steps)
        inner_step = ops.maximum(step - warmup, 0.0) if self.shift else step
        after = ops.cast(self.schedule(inner_step), "float32")
        during = self.peak * step / warmup
        return ops.where(step < warmup, during, after)

    def get_config(self):
        with tensorflow_probe_disabled():  # Keras' serializer would import TensorFlow on JAX runs
            schedule = keras.optimizers.schedules.serialize(self.schedule)
        return {"schedule": schedule, "warmup_steps": self.warmup_steps, "peak": self.peak,
                "shift": self.shift, "name": self.name}


@keras.saving.register_keras_serializable(package="pipeline")
class InverseSqrtDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`initial_learning_rate * sqrt(timescale / max(step, timescale))`: alpha_0 / sqrt(t).

    With t counted in units of `timescale_steps`, the rate is alpha_0 / sqrt(t) once t >= 1 and
    alpha_0 before (the Transformer's rule, where the timescale is the warmup length, so the
    curve continues the warmup without a jump).

    Args:
        initial_learning_rate: alpha_0.
        timescale_steps: the step at which the decay starts (> 0).
    """

    def __init__(self, initial_learning_rate: float, timescale_steps: int, name: str | None = None):
        super().__init__()
        if timescale_steps <= 0:
            raise ValueError(f"Expected timescale_steps > 0. Received: timescale_steps={timescale_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.timescale_steps = int(timescale_steps)
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        tau = float(self.timescale_steps)
        return self.initial_learning_rate * ops.sqrt(tau / ops.maximum(step, tau))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "timescale_steps": self.timescale_steps, "name": self.name}
