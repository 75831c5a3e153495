"""The loss-explosion guard as a Keras callback (behind `plugins/diagnostics.py`)."""

from __future__ import annotations

import keras
import numpy as np

from pipeline.diagnostics.explosion import LossExplosion, explain, exploded


def _sync_jax_state(model) -> None:
    sync = getattr(model, "jax_state_sync", None)
    if callable(sync):  # JAX keeps the training state outside the variables until synced
        sync()


def current_learning_rate(optimizer) -> float | None:
    try:
        lr = optimizer._learning_rate
        if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
            step = max(int(keras.ops.convert_to_numpy(optimizer.iterations)) - 1, 0)
            return float(keras.ops.convert_to_numpy(lr(step)))
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except Exception:  # the rate is advice only: never let it hide the explosion
        return None


class LossExplosionGuard(keras.callbacks.Callback):
    """Raises `LossExplosion` when the training loss passes `factor` x its initial value or is NaN/Inf.

    The initial loss is the first batch's. The loss compared is the epoch's running mean that Keras
    reports after each batch (a single noisy batch does not stop a run; a divergence still does
    within a few steps). Before raising, the model gets back the weights of the last epoch that
    ended below the limit (or the initial ones), so the checkpoint the run keeps on failure
    (`checkpoints/last.keras`) is the last good model, not a NaN one.
    """

    def __init__(self, factor: float = 3.0, monitor: str = "loss"):
        super().__init__()
        if factor <= 1:
            raise ValueError(f"Expected factor > 1. Received: factor={factor}")
        self.factor = float(factor)
        self.monitor = monitor
        self.initial: float | None = None
        self.good_weights = None
        self.good_epoch: int | None = None  # None: the initial weights
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self.initial = None
        self.good_weights = self.model.get_weights()
        self.good_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(np.asarray(keras.ops.convert_to_numpy(value)))
        if self.initial is None:
            self.initial = value
        if exploded(value, self.initial, self.factor):
            self._stop(value, batch)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and self.initial is not None and exploded(float(value), self.initial, self.factor):
            self._stop(float(value), (self.params or {}).get("steps") or 0)
        self.good_weights = self.model.get_weights()  # fit has synced the state at the epoch's end
        self.good_epoch = epoch

    def _stop(self, value: float, batch: int):
        lr = current_learning_rate(self.model.optimizer)
        _sync_jax_state(self.model)
        self.model.set_weights(self.good_weights)
        where = "the initial weights" if self.good_epoch is None else f"the weights after epoch {self.good_epoch + 1}"
        raise LossExplosion(explain(value, self.initial if self.initial is not None else value, self.factor,
                                    self._epoch, batch, lr,
                                    kept=f"the model kept as checkpoints/last.keras has {where}"))
