"""Reading runs back from the store: one run, a listing, a run's children, its files.

Plain records out (`RunRecord`), so the commands that show runs (`pipeline runs`, `pipeline report`)
and the code that picks a run to resume or to copy weights from never touch MLflow's types.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.tracking.run_record import RunRecord
from pipeline.tracking.sqlite_read import finished_with_hash as _read_finished_with_hash


def _client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _record(run, experiment: str = "") -> RunRecord:
    info = run.info
    return RunRecord(info.run_id, info.run_name or "", info.experiment_id, info.status, info.start_time,
                     info.end_time, dict(run.data.tags), dict(run.data.metrics), dict(run.data.params), experiment,
                     info.artifact_uri)


def get_run(uri: str, run_id: str) -> RunRecord:
    """The run; LookupError naming the store when there is none with that id."""
    from mlflow.exceptions import MlflowException

    client = _client(uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise LookupError(f"no run '{run_id}' in {uri}") from exc
    return _record(run, client.get_experiment(run.info.experiment_id).name)


def experiment_id(uri: str, name: str) -> str | None:
    found = _client(uri).get_experiment_by_name(name)
    return None if found is None else found.experiment_id


def list_runs(uri: str, experiment: str | None = None, limit: int = 20, filter_string: str = "") -> list[RunRecord]:
    """The newest runs (of one experiment, or of all), newest first."""
    from mlflow.entities import ViewType

    client = _client(uri)
    experiments = {e.experiment_id: e.name for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
                   if experiment is None or e.name == experiment}
    if not experiments:
        return []
    runs = client.search_runs(list(experiments), filter_string=filter_string, max_results=limit,
                              order_by=["attributes.start_time DESC"])
    return [_record(r, experiments[r.info.experiment_id]) for r in runs]


def children(uri: str, parent_run_id: str, experiment_id: str) -> list[RunRecord]:
    """The runs nested under `parent_run_id` (folds, trials), oldest first."""
    runs = _client(uri).search_runs([experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
                                    order_by=["attributes.start_time ASC"], max_results=10000)
    return [_record(r) for r in runs]


def local_artifact_dir(artifact_uri: str) -> Path | None:
    """The folder of a run's artifacts when it is on this machine (a `file:` URI or a plain path)."""
    from mlflow.utils.file_utils import local_file_uri_to_path

    if artifact_uri.startswith("file:"):
        return Path(local_file_uri_to_path(artifact_uri))
    if "://" not in artifact_uri and not artifact_uri.startswith(("mlflow-artifacts:", "runs:")):
        return Path(artifact_uri)
    return None


def load_text(uri: str, run_id: str, path: str) -> str | None:
    """A text artifact of the run, or None when the run has no such file."""
    import tempfile

    try:
        with tempfile.TemporaryDirectory() as tmp:
            return download(uri, run_id, path, tmp).read_text(encoding="utf-8")
    except Exception:  # not logged (e.g. the run ended before writing it)
        return None


def download(uri: str, run_id: str, path: str, destination: str | Path) -> Path:
    """The artifact as a local file: read in place from a local artifact store (MLflow's download
    goes through a thread pool that a fast exit would wait on), else downloaded to `destination`."""
    client = _client(uri)
    local = local_artifact_dir(client.get_run(run_id).info.artifact_uri)
    if local is not None:
        found = local / path
        if not found.exists():
            raise FileNotFoundError(f"run {run_id} has no artifact {path}")
        return found
    return Path(client.download_artifacts(run_id, path, str(destination)))


def latest_finished(uri: str, experiment: str) -> str | None:
    """The id of the newest FINISHED run of `experiment`, or None."""
    found = experiment_id(uri, experiment)
    if found is None:
        return None
    runs = _client(uri).search_runs([found], filter_string="attributes.status = 'FINISHED'",
                                    order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


#: metrics a run logs once at its end (or per fold), not per epoch
NOT_CURVES = ("test_", "final_", "cv_", "fold_", "fit_time_s", "train_error", "val_error", "train_r2", "val_r2",
              "loss_at_failure")


def curves(uri: str, run: RunRecord | str) -> dict[str, list[float]]:
    """The run's per-epoch metrics by step, as Keras' `History.history` holds them (`run`: a record or an id)."""
    client = _client(uri)
    run = run if isinstance(run, RunRecord) else get_run(uri, run)
    return {key: [m.value for m in sorted(client.get_metric_history(run.run_id, key), key=lambda m: m.step)]
            for key in run.metrics if not key.startswith(NOT_CURVES)}


def search(uri: str, experiment_id: str, filter_string: str, limit: int = 100) -> list[RunRecord]:
    """Runs of one experiment that match an MLflow filter, newest first."""
    found = _client(uri).search_runs([experiment_id], filter_string=filter_string, max_results=limit,
                                     order_by=["attributes.start_time DESC"])
    return [_record(r) for r in found]


def finished_with_hash(uri: str, experiment: str, recipe_hash: str) -> list[RunRecord]:
    """FINISHED runs of `experiment` tagged `recipe.hash`, newest first: read straight from a local
    SQLite store when it can be (fast: no MLflow import), else through MLflow."""
    found = _read_finished_with_hash(uri, experiment, recipe_hash)
    if found is not None:
        return found
    exp = experiment_id(uri, experiment)
    if exp is None:
        return []
    return search(uri, exp, f"attributes.status = 'FINISHED' and tags.`recipe.hash` = '{recipe_hash}'")
