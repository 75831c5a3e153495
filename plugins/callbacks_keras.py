"""Keras callbacks behind `plugins/callbacks.py` (imported by its factories only).

They read and set the optimizer's learning rate through the public optimizer API and work on
every backend. On JAX, `fit` keeps the training state outside the Keras variables between
epochs; a callback that changes a variable mid-epoch first calls `model.jax_state_sync()` (the
hook Keras provides for this) so the next step starts from the value it set.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import keras
import numpy as np

from pipeline.keras_compat import save_model, sync_jax_state


def _schedule_of(optimizer):
    """The optimizer's `LearningRateSchedule`, or None when its learning rate is a plain value."""
    lr = getattr(optimizer, "_learning_rate", None)
    return lr if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule) else None


class SmoothedEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping on an exponential moving average of the monitored value.

    Validation curves are noisy: one lucky epoch resets the patience counter and one unlucky
    epoch looks like overfitting. With `smoothing = s`, the value compared is
    `m_t = s * m_(t-1) + (1 - s) * v_t` (m_0 = v_0), as TensorBoard's smoothing slider draws it;
    `s = 0` is Keras' EarlyStopping. The best epoch (whose weights are restored) is the one with
    the best *smoothed* value.
    """

    def __init__(self, smoothing: float = 0.0, **kwargs):
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"Expected 0 <= smoothing < 1. Received: smoothing={smoothing}")
        super().__init__(**kwargs)
        self.smoothing = float(smoothing)
        self.smoothed = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.smoothed = None

    # A resumed run continues with the same patience count, best value and best weights.
    _STATE = ("wait", "stopped_epoch", "best", "best_epoch", "smoothed")

    def get_state(self) -> dict:
        return {**{key: getattr(self, key) for key in self._STATE}, "best_weights": self.best_weights}

    def set_state(self, state: dict) -> None:
        for key in self._STATE:
            setattr(self, key, state[key])
        weights = state["best_weights"]
        self.best_weights = None if weights is None else [np.asarray(w) for w in weights]

    def get_monitor_value(self, logs):
        value = super().get_monitor_value(logs)
        if value is None:
            return None
        value = float(value)
        if self.smoothed is None or self.smoothing == 0.0:
            self.smoothed = value
        else:
            self.smoothed = self.smoothing * self.smoothed + (1.0 - self.smoothing) * value
        return self.smoothed


class LearningRateLogger(keras.callbacks.Callback):
    """Adds `learning_rate` to each epoch's logs: the rate of the epoch's last update.

    It only *adds* a value to the logs, so the trainer runs it before the MLflow logger
    (`adds_logs = True`), which then records it as a per-epoch metric like the losses.
    """

    adds_logs = True
    stateless = True  # the rate is read from the optimizer, whose state the checkpoint holds

    def __init__(self, key: str = "learning_rate"):
        super().__init__()
        self.key = key

    def current(self) -> float:
        optimizer = self.model.optimizer
        schedule = _schedule_of(optimizer)
        if schedule is not None:
            # `iterations` counts the updates done; the last one used the rate at iterations - 1.
            step = max(int(keras.ops.convert_to_numpy(optimizer.iterations)) - 1, 0)
            return float(keras.ops.convert_to_numpy(schedule(step)))
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.key] = self.current()


class LinearWarmupCallback(keras.callbacks.Callback):
    """Linear warmup of a plain (unscheduled) learning rate from 0 over the first `epochs` epochs.

    At update t (counted from 0) of the warmup the rate is `target * t / warmup_steps`; from then
    on it is `target`, the optimizer's learning rate when training starts. The rate changes once
    per batch (once per `steps_per_execution` group of batches). A recipe whose `train.schedule`
    has `warmup_epochs` does not need it, and an optimizer driven by a schedule refuses it.
    """

    def __init__(self, epochs: float = 1.0):
        super().__init__()
        if epochs <= 0:
            raise ValueError(f"Expected epochs > 0. Received: epochs={epochs}")
        self.epochs = float(epochs)
        self.target = None
        self.warmup_steps = 0
        self._epoch = 0
        self._done = False

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        if _schedule_of(optimizer) is not None:
            raise ValueError("The warmup callback needs a plain learning rate, but the optimizer's follows "
                             "a schedule (train.schedule): set the schedule's warmup_epochs instead.")
        steps = self.params.get("steps") if self.params else None
        if not steps:
            raise ValueError("The warmup callback needs the number of steps per epoch. Received: steps=None")
        self.target = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        self.warmup_steps = max(1, int(round(self.epochs * steps)))
        self._steps_per_epoch = steps
        self._done = False

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    _STATE = ("target", "warmup_steps", "_steps_per_epoch", "_done")

    def get_state(self) -> dict:
        return {key: getattr(self, key) for key in self._STATE}

    def set_state(self, state: dict) -> None:
        for key in self._STATE:
            setattr(self, key, state[key])

    def on_train_batch_begin(self, batch, logs=None):
        if self._done:
            return
        step = self._epoch * self._steps_per_epoch + batch
        fraction = min(step / self.warmup_steps, 1.0)
        sync_jax_state(self.model)
        self.model.optimizer.learning_rate = self.target * fraction
        self._done = fraction >= 1.0


class RunCheckpoint(keras.callbacks.Callback):
    """Saves the best (by `monitor`) and/or the last model as `best.keras` / `last.keras`.

    In a run the files go to the run's `checkpoints/` folder in the store (`set_run`), written
    there as they are made (each save is a new file renamed over the old one), so whatever ends the
    run, the best model so far is part of it; a remote artifact store gets them at the end and on
    failure (`pipeline/checkpoint/location.py`). Outside a run: `directory`, else a temporary folder.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", save_best: bool = True,
                 save_last: bool = True, directory: str | None = None):
        super().__init__()
        self.monitor = monitor
        self.mode = mode
        self.save_best = save_best
        self.save_last = save_last
        self.directory = directory
        self.folder: Path | None = None
        self.run = None  # (run logger, RunFolder) when set by the run
        self.best = None
        self.best_epoch = None

    def set_run(self, run_logger, folder) -> None:
        self.run = (run_logger, folder)
        self.directory = str(folder.path)

    def get_state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def set_state(self, state: dict) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]

    def _better(self, value: float) -> bool:
        mode = self.mode
        if mode == "auto":
            name = self.monitor.removeprefix("val_")
            mode = "max" if any(k in name for k in ("acc", "auc", "precision", "recall", "f1")) else "min"
        if self.best is None or not np.isfinite(self.best):
            return np.isfinite(value)
        return value > self.best if mode == "max" else value < self.best

    def _save(self, name: str) -> None:
        save_model(self.model, self.folder / name)  # a new file renamed over the old one

    def on_train_begin(self, logs=None):
        self.folder = Path(self.directory) if self.directory else Path(tempfile.mkdtemp(prefix="checkpoints-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.best = None
        self.best_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if not self.save_best:
            return
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise KeyError(f"model_checkpoint monitors '{self.monitor}', which is not in the logs. "
                           f"Available: {', '.join(sorted(logs or {}))}")
        if self._better(float(value)):
            self.best, self.best_epoch = float(value), epoch
            self._save("best.keras")

    def on_train_end(self, logs=None):
        if self.save_last:
            self._save("last.keras")
        if self.run is not None:
            run_logger, folder = self.run
            folder.publish(run_logger)
