"""The loss-explosion guard: on by default, stops a diverging run within a few steps, keeps the last good model."""

from __future__ import annotations

import re

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from pipeline.cli import main
from pipeline.diagnostics.explosion import exploded

RECIPE = """
seed: 3
data: {source: {type: digits}, preprocess: [{type: standardize}]}
model: {layers: [{type: flatten}, {type: dense, units: 32, activation: relu}, {type: dense, units: 10}]}
train:
  epochs: 3
  batch_size: 64
  optimizer: {type: sgd, learning_rate: LR}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
track: {experiment: explode}
"""


def test_the_rule_is_three_times_the_initial_loss_or_not_finite():
    assert not exploded(5.99, 2.0, 3.0) and not exploded(6.0, 2.0, 3.0) and exploded(6.01, 2.0, 3.0)
    assert exploded(float("nan"), 2.3, 3.0) and exploded(float("inf"), 2.3, 3.0)
    assert not exploded(100.0, 0.0, 3.0)  # no multiple of a zero loss means anything: finiteness only


def _run(write_recipe, tracking_uri, text):
    code = main(["run", str(write_recipe("r.yaml", text))])
    mlflow.set_tracking_uri(tracking_uri)
    run, = mlflow.search_runs(experiment_names=["explode"], output_format="list")
    return code, run


def test_learning_rate_1e3_fails_the_run_within_a_few_steps_and_keeps_the_good_model(
        write_recipe, tracking_uri, capsys):
    code, run = _run(write_recipe, tracking_uri, RECIPE.replace("LR", "1000.0"))
    err = capsys.readouterr().err
    assert code == 1 and run.info.status == "FAILED"
    reason = run.data.tags["error"]
    assert reason.startswith("LossExplosion: loss explosion") and "Lower the learning rate" in reason
    assert "try 100" in reason and "loss explosion" in err
    step = int(re.search(r"epoch 1, step (\d+)", reason).group(1))
    # 23 steps in the epoch: stopped at the first loss Keras reports, i.e. after one execution of
    # `steps_per_execution` steps (auto = 8 here); the guard cannot see inside an execution
    assert step <= 8
    client = MlflowClient()
    assert "checkpoints/last.keras" in {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")}
    import keras

    model = keras.saving.load_model(mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="checkpoints/last.keras"))
    weights = model.get_weights()
    assert all(np.isfinite(w).all() for w in weights)  # the initial weights, not the NaN ones
    assert "the initial weights" in reason


@pytest.mark.parametrize("setting, stops", [("", True), ("diagnostics: {explosion_factor: null}", False)])
def test_the_guard_is_on_by_default_and_can_be_turned_off(write_recipe, tracking_uri, setting, stops):
    # LR 3 overshoots (the loss rises past 3x its start) but stays finite: only the 3x rule stops it
    text = RECIPE.replace("LR", "3.0").replace("epochs: 3", "epochs: 1") + setting + "\n"
    code, run = _run(write_recipe, tracking_uri, text)
    assert ("loss explosion" in run.data.tags.get("error", "")) is stops
    assert code == (1 if stops else 0)
