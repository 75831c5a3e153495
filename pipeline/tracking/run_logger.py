"""One MLflow run, addressed by its id: the only place that writes runs.

In the spirit of Lightning's `MLFlowLogger`: an `MlflowClient` and an explicit run id instead of
MLflow's global "active run", so nested runs (folds, trials), a run reopened by `--resume` and
callbacks that log artifacts all say which run they mean. Values go in as plain Python (params,
metrics at a step, files, figures, text, dicts); nothing else in the pipeline imports mlflow to
write a run.

Per-epoch metrics go through `log_epoch`: held, then written as one `log_batch` at most every
`write_every_s` seconds by a background thread. A store write costs ~3-7 ms of CPU on SQLite (MLflow
and SQLAlchemy): once per epoch, in any thread, that is ~6% of the quick start's epoch CPU time
(bench/checkpoint_overhead.py). `flush()` writes what is held, waits, and raises what a write failed
with. What makes an epoch durable before the next one starts is the caller's journal
(`pipeline/metrics_logger_keras.py`), not the store.
"""

from __future__ import annotations

import contextlib
import os
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MAX_BATCH = 100  # MLflow accepts at most 100 params (and 1000 metrics) per log_batch
MAX_PARAM_LENGTH = 6000  # MLflow's limit on one param value (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH)


def outcome(exc: BaseException) -> tuple[str, str]:
    """(status, reason) of a run that `exc` stopped: KILLED by an interrupt (a signal, Ctrl-C),
    else FAILED with the error."""
    if isinstance(exc, KeyboardInterrupt):
        return "KILLED", str(exc) or "interrupted by the user"
    return "FAILED", f"{type(exc).__name__}: {exc}"


class RunLogger:
    """Log to run `run_id` of the store at `uri`. Open one with `start` or `reopen`."""

    write_every_s = 10.0

    def __init__(self, uri: str, run_id: str, experiment_id: str, resumed: bool = False):
        from mlflow import MlflowClient

        self.uri = uri
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.resumed = resumed
        self.client = MlflowClient(tracking_uri=uri)
        self._logged_params: dict[str, str] | None = None
        self._queue: queue.Queue | None = None
        self._writer_error: BaseException | None = None
        self._held: tuple[list, dict] = ([], {})  # epoch metrics, newest tags
        self._sent = time.monotonic()
        self._system_metrics = None

    # -- opening and closing ---------------------------------------------------------------------
    @classmethod
    def start(cls, uri: str, experiment_id: str, run_name: str | None, tags: dict[str, str],
              parent_run_id: str | None = None) -> RunLogger:
        """A new RUNNING run, with MLflow's usual context tags (user, source, git commit);
        `parent_run_id` nests it under that run (works across processes: it is only a tag)."""
        from mlflow import MlflowClient
        from mlflow.tracking.context.registry import resolve_tags

        tags = dict(tags)
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        run = MlflowClient(tracking_uri=uri).create_run(experiment_id, tags=resolve_tags(tags), run_name=run_name)
        return cls(uri, run.info.run_id, experiment_id)

    @classmethod
    def reopen(cls, uri: str, run_id: str) -> RunLogger:
        """Mark an existing run RUNNING again, to continue it under the same id."""
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        run = client.get_run(run_id)
        client.update_run(run_id, status="RUNNING")
        return cls(uri, run_id, run.info.experiment_id, resumed=True)

    def end(self, status: str) -> None:
        """FINISHED, FAILED or KILLED, after the queued epochs (and system metrics) are written."""
        if self._system_metrics is not None:
            monitor, self._system_metrics = self._system_metrics, None
            monitor.finish()
        self.flush()
        self.client.set_terminated(self.run_id, status)

    def monitor_system(self) -> None:
        """MLflow's system metrics (`system/cpu_utilization_percentage`, memory, disk, network, GPU
        where present) every `MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL` seconds (10) until `end`."""
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        if self._system_metrics is None:
            self._system_metrics = SystemMetricsMonitor(self.run_id, resume_logging=self.resumed,
                                                        tracking_uri=self.uri)
            self._system_metrics.start()

    def fail(self, reason: str, details: str | None = None, status: str = "FAILED") -> None:
        """End the run FAILED (or KILLED) with the reason in its `error` tag and `details` in error.txt."""
        self.set_tags({"error": reason[:5000]})
        if details:
            self.log_text(details, "error.txt")
        self.end(status)

    @contextlib.contextmanager
    def until_done(self):
        """The block's outcome is the run's: FINISHED, or KILLED / FAILED with the reason
        (`outcome`), as MLflow's `with start_run()` does."""
        try:
            yield self
        except BaseException as exc:
            status, reason = outcome(exc)
            self.fail(reason, status=status)
            raise
        self.end("FINISHED")

    # -- values ------------------------------------------------------------------------------------
    def log_params(self, params: dict[str, Any]) -> None:
        """Params in batches of 100, each cut at MLflow's length limit; a None value is not logged
        (no "None" strings). On a reopened run a param already logged keeps its value (MLflow
        forbids changing one): a new value goes to the tag `resume.param.<key>` instead."""
        from mlflow.entities import Param, RunTag

        params = {k: str(v)[:MAX_PARAM_LENGTH] for k, v in params.items() if v is not None}
        changed = {}
        if self.resumed:
            if self._logged_params is None:
                self._logged_params = dict(self.client.get_run(self.run_id).data.params)
            changed = {k: v for k, v in params.items() if k in self._logged_params and self._logged_params[k] != v}
            params = {k: v for k, v in params.items() if k not in self._logged_params}
            self._logged_params.update(params)
        items = list(params.items())
        for start in range(0, len(items), MAX_BATCH):
            self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in items[start:start + MAX_BATCH]])
        if changed:
            self.client.log_batch(self.run_id, tags=[RunTag(f"resume.param.{k}", v[:5000]) for k, v in changed.items()])

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Written now (end-of-run numbers); per-epoch curves go through `log_epoch`."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        for start in range(0, len(batch), 1000):
            self.client.log_batch(self.run_id, metrics=batch[start:start + 1000])

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def delete_tag(self, key: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.delete_tag(self.run_id, key)
        except MlflowException:  # not set
            pass

    def metric_history(self, key: str) -> list[tuple[int, float]]:
        """(step, value) of every point logged under `key`, by step."""
        return sorted((m.step, m.value) for m in self.client.get_metric_history(self.run_id, key))

    # -- per-epoch metrics, written in the background ------------------------------------------------
    def log_epoch(self, metrics: dict[str, float], step: int, tags: dict[str, str] | None = None) -> None:
        """Hold one epoch's metrics (and tags, e.g. the heartbeat: the newest value of each is kept)
        for the next background write."""
        from mlflow.entities import Metric

        self._raise_writer_error()
        now = int(time.time() * 1000)
        self._held[0].extend(Metric(k, float(v), now, step) for k, v in metrics.items())
        self._held[1].update(tags or {})
        if time.monotonic() - self._sent >= self.write_every_s:
            self._send()

    def _send(self) -> None:
        from mlflow.entities import RunTag

        metrics, tags = self._held
        self._held, self._sent = ([], {}), time.monotonic()
        if not metrics and not tags:
            return
        if self._queue is None:
            self._queue = queue.Queue()
            threading.Thread(target=self._write, name=f"mlflow-epochs-{self.run_id[:8]}", daemon=True).start()
        self._queue.put((metrics, [RunTag(k, str(v)) for k, v in tags.items()]))

    def _write(self) -> None:
        while True:
            metrics, tags = self._queue.get()
            try:
                if self._writer_error is None:
                    for start in range(0, max(len(metrics), 1), 1000):
                        self.client.log_batch(self.run_id, metrics=metrics[start:start + 1000],
                                              tags=tags if start == 0 else [], synchronous=True)
            except BaseException as exc:  # reported by the next flush / log_epoch, in the main thread
                self._writer_error = exc
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Write what is held, wait until it is in the store; raise the error a write failed with."""
        self._send()
        if self._queue is not None:
            self._queue.join()
        self._raise_writer_error()

    def _raise_writer_error(self) -> None:
        if self._writer_error is not None:
            error, self._writer_error = self._writer_error, None
            raise RuntimeError(f"could not write epoch metrics to the MLflow store {self.uri}: {error}") from error

    # -- files -------------------------------------------------------------------------------------
    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

    def log_artifacts(self, directory: str | Path, folder: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(directory), folder)

    def log_text(self, text: str, path: str) -> None:
        self.client.log_text(self.run_id, text, path)

    def log_dict(self, data: dict | list, path: str) -> None:
        self.client.log_dict(self.run_id, data, path)

    def log_figure(self, figure, path: str, close: bool = True) -> None:
        """A matplotlib figure as an image; closed afterwards unless `close=False`."""
        self.client.log_figure(self.run_id, figure, path)
        if close:
            import matplotlib.pyplot as plt

            plt.close(figure)

    def log_bytes(self, data: bytes, path: str) -> None:
        folder, name = os.path.split(path)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / name).write_bytes(data)
            self.log_artifact(Path(tmp) / name, folder or None)

    def log_table(self, table, path: str) -> None:
        """A table (a pandas DataFrame, or {column: values}) as MLflow's table artifact (JSON):
        shown as a table on the run's artifact page."""
        self.client.log_table(self.run_id, table, path)

    def log_inputs(self, datasets: list[tuple[Any, str]]) -> None:
        """[(MLflow dataset, context)]: the run page's "Datasets", each with its context (train, ...)."""
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        from mlflow.exceptions import MlflowException

        inputs = [DatasetInput(d._to_mlflow_entity(), [InputTag(MLFLOW_DATASET_CONTEXT, c)]) for d, c in datasets]
        for attempt in range(3):
            try:
                return self.client.log_inputs(self.run_id, inputs)
            except MlflowException:
                # MLflow inserts a dataset row it did not find: two runs of one search logging the
                # same split at once race on (experiment, name, digest). The retry finds the row.
                if attempt == 2:
                    raise

    def log_output(self, path: str, artifact) -> None:
        """An artifact of whatever kind a report returns: figure, table (a pandas DataFrame),
        dict/list (JSON), bytes or text."""
        if hasattr(artifact, "savefig"):
            self.log_figure(artifact, path)
        elif hasattr(artifact, "to_dict") and hasattr(artifact, "columns"):
            self.log_table(artifact, path)
        elif isinstance(artifact, (dict, list)):
            self.log_dict(artifact, path)
        elif isinstance(artifact, bytes):
            self.log_bytes(artifact, path)
        else:
            self.log_text(str(artifact), path)

    def artifact_dir(self) -> Path | None:
        """The run's artifact folder when it is on this machine (a `file:` URI), else None."""
        from pipeline.tracking.runs import local_artifact_dir

        return local_artifact_dir(self.client.get_run(self.run_id).info.artifact_uri)

    def download(self, path: str, destination: str | Path) -> Path:
        from pipeline.tracking.runs import download

        return download(self.uri, self.run_id, path, destination)
