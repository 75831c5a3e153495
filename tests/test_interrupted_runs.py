"""Interrupted runs, as they happen: a real `pipeline run` subprocess, a real signal in the middle of
an epoch, then `pipeline runs` / `report` / `run --resume`, each under a timeout.

The recipe has what makes resuming hard: dropout, shuffled batches (NumPy's global generator), a
cosine schedule with warmup, early stopping on a smoothed monitor, a learning-rate logger, a
`model_checkpoint` callback. Batches of
2 make each epoch long enough (~0.3 s here) for the signal to land inside one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from mlflow import MlflowClient

from pipeline.checkpoint import files
from tests.conftest import REPO

RECIPE = """\
seed: 3
data: {source: {type: digits}, split: {val: 0.2, test: 0.2}, preprocess: [{type: standardize}]}
model:
  layers:
    - {type: flatten}
    - {type: dense, units: 128, activation: relu}
    - {type: dropout, rate: 0.3}
    - {type: dense, units: 10}
train:
  epochs: 6
  batch_size: 2
  steps_per_execution: 1
  optimizer: {type: adam, learning_rate: 3.0e-3}
  schedule: {type: cosine, warmup_epochs: 1}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
  callbacks: [{type: early_stopping, patience: 3, smoothing: 0.5}, lr_logger, {type: model_checkpoint, save_last: false}]
track: {experiment: resume}
"""
TIMEOUT = 180
CURVES = ("loss", "val_loss", "accuracy", "learning_rate")


def _env():
    return {**os.environ, "PYTHONPATH": str(REPO), "KERAS_BACKEND": "jax", "PYTHONUNBUFFERED": "1"}


def pipeline(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *map(str, args)], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=TIMEOUT)


def start(*args, sigint_ignored: bool = False) -> subprocess.Popen:
    """`pipeline` in a subprocess; `sigint_ignored`: as a shell starts a background job (`cmd &`, nohup).

    An ignored signal is inherited across exec, so it is ignored here for the moment of the start
    (a `preexec_fn` would fork a process that runs JAX's threads: a deadlock warning)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if sigint_ignored else None
    try:
        return subprocess.Popen([sys.executable, "-m", "pipeline.cli", *map(str, args)], cwd=REPO, env=_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        if sigint_ignored:
            signal.signal(signal.SIGINT, previous)


def signal_during_epoch(proc: subprocess.Popen, epoch: int, signum: int) -> tuple[str, str]:
    """Send `signum` just after epoch `epoch` (1-based) began; (stdout, stderr) once it exited."""
    deadline = time.monotonic() + TIMEOUT
    out = []
    for line in proc.stdout:
        out.append(line)
        if line.startswith(f"Epoch {epoch}/"):
            time.sleep(0.05)
            proc.send_signal(signum)
            break
        assert time.monotonic() < deadline, "no epoch line before the timeout"
    rest, err = proc.communicate(timeout=TIMEOUT)
    return "".join(out) + rest, err


def only_run(uri: str, experiment: str = "resume"):
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return client, run


def curves(client, run_id) -> dict[str, list[tuple[int, float]]]:
    return {k: [(m.step, m.value) for m in client.get_metric_history(run_id, k)] for k in CURVES}


def weights(client, run_id, tmp_path) -> list[np.ndarray]:
    from pipeline.saving import load_model

    path = client.download_artifacts(run_id, "model/model.keras", str(tmp_path))
    return load_model(path, compile=False).get_weights()


def checkpoint_folder(run) -> str:
    from mlflow.utils.file_utils import local_file_uri_to_path

    return f"{local_file_uri_to_path(run.info.artifact_uri)}/checkpoints/resume"


def checkpoint_of(client, run) -> dict:
    return files.read(checkpoint_folder(run))


@pytest.fixture
def recipe(write_recipe):
    return write_recipe("interrupted.yaml", RECIPE)


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_last_ends_exactly_as_an_uninterrupted_run(recipe, tmp_path):
    killed_uri, whole_uri = f"sqlite:///{tmp_path / 'killed.db'}", f"sqlite:///{tmp_path / 'whole.db'}"
    whole = start("run", recipe, "--tracking-uri", whole_uri)  # the reference, alongside
    out, _ = signal_during_epoch(start("run", recipe, "--tracking-uri", killed_uri), 3, signal.SIGKILL)
    client, run = only_run(killed_uri)
    run_id = run.info.run_id
    # killed in epoch 3: MLflow still says RUNNING; epochs 1-2 are in the checkpoint and the journal
    # (the store is written every few seconds: it may hold fewer)
    assert run.info.status == "RUNNING" and "Epoch 3/6" in out
    assert checkpoint_of(client, run)["epochs_done"] == 2
    assert sorted(files.read_journal(checkpoint_folder(run))) == [0, 1]
    listed = pipeline("runs", "--tracking-uri", killed_uri)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(run_id))
    assert row.split()[3:5] == ["died", "2/6"]
    assert f"--resume {run_id}" in listed.stdout
    report = pipeline("report", run_id, "--tracking-uri", killed_uri)
    assert report.returncode == 0 and f"run {run_id} (" in report.stdout and ": died" in report.stdout
    assert [step for step, _ in curves(client, run_id)["loss"]] == [0, 1]  # the journal, replayed by report

    resumed = pipeline("run", recipe, "--tracking-uri", killed_uri, "--resume", "last")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming run {run_id} after epoch 2 of 6" in resumed.stdout
    whole.communicate(timeout=TIMEOUT)
    assert whole.returncode == 0
    client, run = only_run(killed_uri)
    reference, expected = only_run(whole_uri)
    assert run.info.status == "FINISHED" and run.info.run_id == run_id
    # one point per epoch, no gap, no duplicate, the same numbers as the run that was never stopped
    assert curves(client, run_id) == curves(reference, expected.info.run_id)
    tests = {k: v for k, v in run.data.metrics.items() if k.startswith("test_")}
    assert tests and tests == {k: v for k, v in expected.data.metrics.items() if k.startswith("test_")}
    for a, b in zip(weights(client, run_id, tmp_path / "a"), weights(reference, expected.info.run_id, tmp_path / "b"),
                    strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("signum, code, name, background", [
    (signal.SIGTERM, 143, "SIGTERM", False), (signal.SIGINT, 130, "SIGINT", False),
    (signal.SIGTERM, 143, "SIGTERM", True)],  # a background job: its SIGINT ignored, SIGTERM still graceful
    ids=["SIGTERM", "SIGINT", "SIGTERM-background-job"])
def test_a_signal_stops_at_a_batch_marks_killed_keeps_checkpoint_and_prints_the_resume_command(
        recipe, tmp_path, signum, code, name, background):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = start("run", recipe, "--tracking-uri", uri, sigint_ignored=background)
    _, err = signal_during_epoch(proc, 3, signum)
    assert proc.returncode == code, err
    client, run = only_run(uri)
    run_id = run.info.run_id
    assert run.info.status == "KILLED" and run.data.tags["error"] == f"interrupted by {name}"
    assert f"interrupted by {name}: the MLflow run {run_id} is marked KILLED; its checkpoint after epoch 2 is kept" in err
    command = run.data.tags["resume.command"]
    assert f"resume it: {command}" in err and command.endswith(f"--resume {run_id}") and "Traceback" not in err
    assert [step for step, _ in curves(client, run_id)["loss"]] == [0, 1]  # the partial epoch is not recorded
    assert checkpoint_of(client, run)["epochs_done"] == 2
    files_kept = {a.path for a in client.list_artifacts(run_id, "checkpoints")}
    # the model as the signal found it, the model_checkpoint callback's best so far, the epoch checkpoint
    assert {"checkpoints/last.keras", "checkpoints/best.keras", "checkpoints/resume"} <= files_kept
    if signum == signal.SIGTERM and not background:  # the recipe changed since: refused, with the keys that differ
        refused = pipeline("run", recipe, "--tracking-uri", uri, "--resume", run_id,
                           "--set", "train.optimizer.learning_rate=0.01", "--set", "train.epochs=8")
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert refused.stderr.splitlines()[:2] == [
            "error: cannot resume",
            f"--set train.optimizer.learning_rate=0.01 train.optimizer.learning_rate: changed since run {run_id} "
            f"started: 0.003 -> 0.01"]
        assert "epochs" not in refused.stderr.splitlines()[1]  # a larger train.epochs alone would be allowed
        assert only_run(uri)[1].info.status == "KILLED"
