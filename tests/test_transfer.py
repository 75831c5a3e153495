"""Transfer learning: weights copied from a run's model, frozen layers, the unfreeze schedule."""

from __future__ import annotations

import subprocess
import sys

import keras
import mlflow
import numpy as np
import pytest

from pipeline import transfer
from pipeline.assemble import build_compiled_model, prepare_data
from pipeline.cli import main
from pipeline.fit import fit_in_stages
from pipeline.keras_compat import save_model, set_seed
from pipeline.recipe import load_recipe
from pipeline.saving import load_model
from pipeline.train import run
from tests.conftest import REPO
from tests.helpers import to_np

pytestmark = pytest.mark.usefixtures("backend_started")

RECIPE = """\
seed: 3
data:
  source: {type: shapes, num_samples: 64, num_test: 16, size: 12}
  split: {val: 0.25}
model:
  layers:
    - {type: conv2d, filters: 4, kernel_size: 3, padding: same, name: stem}
    - {type: batch_norm, name: bn}
    - {type: activation, fn: relu, name: relu}
    - {type: conv2d, filters: 4, kernel_size: 3, padding: same, name: mid}
    - {type: global_avg_pool2d, name: pool}
    - {type: dense, units: 3, name: head}
train:
  epochs: 2
  batch_size: 16
  verbose: 0
  optimizer: {type: sgd, learning_rate: 0.1}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
track: {experiment: pretrain}
"""


def weights(model, name):
    return [np.array(w) for w in model.get_layer(name).get_weights()]


def assert_same(a, b):
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def assert_differs(a, b):
    assert any(not np.array_equal(x, y) for x, y in zip(a, b))


def built(write_recipe, extra: str = "", overrides=()):
    """(plan, splits, model) as a run builds them: seeded, compiled, then init_from/freeze applied."""
    loaded = load_recipe(write_recipe("r.yaml", RECIPE + extra), overrides)
    set_seed(loaded.plan.recipe.seed)
    _, splits = prepare_data(loaded)
    model = build_compiled_model(loaded, splits.x_train.shape[1:], steps_per_epoch=4)
    done = transfer.prepare(model, loaded.plan, steps_per_epoch=4)
    return loaded.plan, splits, model, done


def fit(plan, splits, model, callbacks=()):
    fit_in_stages(model, plan, x=splits.x_train, y=splits.y_train, epochs=plan.recipe.train.epochs,
                  batch_size=16, verbose=0, callbacks=list(callbacks), shuffle=False)


def test_init_from_a_run_copies_exactly_the_named_layers(write_recipe, tracking_uri):
    pretrained = run(load_recipe(write_recipe("pre.yaml", RECIPE)), echo=lambda *_: None)
    path = mlflow.artifacts.download_artifacts(run_id=pretrained.run_id, artifact_path="model/model.keras")
    source = load_model(path)
    _, _, fresh, _ = built(write_recipe)  # same seed, no init_from: what "freshly initialized" means
    overrides = [f"model.init_from={{run: {pretrained.run_id}, layers: [stem, bn]}}"]
    _, _, model, done = built(write_recipe, overrides=overrides)
    assert done == {"model.init_from.copied": "stem,bn"}
    for name in ("stem", "bn"):  # kernel, bias; gamma, beta and the moving statistics
        assert_same(weights(model, name), weights(source, name))
        assert_differs(weights(model, name), weights(fresh, name))
    for name in ("mid", "head"):
        assert_same(weights(model, name), weights(fresh, name))
        assert_differs(weights(model, name), weights(source, name))
    # a layer name as `layers:` copies the prefix up to it, paired by position
    overrides = [f"model.init_from={{run: {pretrained.run_id}, layers: bn}}"]
    assert built(write_recipe, overrides=overrides)[3] == {"model.init_from.copied": "stem,bn"}


def test_frozen_layers_and_their_batchnorm_statistics_do_not_move(write_recipe):
    plan, splits, model, done = built(write_recipe, overrides=["model.freeze={up_to: bn}"])
    assert done == {"model.frozen": "stem,bn"}
    before = {n: weights(model, n) for n in ("stem", "bn", "mid", "head")}
    fit(plan, splits, model)
    assert_same(weights(model, "stem"), before["stem"])
    assert_same(weights(model, "bn"), before["bn"])  # gamma, beta, moving mean and variance
    assert_differs(weights(model, "mid"), before["mid"])
    assert_differs(weights(model, "head"), before["head"])
    # control: the same training without freezing moves the statistics (so the check above can fail)
    plan, splits, model, _ = built(write_recipe)
    fit(plan, splits, model)
    assert_differs(weights(model, "bn")[2:], before["bn"][2:])


class Recorder(keras.callbacks.Callback):
    """Per epoch: whether `mid` was trainable at its start, and `mid`/`stem` weights at its end."""

    def __init__(self):
        super().__init__()
        self.trainable, self.mid, self.stem, self.lr = [], [], [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.trainable.append(self.model.get_layer("mid").trainable)
        self.lr.append(float(to_np(self.model.optimizer.learning_rate)))

    def on_epoch_end(self, epoch, logs=None):
        self.mid.append(weights(self.model, "mid"))
        self.stem.append(weights(self.model, "stem"))


def test_unfreezing_at_the_scheduled_epoch_makes_layers_trainable(write_recipe):
    plan, splits, model, _ = built(write_recipe, overrides=[
        "model.freeze={up_to: mid}", "train.epochs=3", "train.unfreeze=[{epoch: 1, down_to: mid}]"])
    start = {"mid": weights(model, "mid"), "stem": weights(model, "stem")}
    recorder = Recorder()
    fit(plan, splits, model, [recorder])
    assert recorder.trainable == [False, True, True]
    assert_same(recorder.mid[0], start["mid"])        # frozen during epoch 0
    assert_differs(recorder.mid[1], recorder.mid[0])  # trained from epoch 1
    assert all(np.array_equal(w[0], start["stem"][0]) for w in recorder.stem)  # stem stays frozen
    # the fine-tuning phase runs at FINE_TUNE_LR_FACTOR x the recipe's rate (no learning_rate given)
    assert recorder.lr == pytest.approx([0.1, 0.01, 0.01])


def test_bad_layer_names_and_sources_are_reported(write_recipe, capsys):
    with pytest.raises(ValueError, match=r"freeze.up_to: no layer named 'stage9'.*Layers: stem, bn"):
        built(write_recipe, overrides=["model.freeze={up_to: stage9}"])
    with pytest.raises(ValueError, match=r"unfreeze.names: 'dense\*' matches no layer"):
        built(write_recipe, overrides=["train.unfreeze=[{epoch: 1, names: ['dense*']}]"])
    path = write_recipe("both.yaml", RECIPE.replace("model:\n", "model:\n  init_from: {run: abc, path: m.keras}\n"))
    assert main(["validate", str(path)]) == 2
    assert "model.init_from: expected exactly one of run, experiment, path" in capsys.readouterr().err


def test_init_from_a_file_copies_by_name_and_checks_shapes(write_recipe, tmp_path):
    _, _, source, _ = built(write_recipe, overrides=["seed=7"])
    save_model(source, tmp_path / "source.keras")
    _, _, model, done = built(write_recipe, overrides=[f"model.init_from={{path: '{tmp_path / 'source.keras'}'}}"])
    assert done["model.init_from.copied"] == "stem,bn,mid,head"  # every namesake with weights
    assert_same(weights(model, "head"), weights(source, "head"))
    # a new head (5 classes): without `layers:` it is skipped; named explicitly, it is an error
    file = tmp_path / "source.keras"
    assert built(write_recipe, overrides=[f"model.init_from={{path: '{file}'}}", "model.layers[5].units=5"]
                 )[3]["model.init_from.copied"] == "stem,bn,mid"
    with pytest.raises(ValueError, match=r"layer 'head' has weights \[\(4, 5\), \(5,\)\] here but "
                                         r"\[\(4, 3\), \(3,\)\]"):
        built(write_recipe, overrides=[f"model.init_from={{path: '{file}', layers: [head]}}",
                                       "model.layers[5].units=5"])


def test_a_saved_model_with_plugin_classes_reloads_in_a_fresh_process(tmp_path):
    from pipeline.components import build_spec
    from pipeline import registries

    from pipeline.data.preprocess_keras import Affine  # the pipeline's own class, not a plugin's

    inputs = keras.Input((8, 8, 3))
    x = Affine(param_shape=(3,))(inputs)  # the fitted preprocessing put in front of saved models
    x = build_spec(registries.layers, {"type": "vgg_stage", "filters": 2, "convs": 1})(x)
    x = build_spec(registries.layers, {"type": "residual_stage", "filters": 2, "blocks": 1})(x)
    model = keras.Model(inputs, x)
    save_model(model, tmp_path / "m.keras")
    code = ("import sys; from pipeline.saving import load_model; "
            "print(load_model(sys.argv[1]).count_params())")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.keras")], cwd=REPO, text=True,
                         capture_output=True, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == str(model.count_params())


def test_keras_application_never_downloads(tmp_path):
    from pipeline.components import build_spec
    from pipeline import registries

    with pytest.raises(ValueError, match="imagenet' would be downloaded"):
        build_spec(registries.layers, {"type": "keras_application", "weights": "imagenet"})
    with pytest.raises(FileNotFoundError, match="no weights file"):
        build_spec(registries.layers, {"type": "keras_application", "weights": str(tmp_path / "none.h5")})
