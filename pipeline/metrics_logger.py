"""A Keras callback that sends each epoch's metrics, with the run's heartbeat, to the run.

The write is queued (`RunLogger.log_epoch`, one store write per epoch in a background thread), so
it costs the training loop nothing; the epoch checkpoint that follows journals the epoch, or waits
for the write (`pipeline/checkpoint/callback_keras.py`). The history it keeps is the run's curves
for the end-of-run plots and verdict, and part of the checkpoint (`get_state`).
"""

from __future__ import annotations

import time

import keras

from pipeline import heartbeat


class MetricsLogger(keras.callbacks.Callback):
    """Args:
        run_logger: the run's `pipeline.tracking.run_logger.RunLogger`.
        epochs: the run's number of epochs (for the heartbeat's progress).
    """

    state_key = "metrics"  # the checkpoint's journal: `pipeline.resume` reads the history under this key

    def __init__(self, run_logger, epochs: int):
        super().__init__()
        self.run_logger = run_logger
        self.epochs = epochs
        self.history: dict[str, list[float]] = {}
        self.stored_through = -1  # a resumed run's last epoch already in the store: not written again
        self._started = time.monotonic()

    @property
    def run_id(self) -> str:
        return self.run_logger.run_id

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        values = {key: float(value) for key, value in (logs or {}).items()}
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)
        if epoch > self.stored_through:
            self.run_logger.log_epoch(values, epoch,
                                      heartbeat.beat(epoch + 1, self.epochs, time.monotonic() - self._started))

    def get_state(self) -> dict:
        return {"history": self.history}

    def set_state(self, state: dict) -> None:
        self.history = {key: list(values) for key, values in state["history"].items()}
