"""`python -m tests.signal_at_second_epoch SIGNAL TRIAL ARGS...`: the `pipeline` command (ARGS), with a
test hook that sends this process SIGNAL (e.g. `SIGTERM`, `SIGKILL`) when search trial TRIAL (a folder
name, e.g. `trial_1`, or `any`) begins its second epoch; TRIAL `run`: when a `pipeline run` does.

Tests that interrupt a search need the signal at a known point: after the trial's first epoch has ended
and Keras' `BackupAndRestore` has written its backup, before the trial is over. Polling the backup
folder from the test process raced the trial (a loaded machine made it late, a fast trial finished and
removed its backup first); here the trial signals itself at that point, so nothing depends on timing.
The signal is a real one: SIGTERM goes through the process's handler as `kill`'s would, SIGKILL ends it
on the spot.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import keras


def signal_at_second_epoch_of(signum: int, trial: str) -> None:
    original = keras.callbacks.BackupAndRestore.on_epoch_begin

    def on_epoch_begin(self, epoch, logs=None):
        original(self, epoch, logs)
        # epoch 0 ended and every callback's epoch end (the backup, the metrics) has run
        if epoch == 1 and trial in ("any", Path(self.backup_dir).parent.name):
            os.kill(os.getpid(), signum)

    keras.callbacks.BackupAndRestore.on_epoch_begin = on_epoch_begin


def signal_at_second_epoch_of_run(signum: int) -> None:
    from pipeline.metrics_logger_keras import MetricsLogger  # every run has one, on every process

    original = MetricsLogger.on_epoch_begin

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:  # epoch 0 ended: its metrics and checkpoint are written
            os.kill(os.getpid(), signum)
        original(self, epoch, logs)

    MetricsLogger.on_epoch_begin = on_epoch_begin


if __name__ == "__main__":
    if sys.argv[2] == "run":
        signal_at_second_epoch_of_run(signal.Signals[sys.argv[1]])
    else:
        signal_at_second_epoch_of(signal.Signals[sys.argv[1]], sys.argv[2])
    from pipeline.cli import console_main

    sys.argv = ["pipeline", *sys.argv[3:]]
    console_main()
