"""A real (short) training run through the CLI, read back from MLflow."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from pipeline.cli import main
from pipeline.registries import callbacks
from tests.conftest import RECIPES


def _only_run(uri: str, experiment: str):
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=[experiment], output_format="list")
    assert len(runs) == 1
    return runs[0]


@pytest.mark.slow
def test_quick_start_trains_and_is_recorded_in_mlflow(tracking_uri, capsys):
    code = main(["run", str(RECIPES / "mnist1d-cnn.yaml"), "--set", "train.epochs=3",
                 "--set", "track.experiment=e2e"])
    out = capsys.readouterr().out
    assert code == 0
    run = _only_run(tracking_uri, "e2e")
    assert run.info.status == "FINISHED"
    assert f"MLflow run id: {run.info.run_id}" in out
    assert "test: test_accuracy=" in out and "Epoch 3/3" in out

    # params: the flattened resolved recipe, overrides included
    params = run.data.params
    assert params["train.epochs"] == "3"
    assert params["model.layers.0.type"] == "conv1d"
    assert params["backend"] == "jax"
    assert int(params["data.size.test"]) == 1000  # MNIST-1D's own test split is kept
    # per-epoch curves for train and validation, and the test metrics once
    client = MlflowClient()
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [m.step for m in history] == [0, 1, 2]
    assert set(run.data.metrics) >= {"accuracy", "loss", "val_accuracy", "val_loss", "test_accuracy", "test_loss"}
    assert 0.1 < run.data.metrics["test_accuracy"] <= 1.0
    # tags
    tags = run.data.tags
    assert len(tags["recipe.hash"]) == 16 and tags["backend"] == "jax"
    assert "version.keras" in tags and "builtin" in tags["plugins"]
    assert len(tags["data.fingerprint"]) == 16
    # artifacts: resolved recipe, model, learning curves
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"recipe.yaml", "model", "plots"} <= artifacts
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="model/model.keras")
    import keras

    model = keras.saving.load_model(local)
    assert model.count_params() == int(params["model.parameters"])
    logged = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/recipe.yaml")
    assert "epochs: 3" in logged


class Boom(RuntimeError):
    pass


def test_failing_run_is_recorded_failed_with_reason_and_checkpoint(tracking_uri, write_recipe, capsys):
    import keras

    @callbacks.register("explode_at_epoch")
    def explode_at_epoch(epoch: int = 1):
        """Raises at the end of `epoch` (test helper)."""

        class Explode(keras.callbacks.Callback):
            def on_epoch_end(self, e, logs=None):
                if e == epoch:
                    raise Boom(f"exploded at epoch {e}")

        return Explode()

    recipe = write_recipe("fail.yaml", """
data: {source: {type: digits}}
model: {layers: [{type: flatten}, {type: dense, units: 10}]}
train:
  epochs: 5
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  callbacks: [{type: explode_at_epoch, epoch: 1}]
track: {experiment: failing}
""")
    code = main(["run", str(recipe)])
    err = capsys.readouterr().err
    assert code == 1
    assert "run failed: Boom: exploded at epoch 1" in err and "Traceback" not in err
    run = _only_run(tracking_uri, "failing")
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == "Boom: exploded at epoch 1"
    artifacts = {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}
    assert {"error.txt", "checkpoints"} <= artifacts
    # the per-epoch metrics recorded before the failure are kept
    assert [m.step for m in MlflowClient().get_metric_history(run.info.run_id, "loss")] == [0, 1]


def test_bad_recipe_exits_2_and_creates_no_run(tracking_uri, write_recipe, capsys):
    recipe = write_recipe("bad.yaml", "data: {source: {type: mnist2d}}\nmodel: {layers: [{type: flatten}]}\n"
                                      "train: {epochs: 1, loss: mse}\n")
    assert main(["run", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:1:17 data.source.type: unknown dataset 'mnist2d'; did you mean 'mnist1d'?" in err
    assert "Traceback" not in err
    mlflow.set_tracking_uri(tracking_uri)
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []


def test_test_split_is_only_evaluated_after_training(tracking_uri, write_recipe, monkeypatch):
    """Early stopping and fit see train/validation only; the test arrays reach Keras once, in evaluate."""
    import keras

    from pipeline import train as trainer

    seen = {"fit": [], "evaluate": []}
    real_fit, real_evaluate = keras.Model.fit, keras.Model.evaluate

    def fit(self, x, y, validation_data=None, **kw):
        seen["fit"].append((len(x), len(validation_data[0])))
        return real_fit(self, x, y, validation_data=validation_data, **kw)

    def evaluate(self, x, y, **kw):
        seen["evaluate"].append(len(x))
        return real_evaluate(self, x, y, **kw)

    monkeypatch.setattr(keras.Model, "fit", fit)
    monkeypatch.setattr(keras.Model, "evaluate", evaluate)
    recipe = write_recipe("split.yaml", """
data: {source: {type: digits}, split: {val: 0.1, test: 0.2}}
model: {layers: [{type: flatten}, {type: dense, units: 10}]}
train:
  epochs: 2
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  callbacks: [{type: early_stopping, patience: 1}]
""")
    from pipeline.recipe import load_recipe

    result = trainer.run(load_recipe(recipe), echo=lambda *a: None)
    n = 1797
    n_test = int(np.ceil(0.2 * n))
    # fit evaluates the validation split itself each epoch; the test split is evaluated once, last.
    assert seen["evaluate"][-1] == n_test and seen["evaluate"].count(n_test) == 1
    (n_train, n_val), = seen["fit"]
    assert n_train + n_val + n_test == n
    assert n_val == pytest.approx(0.1 * n, abs=2)
    assert set(result.test_metrics) == {"test_loss"}
