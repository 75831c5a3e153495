"""MLflow, the only code that imports it for runs: the store (here), one run's logger
(`run_logger.RunLogger`), reading runs back (`runs`), and `pipeline runs` (`commands`).

Default store: `sqlite:///mlruns/mlflow.db` with artifacts under `mlruns/artifacts` (MLflow's file
store is refused by default since 3.13). `--tracking-uri` or `MLFLOW_TRACKING_URI` override it.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_URI = "sqlite:///mlruns/mlflow.db"
ARTIFACT_ROOT = Path("mlruns") / "artifacts"


def tracking_uri(explicit: str | None = None) -> str:
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def connect(uri: str, experiment: str) -> str:
    """Point MLflow at `uri` and return the experiment id, creating the experiment if new.

    The store is checked, created or migrated under a lock, and its faults raised as
    `store.StoreError` (pipeline/tracking/store.py) before anything is recorded.
    """
    import mlflow

    from pipeline.tracking import store

    with store.opened(uri):  # held while the experiment is looked up and made: no two processes make it
        mlflow.set_tracking_uri(uri)
        found = mlflow.get_experiment_by_name(experiment)
        location = found.artifact_location if found is not None else None
        db = store.sqlite_path(uri)
        if found is None and db is not None:  # keep artifacts beside a local database, not in ./mlartifacts
            location = (db.parent / "artifacts" / experiment).resolve().as_uri()
        store.check_artifacts(uri, location)
        if found is not None:
            return found.experiment_id
        return mlflow.create_experiment(experiment, artifact_location=location)


def versions() -> dict[str, str]:
    """Versions of the libraries that decide a run's numbers, for the run's tags."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("keras", "tensorflow", "jax", "torch", "mlflow", "numpy", "keras-recipe-pipeline"):
        try:
            out[f"version.{package}"] = version(package)
        except PackageNotFoundError:
            pass
    return out
