"""Learning-rate schedules, written in epochs and turned into steps once the data size is known.

A schedule factory returns `make(learning_rate, steps_per_epoch, epochs)`, which the trainer calls
with the optimizer's learning rate to get a Keras `LearningRateSchedule`.
"""

from __future__ import annotations

from pipeline.registries import schedules


def _cosine(learning_rate: float, steps_per_epoch: int, epochs: int, warmup_epochs: int, alpha: float):
    import keras

    warmup = warmup_epochs * steps_per_epoch
    decay = max(1, epochs * steps_per_epoch - warmup)
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay, alpha=alpha)
    return keras.optimizers.schedules.CosineDecay(0.0, decay, alpha=alpha, warmup_target=learning_rate,
                                                  warmup_steps=warmup)


@schedules.register("constant")
def constant(warmup_epochs: int = 0):
    """The optimizer's learning rate throughout, after an optional linear warmup."""
    # A cosine that decays to alpha=1.0 of its start is flat: Keras' warmup then comes for free.
    return lambda learning_rate, steps_per_epoch, epochs: _cosine(
        learning_rate, steps_per_epoch, epochs, warmup_epochs, alpha=1.0)


@schedules.register("cosine")
def cosine(warmup_epochs: int = 0, final_fraction: float = 0.0):
    """Linear warmup, then a half cosine from the learning rate down to final_fraction of it."""
    return lambda learning_rate, steps_per_epoch, epochs: _cosine(
        learning_rate, steps_per_epoch, epochs, warmup_epochs, alpha=final_fraction)


@schedules.register("step")
def step(milestones: list[int], factor: float = 0.1):
    """Multiply the learning rate by `factor` at each milestone epoch (e.g. x0.1 at 30, 60, 90)."""
    def make(learning_rate, steps_per_epoch, epochs):
        import keras

        # Keras keeps the old value while step <= boundary, and the optimizer asks for the rate at
        # `iterations`, which is m * steps_per_epoch on the first batch of epoch m.
        boundaries = [m * steps_per_epoch - 1 for m in sorted(milestones)]
        values = [learning_rate * factor ** i for i in range(len(boundaries) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)

    return make
