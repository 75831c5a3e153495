"""The search's Keras callback for SIGTERM: re-raise an interrupt that was dropped mid-trial.

Every trial carries it (`pipeline.search.tuner.run_one_trial`); see `pipeline/search/interrupt.py`.
An exploding trial is stopped by the run's own loss-explosion guard (`diagnostics.explosion_factor`,
set to the search's `abort_factor` for trials), not by a callback of the search's own.
"""

from __future__ import annotations

import keras

from pipeline.search.interrupt import raise_if_received


class InterruptCheck(keras.callbacks.Callback):
    """Re-raise a SIGTERM whose KeyboardInterrupt was dropped (see pipeline/search/interrupt.py)."""

    def on_train_batch_end(self, batch, logs=None):
        raise_if_received()

    on_test_batch_end = on_train_batch_end
