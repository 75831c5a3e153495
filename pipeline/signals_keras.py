"""The Keras side of pipeline/signals.py: the callback that acts on a signal at a batch boundary."""

from __future__ import annotations

import keras

from pipeline.signals import raise_if_received


class StopOnSignal(keras.callbacks.Callback):
    """Raises `Interrupted` at the first batch boundary after SIGTERM/SIGINT (pipeline/signals.py)."""

    stateless = True

    def _check(self, *args, **kwargs):
        raise_if_received()

    on_train_batch_end = on_test_batch_end = on_epoch_begin = _check
