"""The run logger of a process other than 0 in a multi-process run (`pipeline/processes.py`).

Every process runs the same code, so every process makes the same training decisions (early
stopping, the explosion guard, the learning-rate schedule); only process 0 records them. This
logger takes every call a `RunLogger` takes and writes nothing: no store is opened, so the other
hosts need no access to it. Its checkpoint folder is a temporary folder of its own (what the
recipe's checkpoint callbacks write there is thrown away with it).
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

#: RunLogger's methods that write: each is a no-op here (tests/test_multiprocess.py checks that
#: every public RunLogger method is here or defined below, so a new one cannot be missed).
WRITES = frozenset({"end", "monitor_system", "fail", "log_params", "log_metrics", "set_tags", "delete_tag",
                    "log_epoch", "flush", "log_artifact", "log_artifacts", "log_text", "log_dict", "log_bytes",
                    "log_table", "log_inputs", "log_output"})


def _nothing(*args, **kwargs) -> None:
    return None


class SilentRunLogger:
    """What process `index` logs to: nothing."""

    uri = None
    experiment_id = None
    resumed = False

    def __init__(self, index: int):
        self.run_id = f"process-{index}"
        self._folder = tempfile.TemporaryDirectory(prefix=f"pipeline-process-{index}-")

    def artifact_dir(self) -> Path:
        """A private temporary folder (`checkpoint.location.run_folder` puts `checkpoints/` in it)."""
        return Path(self._folder.name)

    def metric_history(self, key: str) -> list[tuple[int, float]]:
        return []

    @contextlib.contextmanager
    def until_done(self):
        yield self

    def log_figure(self, figure, path: str, close: bool = True) -> None:
        if close:
            import matplotlib.pyplot as plt

            plt.close(figure)

    def download(self, path: str, destination):
        raise FileNotFoundError(f"process {self.run_id} keeps no run: {path}")

    def cleanup(self) -> None:
        self._folder.cleanup()

    def __getattr__(self, name: str):
        if name in WRITES:
            return _nothing
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
