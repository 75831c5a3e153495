"""A Keras callback that sends per-epoch metrics to MLflow in batches.

One SQLite write per metric per epoch would cost more than a small model's epoch; buffering and
flushing with `log_batch` every few seconds (and at the end) keeps tracking off the critical path.
"""

from __future__ import annotations

import time

import keras


class MLflowMetricsLogger(keras.callbacks.Callback):
    def __init__(self, run_id: str, flush_every_s: float = 10.0):
        super().__init__()
        self.run_id = run_id
        self.flush_every_s = flush_every_s
        self.history: dict[str, list[float]] = {}
        self._pending: list = []
        self._last_flush = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        for key, value in (logs or {}).items():
            value = float(value)
            self.history.setdefault(key, []).append(value)
            self._pending.append(Metric(key, value, now, epoch))
        if time.monotonic() - self._last_flush > self.flush_every_s:
            self.flush()

    def on_train_end(self, logs=None):
        self.flush()

    def flush(self) -> None:
        from mlflow import MlflowClient

        client = MlflowClient()
        while self._pending:
            batch, self._pending = self._pending[:1000], self._pending[1000:]
            client.log_batch(self.run_id, metrics=batch, synchronous=True)
        self._last_flush = time.monotonic()
