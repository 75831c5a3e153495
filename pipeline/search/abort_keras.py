"""Stop a search trial at once when its loss explodes (the course: "if the cost is ever > 3x the
original cost, break out early"), so the search spends its budget on trials that can still win.

Deliberately minimal and separate from the general explosion guard of training runs: it raises a
KerasTuner `FailedTrialError`, which marks the trial FAILED (no retry) and lets the search go on.
"""

from __future__ import annotations

import math

import keras
from keras_tuner.errors import FailedTrialError


class TrialAborted(FailedTrialError):
    """The trial's loss turned NaN/inf or grew past `factor` times its first value (`loss`, at `epoch`)."""

    def __init__(self, message: str, loss: float | None = None, epoch: int | None = None):
        super().__init__(message)
        self.loss, self.epoch = loss, epoch


class AbortOnExplodingLoss(keras.callbacks.Callback):
    def __init__(self, factor: float = 3.0):
        super().__init__()
        self.factor = factor
        self.initial: float | None = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "loss" not in logs:
            return
        loss = float(logs["loss"])  # the epoch's running mean so far
        where = f"epoch {self.epoch + 1}, batch {batch + 1}"
        if not math.isfinite(loss):
            raise TrialAborted(f"aborted: loss is {loss} at {where}", loss, self.epoch)
        if self.initial is None:
            self.initial = loss
        elif loss > self.factor * self.initial:
            raise TrialAborted(f"aborted: loss {loss:.4g} > {self.factor:g} x initial loss "
                               f"{self.initial:.4g} at {where}", loss, self.epoch)


class InterruptCheck(keras.callbacks.Callback):
    """Re-raise a SIGTERM whose KeyboardInterrupt was dropped (see pipeline/search/interrupt.py)."""

    def on_train_batch_end(self, batch, logs=None):
        from pipeline.search.interrupt import raise_if_received

        raise_if_received()

    on_test_batch_end = on_train_batch_end
