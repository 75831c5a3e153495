"""A search across hosts, as separate processes on 127.0.0.1: `pipeline tune --chief` and two
`pipeline tune --worker` against the PostgreSQL-backed tracking server; one worker is killed with
SIGKILL mid-trial, its trial goes to the other worker, and every trial is tracked once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from mlflow import MlflowClient

from pipeline.cli import main
from pipeline.search.workers import free_port
from tests.conftest import REPO

RECIPE = """\
name: hosts
seed: 5
data:
  source: {type: mnist1d, num_samples: 2000}
  split: {val: 0.2}
model:
  layers:
    - {type: flatten}
    - {type: dense, units: 10}
train:
  epochs: 4
  batch_size: 8
  steps_per_execution: 1
  optimizer: {type: sgd, learning_rate: 1.0e-2}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
track: {experiment: hosts}
search:
  max_trials: 4
  space:
    train.optimizer.learning_rate: {log_uniform: [1.0e-3, 1.0e-1]}
"""


def _tune(recipe, *args, tuner_id: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "KERAS_BACKEND": "jax"}
    env.pop("MLFLOW_TRACKING_URI", None)
    if tuner_id:
        env["KERASTUNER_TUNER_ID"] = tuner_id
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "tune", str(recipe), *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_chief_and_two_workers_track_every_trial_once_when_a_worker_is_killed(pg_tracking_uri, write_recipe,
                                                                              tmp_path):
    recipe = write_recipe("hosts.yaml", RECIPE)
    chief = f"127.0.0.1:{free_port()}"
    common = ("--chief", chief, "--tracking-uri", pg_tracking_uri)
    # any order: a worker started before the chief waits for it
    doomed = _tune(recipe, "--worker", *common, "--dir", str(tmp_path / "a"), tuner_id="worker-a")
    boss = _tune(recipe, *common, "--dir", str(tmp_path / "chief"), "--worker-timeout", "15")
    other = _tune(recipe, "--worker", *common, "--dir", str(tmp_path / "b"), tuner_id="worker-b")
    procs = (doomed, boss, other)
    try:
        deadline = time.monotonic() + 300
        while not list((tmp_path / "a").glob("stage0/trial_*/backup_0/training_metadata.json")):  # an epoch done
            assert all(p.poll() is None for p in procs) and time.monotonic() < deadline, \
                [p.communicate(timeout=60)[0] for p in procs if p.poll() is not None]
            time.sleep(0.1)
        (lost,) = [f.parent.parent.name.removeprefix("trial_")
                   for f in (tmp_path / "a").glob("stage0/trial_*/backup_0/training_metadata.json")]
        doomed.send_signal(signal.SIGKILL)
        out, _ = boss.communicate(timeout=400)
        assert boss.returncode == 0, out
        worker_out, _ = other.communicate(timeout=60)
        assert other.returncode == 0, worker_out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert f"chief: trial {lost} goes back to the queue: worker worker-a silent" in out
    assert "the search is done" in worker_out

    client = MlflowClient(tracking_uri=pg_tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("hosts").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("search.role") == "parent"]
    assert parent.info.status == "FINISHED" and parent.data.metrics["trials_completed"] == 4
    assert parent.data.params["search.chief"] == chief
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    finished = sorted(r.data.tags["search.trial_id"] for r in trials if r.info.status == "FINISHED")
    assert finished == ["0", "1", "2", "3"]  # each trial tracked once
    (killed,) = [r for r in trials if r.info.status != "FINISHED"]  # the killed worker's run, marked for it
    assert killed.info.status == "KILLED" and killed.data.tags["search.trial_id"] == lost
    assert killed.data.tags["search.worker"] == "worker-a" and "went to another worker" in killed.data.tags["error"]
    redone = next(r for r in trials if r.info.status == "FINISHED" and r.data.tags["search.trial_id"] == lost)
    assert redone.data.tags["search.worker"] == "worker-b"
    assert len(client.get_metric_history(redone.info.run_id, "val_accuracy")) == 4


def test_chief_and_worker_refuse_what_cannot_work(write_recipe, tracking_uri, capsys):
    recipe = write_recipe("hosts.yaml", RECIPE)
    for args, message in ((["--worker"], "--worker needs --chief"),
                          (["--chief", "127.0.0.1:x"], "expected HOST:PORT"),
                          (["--chief", "127.0.0.1:8000", "--workers", "2"], "start workers with --worker"),
                          (["--chief", "127.0.0.1:8000"], "a SQLite file is local to this host")):
        assert main(["tune", str(recipe), *args]) == 2, args
        assert message in capsys.readouterr().err, args
