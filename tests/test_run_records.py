"""What a run records in a real MLflow store (SQLite under tmp): params = what ran, datasets, labels
that tell runs apart, system metrics, the per-class table, the k-fold parent's page, the same param
keys for runs, trials and folds, and a failed run's last loss and run id (docs/run-records.md)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlflow import MlflowClient

from pipeline.cli import main
from pipeline.tracking import labels
from tests.conftest import REPO

RECIPE = """\
name: rec
description: "A small **test** recipe"
data: {source: {type: mnist1d}, split: {val: 0.2}}
model:
  layers:
    - {type: flatten}
    - {type: batch_norm}
    - {type: dense, units: 10}
train:
  epochs: 1
  optimizer: {type: adam}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
track: {experiment: records, system_metrics: true}
"""
OVERRIDES = ["--set", "train.optimizer.learning_rate=0.01", "--set", "train.batch_size=64"]


def _git(folder, *args) -> str:
    return subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True, timeout=30).stdout.strip()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def recipes(tmp_path_factory):
    """rec.yaml committed in a git work tree of its own."""
    folder = tmp_path_factory.mktemp("recipes")
    (folder / "rec.yaml").write_text(RECIPE, encoding="utf-8")
    _git(folder, "init", "-q")
    _git(folder, "add", "rec.yaml")
    _git(folder, "commit", "-q", "-m", "recipe")
    return folder


@pytest.fixture(scope="module")
def recorded(store, recipes):
    """One run of rec.yaml with two overrides, system metrics sampled every second."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "1")
        assert main(["run", str(recipes / "rec.yaml"), "--tracking-uri", store, *OVERRIDES]) == 0
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("records").experiment_id])
    return run


def test_params_are_the_recipe_as_it_ran(recorded):
    params = recorded.data.params
    assert params["train.optimizer.learning_rate"] == "0.01" and params["train.batch_size"] == "64"
    # component defaults from the factories' signatures, schema defaults, the split's seed
    assert params["train.optimizer.type"] == "adam" and params["train.optimizer.beta_1"] == "0.9"
    assert params["model.layers.1.type"] == "batch_norm" and params["model.layers.1.momentum"] == "0.99"
    assert params["data.split.stratify"] == "True" and params["data.split.seed"] == "42"
    assert params["diagnostics.explosion_factor"] == "3.0" and params["train.loss.from_logits"] == "True"
    # the speed settings: as written and as used
    assert params["train.precision"] == "float32" and params["train.jit_compile"] == "auto"
    assert params["train.jit_compile_used"] == "True" and params["train.steps_per_execution_used"] == "8"
    assert "None" not in params.values()  # a None value is left out
    assert not any(k.startswith(("track.", "search", "name", "description")) for k in params)
    assert "train.verbose" not in params and "train.checkpoint_every" not in params


def test_runs_are_told_apart_by_name_overrides_description_and_commit(recorded, recipes):
    tags = recorded.data.tags
    assert recorded.info.run_name == "rec lr=0.01 batch=64"
    assert tags["recipe.overrides"] == "train.optimizer.learning_rate=0.01\ntrain.batch_size=64"
    assert tags["mlflow.note.content"] == "A small **test** recipe"
    assert tags["recipe.git.commit"] == _git(recipes, "rev-parse", "HEAD") and tags["recipe.git.dirty"] == "false"


def test_each_split_is_a_dataset_input(recorded):
    import json

    params, fingerprint = recorded.data.params, recorded.data.tags["data.fingerprint"]
    inputs = {d.tags[0].value: d.dataset for d in recorded.inputs.dataset_inputs}
    assert set(inputs) == {"train", "validation", "test"}
    for context, split in (("train", "train"), ("validation", "val"), ("test", "test")):
        dataset = inputs[context]
        assert dataset.name == f"mnist1d-{context}" and dataset.digest.startswith(fingerprint + "-")
        assert json.loads(dataset.profile)["num_rows"] == int(params[f"data.size.{split}"])
        assert json.loads(dataset.source) == {"source": {"type": "mnist1d"}, "recipe": recorded.data.tags["recipe.file"]}
        assert '\\"shape\\": [-1, 40, 1]' in dataset.schema  # one raw example, as the model takes it
    assert len({d.digest for d in inputs.values()}) == 3  # three records, not one


def test_system_metrics_and_the_per_class_table(recorded, store):
    metrics = recorded.data.metrics
    assert "system/cpu_utilization_percentage" in metrics and "system/system_memory_usage_megabytes" in metrics
    assert not any(m.startswith("test_recall_class") for m in metrics)  # macro numbers stay metrics:
    assert {"test_balanced_accuracy", "test_min_class_recall", "test_roc_auc_ovr"} <= set(metrics)
    table = MlflowClient(store).load_table(recorded.info.experiment_id, "classification_report.json",
                                           run_ids=[recorded.info.run_id])
    assert list(table["class"]) == list(range(10)) and table["support"].sum() == 1000
    assert table["recall"].mean() == pytest.approx(metrics["test_balanced_accuracy"])


def test_git_state_dirty_outside_git_and_without_git(recipes, tmp_path, monkeypatch):
    (tmp_path / "loose.yaml").write_text(RECIPE)
    assert labels.git_state(str(tmp_path / "loose.yaml")) == {}  # not in a work tree: no tags
    (recipes / "new.yaml").write_text(RECIPE)  # not committed: the commit alone does not give it back
    try:
        assert labels.git_state(str(recipes / "new.yaml"))["recipe.git.dirty"] == "true"
        assert labels.git_state(str(recipes / "rec.yaml"))["recipe.git.dirty"] == "false"
    finally:
        (recipes / "new.yaml").unlink()
    monkeypatch.setenv("PATH", str(tmp_path))  # no git at all: no tags, no failure
    assert labels.git_state(str(recipes / "rec.yaml")) == {}


def test_short_overrides_name_keys_by_their_last_part():
    assert labels.short_overrides(["train.optimizer.learning_rate=3e-3", "train.epochs=2",
                                   "track.experiment=x"]) == "lr=3e-3 epochs=2"
    assert labels.short_overrides(["model.layers[1].rate=0.1", "model.layers[4].rate=0.2"]) == \
        "model.layers[1].rate=0.1 model.layers[4].rate=0.2"  # the same short name twice: whole paths
    assert labels.run_name(None, ["train.epochs=2"], "recipes/a.yaml") == "a epochs=2"
    assert labels.run_name("a", []) == "a"


def test_trials_and_folds_log_the_keys_a_run_logs(recorded, store, recipes, tmp_path, capsys):
    client = MlflowClient(store)
    run_keys = set(recorded.data.params)
    (recipes / "search.yaml").write_text("extends: rec.yaml\nsearch:\n"
                                         "  space: {train.optimizer.learning_rate: {choice: [0.01]}}\n"
                                         "  stages: [{epochs: 4, max_trials: 3}]\n", encoding="utf-8")
    assert main(["tune", str(recipes / "search.yaml"), "--tracking-uri", store, "--dir", str(tmp_path / "t"),
                 "--set", "search.max_trials=1", "--set", "train.epochs=1"]) == 0
    out = capsys.readouterr().out
    assert "--set search.max_trials=1 applies to every stage of search.stages (max_trials 3 -> 1)" in out
    assert "--set train.epochs=1 applies to every stage of search.stages (epochs 4 -> 1)" in out
    experiment = recorded.info.experiment_id
    trials = client.search_runs([experiment], "tags.`search.stage` = '0'")
    assert len(trials) == 1 and trials[0].data.params["train.epochs"] == "1"
    assert set(trials[0].data.params) == run_keys
    parent = client.search_runs([experiment], "tags.`search.role` = 'parent'")[0]
    assert parent.data.params["search.seed"] == "42" and "None" not in parent.data.params.values()

    assert main(["run", str(recipes / "rec.yaml"), "--tracking-uri", store, "--set", "data.split.kfold=2"]) == 0
    (cv,) = client.search_runs([experiment], "tags.kfold = '2'")
    folds = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{cv.info.run_id}'")
    assert len(folds) == 2 and cv.info.run_name == "rec-cv2 kfold=2"
    for fold in folds:
        assert set(fold.data.params) == run_keys | {"data.split.kfold", "data.split.fold"}
    table = client.load_table(experiment, "cv_summary.json", run_ids=[cv.info.run_id])
    assert list(table["fold"]) == ["0", "1", "mean", "std"]
    assert table["val_accuracy"].iloc[2] == pytest.approx(cv.data.metrics["cv_val_accuracy_mean"])
    assert "plots/fold_curves.png" in {a.path for a in client.list_artifacts(cv.info.run_id, "plots")}


def test_exploded_run_logs_its_last_loss_and_prints_its_run_id(tmp_path):
    recipe = tmp_path / "explode.yaml"
    recipe.write_text(RECIPE.replace("optimizer: {type: adam}", "optimizer: {type: sgd, learning_rate: 1.0e+4}")
                      .replace("system_metrics: true", "system_metrics: false"), encoding="utf-8")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--tracking-uri", uri],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1 and "loss explosion" in done.stderr and "Traceback" not in done.stderr
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("records").experiment_id])
    assert run.info.status == "FAILED" and f"the MLflow run {run.info.run_id} is marked FAILED" in done.stderr
    (point,) = client.get_metric_history(run.info.run_id, "loss_at_failure")
    assert point.step == 0 and not point.value <= 3 * 2.31  # NaN or past 3 x the initial loss (~ln 10)


def test_dataset_inputs_survive_two_runs_racing_to_create_the_same_dataset(tracking_uri):
    """Two workers of one search log the same split at once: MLflow's insert of the dataset row
    fails for the loser with a UNIQUE constraint; the retry finds the row instead of failing the trial."""
    import mlflow
    import numpy as np
    from mlflow.exceptions import MlflowException

    from pipeline.tracking.run_logger import RunLogger

    experiment = mlflow.MlflowClient(tracking_uri).create_experiment("race")
    logger = RunLogger.start(tracking_uri, experiment, "r", {})
    real, calls = logger.client.log_inputs, []

    def lose_the_race_once(run_id, inputs):
        calls.append(run_id)
        if len(calls) == 1:
            raise MlflowException("UNIQUE constraint failed: datasets.experiment_id, datasets.name, datasets.digest")
        return real(run_id, inputs)

    logger.client.log_inputs = lose_the_race_once
    logger.log_inputs([(mlflow.data.from_numpy(np.zeros((3, 2)), name="split"), "train")])
    logger.end("FINISHED")
    inputs = mlflow.MlflowClient(tracking_uri).get_run(logger.run_id).inputs.dataset_inputs
    assert len(calls) == 2 and [d.dataset.name for d in inputs] == ["split"]
