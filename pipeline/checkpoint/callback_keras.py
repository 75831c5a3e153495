"""The Keras callback that checkpoints every epoch and starts a resumed `fit` where it stopped."""

from __future__ import annotations

import time

import keras

from pipeline.checkpoint import files
from pipeline.checkpoint.training_state import capture, restore


class EpochCheckpoint(keras.callbacks.Callback):
    """After every `every`-th epoch, the last epoch of a `fit` and an epoch that stops training,
    write the training state (`training_state.capture`) to `folder`, before the next epoch starts
    (~1 ms for the quick start; a background thread was tried and cost more: it competes with the
    training loop for the GIL, bench/checkpoint_overhead.py).

    It must be the last callback, so that the state it saves includes what the others did at the
    epoch's end, and so that `resume_from` (a checkpoint read back) is restored after the others
    reset themselves in `on_train_begin`.

    Args:
        folder: where the checkpoint files go (`pipeline.checkpoint.location`).
        every: save after every `every`-th epoch; 0 saves nothing.
        stateful: {key: object with get_state/set_state} saved and restored with the model.
        meta: JSON-able values stored with the state (the run id, the epochs).
        resume_from: a checkpoint to restore at the start of the next `fit`.
        on_saved: called with the number of epochs each checkpoint holds, once it is on disk.
    """

    stateless = True

    def __init__(self, folder, every: int, stateful: dict, meta: dict, resume_from: dict | None = None,
                 on_saved=None):
        super().__init__()
        self.folder = folder
        self.every = every
        self.stateful = stateful
        self.meta = meta
        self.pending = resume_from
        self.on_saved = on_saved
        self._previous_seconds = 0.0 if resume_from is None else float(resume_from.get("fit_seconds", 0.0))
        self._began: float | None = None

    def on_train_begin(self, logs=None):
        if self._began is None:
            self._began = time.perf_counter() - self._previous_seconds
        if self.pending is not None:
            state, self.pending = self.pending, None
            restore(self.model, state, self.stateful)
            if state.get("extended"):  # a larger train.epochs continues a run that had stopped
                self.model.stop_training = False

    def _due(self, done: int) -> bool:
        last = done >= (self.params or {}).get("epochs", done)
        return bool(self.every) and (done % self.every == 0 or last or self.model.stop_training)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if not self._due(done):
            return
        files.write(self.folder, {**self.meta, "epochs_done": done, "fit_seconds": time.perf_counter() - self._began,
                                  **capture(self.model, self.stateful)})
        if self.on_saved is not None:
            self.on_saved(done)
