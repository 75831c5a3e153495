"""Callbacks built as a recipe builds them: smoothed early stopping, checkpoints, LR logging, warmup,
and a short real run whose MLflow record holds the confusion matrix, checkpoints and learning rate."""

from __future__ import annotations

import keras
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from pipeline import registries
from pipeline.cli import main
from pipeline.components import build_spec

pytestmark = pytest.mark.usefixtures("backend_started")


def callback(spec):
    return build_spec(registries.callbacks, spec)


def tiny_model():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.stop_training = False
    return model


def drive(cb, val_losses, model=None):
    """Epoch ends with the given validation losses; the model's kernel holds the epoch number.
    Returns (epoch at which training stopped or None, the model)."""
    model = model or tiny_model()
    cb.set_model(model)
    cb.on_train_begin()
    stopped = None
    for epoch, val_loss in enumerate(val_losses):
        model.set_weights([np.full((1, 1), epoch, "float32"), np.zeros(1, "float32")])
        cb.on_epoch_end(epoch, {"val_loss": val_loss})
        if model.stop_training:
            stopped = epoch
            break
    cb.on_train_end()
    return stopped, model


# -- early stopping with smoothing -------------------------------------------------------------------
# A downward trend with one noisy bump (epochs 2-3) and a real rise at the end.
NOISY = [1.0, 0.8, 0.95, 0.9, 0.6, 0.55, 0.5, 0.52, 0.56, 0.6, 0.65, 0.7, 0.75, 0.8]


def ema(values, s):
    out = [values[0]]
    for v in values[1:]:
        out.append(s * out[-1] + (1 - s) * v)
    return np.array(out)


def test_raw_early_stopping_is_fooled_by_a_noisy_bump():
    stopped, model = drive(callback({"type": "early_stopping", "patience": 2}), NOISY)
    assert stopped == 3  # best raw value at epoch 1, then two worse epochs
    assert model.get_weights()[0][0, 0] == 1.0


def test_smoothed_early_stopping_stops_later_and_restores_the_best_smoothed_epoch():
    s, patience = 0.6, 2
    cb = callback({"type": "early_stopping", "patience": patience, "smoothing": s})
    stopped, model = drive(cb, NOISY)
    smooth = ema(NOISY, s)
    # expected by hand: the first epoch `patience` epochs after the best smoothed value so far
    best, wait, expected_stop = np.inf, 0, None
    for epoch, value in enumerate(smooth):
        if value < best:
            best, wait, best_epoch = value, 0, epoch
        else:
            wait += 1
            if wait >= patience:
                expected_stop = epoch
                break
    assert stopped == expected_stop and stopped > 3
    assert cb.best == pytest.approx(smooth[best_epoch])
    assert model.get_weights()[0][0, 0] == best_epoch  # the weights of the best smoothed epoch
    assert best_epoch > int(np.argmin(NOISY[:4]))


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    cb = callback({"type": "early_stopping", "patience": 2})
    stopped, model = drive(cb, [1.0, 0.5, 0.6, 0.7, 0.8, 0.9])
    assert stopped == 3  # best at epoch 1, two epochs without improvement
    assert model.get_weights()[0][0, 0] == 1.0  # the weights of epoch 1


def test_smoothing_zero_is_keras_early_stopping():
    ours = callback({"type": "early_stopping", "patience": 3})
    plain = keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)
    assert isinstance(ours, keras.callbacks.EarlyStopping)
    assert drive(ours, NOISY)[0] == drive(plain, NOISY)[0]


def test_smoothing_must_be_in_zero_one():
    with pytest.raises(ValueError, match="smoothing"):
        callback({"type": "early_stopping", "smoothing": 1.0})


def test_smoothing_restarts_with_each_fit():
    cb = callback({"type": "early_stopping", "patience": 100, "smoothing": 0.9})
    drive(cb, [10.0, 10.0])
    drive(cb, [1.0])
    assert cb.smoothed == 1.0


# -- model checkpoint ----------------------------------------------------------------------------------
def test_checkpoint_keeps_the_best_and_the_last_model(tmp_path):
    cb = callback({"type": "model_checkpoint"})
    cb.directory = str(tmp_path / "ckpt")  # no MLflow run here: keep the files where we can read them
    drive(cb, [0.9, 0.4, 0.7, 0.5])
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["best.keras", "last.keras"]
    best = keras.saving.load_model(tmp_path / "ckpt" / "best.keras")
    last = keras.saving.load_model(tmp_path / "ckpt" / "last.keras")
    assert best.get_weights()[0][0, 0] == 1.0 and cb.best_epoch == 1
    assert last.get_weights()[0][0, 0] == 3.0


def test_checkpoint_mode_follows_the_metric_name():
    cb = callback({"type": "model_checkpoint", "monitor": "val_accuracy", "save_last": False})
    model = tiny_model()
    cb.set_model(model)
    cb.on_train_begin()
    for epoch, acc in enumerate([0.5, 0.9, 0.7]):
        cb.on_epoch_end(epoch, {"val_accuracy": acc})
    assert cb.best == 0.9 and cb.best_epoch == 1


def test_checkpoint_names_a_missing_metric():
    cb = callback({"type": "model_checkpoint", "monitor": "val_f1"})
    cb.set_model(tiny_model())
    cb.on_train_begin()
    with pytest.raises(KeyError, match="val_f1.*Available: loss, val_loss"):
        cb.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.0})


# -- learning-rate logging and warmup, inside model.fit ------------------------------------------------
SPE, EPOCHS = 4, 3


def fit_with_constant_gradient(optimizer, callbacks):
    """One weight w, prediction w for every input, loss mean(prediction): dL/dw = 1 at every step,
    so each SGD update subtracts exactly the learning rate it used. Returns (history, final w)."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False,
                                                                     kernel_initializer="zeros")])
    model.compile(optimizer=optimizer, loss=lambda y_true, y_pred: keras.ops.mean(y_pred))
    x = np.ones((SPE * 8, 1), "float32")
    history = model.fit(x, x, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=callbacks)
    return history.history, float(model.get_weights()[0][0, 0])


def test_warmup_callback_ramps_the_learning_rate_linearly_from_zero():
    lr, warm = 0.1, 2
    history, w = fit_with_constant_gradient(
        build_spec(registries.optimizers, {"type": "sgd", "learning_rate": lr}),
        [callback({"type": "warmup", "epochs": warm}), callback("lr_logger")])
    used = [lr * min(t / (warm * SPE), 1.0) for t in range(SPE * EPOCHS)]  # 0, lr/8, ..., 7lr/8, lr, ...
    assert w == pytest.approx(-sum(used), rel=1e-5)  # the compiled train step used these rates
    # the logger reports the rate of each epoch's last update
    np.testing.assert_allclose(history["learning_rate"], [used[SPE - 1], used[2 * SPE - 1], lr], rtol=1e-6)


def test_lr_logger_follows_a_schedule():
    make = build_spec(registries.schedules, {"type": "exponential", "decay_rate": 0.5})
    schedule = make(0.1, SPE, EPOCHS)
    optimizer = registries.optimizers.build("sgd", learning_rate=schedule)  # as the trainer does
    history, w = fit_with_constant_gradient(optimizer, [callback("lr_logger")])
    used = [0.1 * 0.5 ** (t / SPE) for t in range(SPE * EPOCHS)]
    assert w == pytest.approx(-sum(used), rel=1e-5)
    np.testing.assert_allclose(history["learning_rate"], [used[SPE - 1], used[2 * SPE - 1], used[-1]], rtol=1e-5)


def test_warmup_callback_refuses_a_scheduled_optimizer():
    make = build_spec(registries.schedules, "cosine")
    optimizer = registries.optimizers.build("sgd", learning_rate=make(0.1, SPE, EPOCHS))
    with pytest.raises(ValueError, match="warmup_epochs"):
        fit_with_constant_gradient(optimizer, [callback("warmup")])


# -- in a real run ----------------------------------------------------------------------------------
def test_run_logs_confusion_matrix_checkpoints_and_learning_rate(tracking_uri, write_recipe):
    recipe = write_recipe("cm.yaml", """
data: {source: {type: digits}, split: {val: 0.1, test: 0.2}}
model:
  layers: [{type: flatten}, {type: dense, units: 10}]
train:
  epochs: 1
  batch_size: 128
  scale_lr_with_batch: 256
  optimizer: {type: sgd, learning_rate: 0.2, momentum: 0.9}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy, confusion_matrix]
  callbacks: [lr_logger, model_checkpoint]
  verbose: 0
track: {experiment: cm, log_model: false}
""")
    assert main(["run", str(recipe)]) == 0
    mlflow.set_tracking_uri(tracking_uri)
    (run,) = mlflow.search_runs(experiment_names=["cm"], output_format="list")
    client = MlflowClient()
    files = {a.path for folder in ("plots", "checkpoints") for a in client.list_artifacts(run.info.run_id, folder)}
    assert {"plots/confusion_matrix.png", "plots/learning_curves.png",
            "checkpoints/best.keras", "checkpoints/last.keras"} <= files
    counts = np.array(mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/confusion_matrix.json")["counts"])
    assert counts.shape == (10, 10) and counts.sum() == int(run.data.params["data.size.test"])
    assert np.trace(counts) / counts.sum() == pytest.approx(run.data.metrics["test_accuracy"], abs=1e-6)
    # the linear scaling rule: 0.2 * 128 / 256, recorded and used
    assert float(run.data.params["train.optimizer.learning_rate_used"]) == pytest.approx(0.1)
    assert run.data.metrics["learning_rate"] == pytest.approx(0.1)
    assert "confusion_matrix" not in " ".join(run.data.metrics)  # not a per-epoch metric
