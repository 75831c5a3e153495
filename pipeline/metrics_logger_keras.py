"""A Keras callback that records each epoch's metrics: in the run's journal at once, in the store soon.

The journal line (`pipeline/checkpoint/files.py`, a small append, ~0.2 ms) makes the epoch durable
before the next one starts; the store gets it, with the run's heartbeat, in the next batch
(`RunLogger.log_epoch`: every 10 s, in a background thread; a synchronous store write per epoch
cost 10-30% of a quick-start epoch, bench/checkpoint_overhead.py). A resumed run, and `pipeline
report` on a run whose process died, replay the journal into the store (`pipeline/resume.py`). The history kept here is the run's curves for the end-of-run plots and
verdict, and part of the checkpoint (`get_state`).
"""

from __future__ import annotations

import time

import keras

from pipeline import heartbeat
from pipeline.checkpoint import files


class MetricsLogger(keras.callbacks.Callback):
    """Args:
        run_logger: the run's `pipeline.tracking.run_logger.RunLogger`.
        epochs: the run's number of epochs (for the heartbeat's progress).
        journal: the folder of the run's journal (its epoch checkpoint's folder).
    """

    state_key = "metrics"  # the checkpoint's journal: `pipeline.resume` reads the history under this key

    def __init__(self, run_logger, epochs: int, journal):
        super().__init__()
        self.run_logger = run_logger
        self.epochs = epochs
        self.journal = journal
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
            files.append_journal(self.journal, {"epoch": epoch, "metrics": values})
            self.run_logger.log_epoch(values, epoch,
                                      heartbeat.beat(epoch + 1, self.epochs, time.monotonic() - self._started))

    def get_state(self) -> dict:
        return {"history": self.history}

    def set_state(self, state: dict) -> None:
        self.history = {key: list(values) for key, values in state["history"].items()}
