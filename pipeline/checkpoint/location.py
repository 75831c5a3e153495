"""Where a run's checkpoints live: inside the store, never beside the recipe or in a temp folder.

With a local artifact store (the default SQLite store keeps artifacts in `mlruns/artifacts/`) the
checkpoints are written straight into the run's artifact folder, `checkpoints/`, so they are part of
the run from the first epoch on, whatever ends the process. With a remote artifact store they are
written to `checkpoints/<run id>/` in the store's local folder and uploaded to the run's
`checkpoints/` when the run ends, is killed or fails (and downloaded again by `--resume`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.tracking.store import sqlite_path

RESUME = "resume"  # the subfolder of the epoch checkpoint, beside best.keras / last.keras


@dataclass
class RunFolder:
    path: Path  # checkpoints/ of the run
    in_artifacts: bool  # already part of the run's artifacts (else `publish` uploads it)

    @property
    def resume(self) -> Path:
        return self.path / RESUME

    def publish(self, logger) -> None:
        """Upload the checkpoints to a remote run (nothing to do when they are written in place).
        A method, so the checkpoint callback in `plugins` publishes without importing the core."""
        if not self.in_artifacts and self.path.is_dir():
            logger.log_artifacts(self.path, "checkpoints")


def run_folder(logger) -> RunFolder:
    local = logger.artifact_dir()
    if local is not None:
        return RunFolder(local / "checkpoints", True)
    db = sqlite_path(logger.uri)
    store = db.parent if db is not None else Path("mlruns")
    return RunFolder(store / "checkpoints" / logger.run_id, False)


def fetch(logger, folder: RunFolder) -> None:
    """Bring a remote run's epoch checkpoint back to this machine when it is not here."""
    if folder.in_artifacts or folder.resume.is_dir():
        return
    try:
        folder.path.mkdir(parents=True, exist_ok=True)
        logger.download(f"checkpoints/{RESUME}", folder.path)
    except Exception:  # the run uploaded none (killed by SIGKILL before it could)
        pass
