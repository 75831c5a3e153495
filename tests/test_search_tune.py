"""`pipeline tune` for real on MNIST-1D: MLflow parent and nested runs, abort, best recipe, resume, workers."""

from __future__ import annotations

import os
import subprocess
import sys

import mlflow
import pytest
import yaml
from mlflow import MlflowClient

from pipeline.cli import main
from tests.conftest import REPO

TINY = """\
name: tiny-search
seed: 3
data:
  source: {{type: mnist1d, num_samples: {samples}}}
  split: {{val: 0.2}}
model:
  layers:
    - {{type: flatten}}
    - {{type: dense, units: 10}}
train:
  epochs: {epochs}
  batch_size: {batch}
  optimizer: {{type: sgd, learning_rate: 1.0e-2}}
  loss: {{type: sparse_categorical_crossentropy, from_logits: true}}
  metrics: [accuracy]
track: {{experiment: {experiment}}}
search:
{search}
"""


def _recipe(write_recipe, search: str, experiment: str, samples=600, epochs=1, batch=32):
    return write_recipe(f"{experiment}.yaml", TINY.format(search=search, experiment=experiment,
                                                          samples=samples, epochs=epochs, batch=batch))


def _runs(uri: str, experiment: str):
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=[experiment], output_format="list")
    parents = [r for r in runs if r.data.tags.get("search.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    return parents, children


@pytest.mark.slow
def test_tiny_search_logs_parent_and_trials_aborts_explosions_and_best_recipe_reruns(
        tracking_uri, write_recipe, tmp_path, capsys):
    search = """\
  tuner: grid
  space:
    train.optimizer.learning_rate: {choice: [1.0e-1, 1.0e+4]}   # the second one explodes
"""
    recipe = _recipe(write_recipe, search, "tiny")
    best_file = tmp_path / "best.yaml"
    assert main(["tune", str(recipe), "--dir", str(tmp_path / "tuning"), "-o", str(best_file)]) == 0
    out = capsys.readouterr().out
    assert "COMPLETED" in out and "FAILED" in out and "aborted: loss" in out
    assert f"best recipe: {best_file}" in out

    parents, children = _runs(tracking_uri, "tiny")
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    by_lr = {float(c.data.params["train.optimizer.learning_rate"]): c for c in children}
    good, bad = by_lr[0.1], by_lr[1e4]
    assert good.info.status == "FINISHED" and bad.info.status == "FAILED"
    assert f"(MLflow run {bad.info.run_id})" in out and "loss_at_failure" in bad.data.metrics  # the failed run's id
    # trials are chosen on validation: the test split stays unread until the best recipe is run
    assert "final_val_accuracy" in good.data.metrics
    assert not [k for k in good.data.metrics if k.startswith("test_")], good.data.metrics
    # stopped by the run's explosion guard or the search's abort callback, whichever sees it first
    error = bad.data.tags["error"]
    assert "x the initial loss" in error or "x initial loss" in error, error
    # the explosion stopped the trial within its first epoch: no epoch metrics were recorded
    assert "val_accuracy" not in bad.data.metrics
    # the parent: settings, space, best trial, results table and plot
    assert parent.data.params["search.tuner"] == "grid"
    # the values used where the recipe left them out, not 'None': the recipe's seed, max for accuracy
    assert (parent.data.params["search.seed"], parent.data.params["search.direction"]) == ("3", "max")
    assert parent.data.params["space.train.optimizer.learning_rate"] == '{"choice": [0.1, 10000.0]}'
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(good.data.metrics["val_accuracy"])
    assert parent.data.metrics["trials_completed"] == 1 and parent.data.metrics["trials_failed"] == 1
    artifacts = {a.path for a in MlflowClient().list_artifacts(parent.info.run_id, "search")}
    assert {"search/results.csv", "search/objective_vs_hyperparameters.png", "search/best_recipe.yaml"} <= artifacts
    table = mlflow.artifacts.load_text(f"runs:/{parent.info.run_id}/search/results.csv").splitlines()
    assert table[0] == "stage,trial,status,score,train.optimizer.learning_rate,reason"
    assert table[2].startswith('0,01,FAILED,,10000.0,"aborted: loss')  # ids padded to max_trials (10)
    # the trial's recipe was logged, and the best recipe re-runs alone with `pipeline run`
    assert "learning_rate: 0.1" in mlflow.artifacts.load_text(f"runs:/{good.info.run_id}/recipe.yaml")
    best = yaml.safe_load(best_file.read_text())
    assert "search" not in best and best["train"]["optimizer"]["learning_rate"] == 0.1
    assert main(["run", str(best_file), "--set", "track.experiment=rerun"]) == 0
    # `pipeline run` on the search recipe itself trains the base recipe and ignores `search:`
    assert main(["run", str(recipe), "--set", "track.experiment=plain"]) == 0
    mlflow.set_tracking_uri(tracking_uri)
    for experiment in ("rerun", "plain"):
        runs = mlflow.search_runs(experiment_names=[experiment], output_format="list")
        assert len(runs) == 1 and runs[0].info.status == "FINISHED"
        assert not any(k.startswith("search") for k in runs[0].data.params)
    assert runs[0].data.params["train.optimizer.learning_rate"] == "0.01"


def _env(uri: str) -> dict:
    return {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO), "KERAS_BACKEND": "jax"}


@pytest.mark.slow
def test_killed_search_resumes_without_repeating_finished_trials(tracking_uri, write_recipe, tmp_path):
    search = """\
  max_trials: 2
  space:
    train.optimizer.learning_rate: {log_uniform: [1.0e-3, 1.0e-1]}
"""
    recipe = _recipe(write_recipe, search, "resume", epochs=3)
    folder = tmp_path / "tuning"
    arguments = ["tune", str(recipe), "--dir", str(folder)]
    # SIGTERM arrives when trial 1 begins its second epoch: trial 0 is complete and trial 1's first epoch
    # is backed up (a test hook in the trial itself sends it: no polling, no timing). From the repository
    # root, where a dropped KeyboardInterrupt once let the search run on (pipeline/search/interrupt.py).
    first = subprocess.run([sys.executable, "-m", "tests.signal_at_second_epoch", "SIGTERM", "trial_1", *arguments],
                           env=_env(tracking_uri), capture_output=True, text=True, check=False, timeout=300,
                           cwd=REPO)
    output = first.stdout + first.stderr
    assert first.returncode == 1, output
    assert "0  COMPLETED" in output and "interrupted" in output

    second = subprocess.run([sys.executable, "-m", "pipeline.cli", *arguments, "--resume"], env=_env(tracking_uri),
                            capture_output=True, text=True, check=False, timeout=300, cwd=REPO)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "    0     0  COMPLETED" not in second.stdout  # trial 0 is not run again

    parents, children = _runs(tracking_uri, "resume")
    assert len(parents) == 1  # the resumed search goes on in the same parent run
    finished = [c for c in children if c.info.status == "FINISHED"]
    assert sorted(c.data.tags["search.trial_id"] for c in finished) == ["0", "1"]  # as many as asked
    killed = [c for c in children if c.info.status == "KILLED"]
    assert [c.data.tags["search.trial_id"] for c in killed] == ["1"]
    # trial 1 went on from its last finished epoch (KerasTuner's retry + the per-trial backup)
    resumed = next(c for c in finished if c.data.tags["search.trial_id"] == "1")
    steps = [m.step for m in MlflowClient().get_metric_history(resumed.info.run_id, "val_accuracy")]
    assert steps == [1, 2], steps  # epoch 0 was not redone


@pytest.mark.slow
def test_two_workers_log_every_trial_exactly_once(tracking_uri, write_recipe, tmp_path, capsys):
    search = """\
  max_trials: 4
  space:
    train.optimizer.learning_rate: {log_uniform: [1.0e-3, 1.0e-1]}
    train.batch_size: {int: [16, 64], step: 16}
"""
    recipe = _recipe(write_recipe, search, "workers")
    assert main(["tune", str(recipe), "--dir", str(tmp_path / "tuning"), "--workers", "2"]) == 0
    parents, children = _runs(tracking_uri, "workers")
    assert len(parents) == 1 and parents[0].data.params["search.workers"] == "2"
    assert sorted(c.data.tags["search.trial_id"] for c in children) == ["0", "1", "2", "3"]
    assert all(c.info.status == "FINISHED" for c in children)
    assert {c.data.tags["search.worker"] for c in children} <= {"worker0", "worker1"}
    # each trial's run holds its own sampled values
    values = {(c.data.params["train.optimizer.learning_rate"], c.data.params["train.batch_size"]) for c in children}
    assert len(values) == 4
    assert (tmp_path / "tuning" / "results.csv").read_text().count("COMPLETED") == 4
