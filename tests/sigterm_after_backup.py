"""`python -m tests.sigterm_after_backup TRIAL ARGS...`: the `pipeline` command (ARGS), with a test hook
that sends this process SIGTERM when search trial TRIAL (a folder name, e.g. `trial_1`) begins its
second epoch.

The killed-search test needs the signal at a known point: after the trial's first epoch has ended and
Keras' `BackupAndRestore` has written its backup, before the trial is over. Polling the backup folder
from the test process raced the trial on a loaded machine; here the trial signals itself at that point,
so nothing depends on timing. The signal goes through the process's real SIGTERM handler, as `kill`'s
would.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import keras


def sigterm_at_second_epoch_of(trial: str) -> None:
    original = keras.callbacks.BackupAndRestore.on_epoch_begin

    def on_epoch_begin(self, epoch, logs=None):
        original(self, epoch, logs)
        # epoch 0 ended and every callback's epoch end (the backup, the metrics) has run
        if epoch == 1 and Path(self.backup_dir).parent.name == trial:
            os.kill(os.getpid(), signal.SIGTERM)

    keras.callbacks.BackupAndRestore.on_epoch_begin = on_epoch_begin


if __name__ == "__main__":
    sigterm_at_second_epoch_of(sys.argv[1])
    from pipeline.cli import console_main

    sys.argv = ["pipeline", *sys.argv[2:]]
    console_main()
