"""The loss-explosion guard as a Keras callback (behind `plugins/diagnostics.py`)."""

from __future__ import annotations

import keras
import numpy as np

from pipeline.diagnostics.explosion import LossExplosion, explain, exploded
from pipeline.keras_compat import sync_jax_state


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

    The initial loss is measured before training on the probe batch the trainer hands over
    (`set_probe`: the first training examples, penalties included), else it is the first batch's.
    The loss compared is the epoch's running mean that Keras reports after each batch (a single
    noisy batch does not stop a run; a divergence still does within a few steps).

    It reads the loss after every batch, which makes Keras wait for each step: the progress bar
    (`train.verbose` 1 or 2, the default) does the same, so a run pays nothing extra for the guard.
    (Keras' `async_safe` batch handlers were tried: they lag a whole epoch behind a small model and
    so cannot stop it "within a few steps".)

    Before raising, the model gets back the weights of the last epoch that ended below the limit
    (or the initial ones), so the checkpoint the run keeps on failure (`checkpoints/last.keras`) is
    the last good model, not a NaN one.
    """

    probe_optional = True  # without a probe (several processes) the initial loss is the first batch's

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
        self._probe = None

    def set_probe(self, x, y):
        self._probe = (x, y)

    def get_state(self) -> dict:
        """The last good weights are not saved: a checkpoint is written at the end of the epoch that
        made them good, so they are the checkpoint's model weights (`set_state` reads them back)."""
        return {"initial": self.initial, "good_epoch": self.good_epoch}

    def set_state(self, state: dict) -> None:
        self.initial, self.good_epoch = state["initial"], state["good_epoch"]
        self.good_weights = self.model.get_weights()

    def _probe_loss(self) -> float | None:
        loss = getattr(self.model, "loss", None)
        loss = keras.losses.get(loss) if isinstance(loss, str) else loss
        if self._probe is None or not callable(loss):
            return None
        x, y = self._probe
        value = float(np.asarray(loss(y, self.model.predict_on_batch(x))))
        return value + sum(float(np.asarray(p)) for p in self.model.losses)

    def on_train_begin(self, logs=None):
        self.good_weights = self.model.get_weights()
        self.good_epoch = None
        self.initial = self._probe_loss()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(np.asarray(value))
        if self.initial is None:
            self.initial = value
        if exploded(value, self.initial, self.factor):
            self._stop(value, self._epoch, batch)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and self.initial is not None and exploded(float(value), self.initial, self.factor):
            self._stop(float(value), epoch, (self.params or {}).get("steps") or 0)
        self.good_weights = self.model.get_weights()  # fit has synced the state at the epoch's end
        self.good_epoch = epoch

    def _stop(self, value: float, epoch: int, batch: int):
        lr = current_learning_rate(self.model.optimizer)
        sync_jax_state(self.model)
        self.model.set_weights(self.good_weights)
        where = "the initial weights" if self.good_epoch is None else f"the weights after epoch {self.good_epoch + 1}"
        raise LossExplosion(explain(value, self.initial if self.initial is not None else value, self.factor,
                                    epoch, batch, lr,
                                    kept=f"the model kept as checkpoints/last.keras has {where}"),
                            loss=value, epoch=epoch)
