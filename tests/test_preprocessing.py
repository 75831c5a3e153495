"""Preprocessing: fitted on the training split only, identical in the pipeline and in the saved model."""

from __future__ import annotations

import keras
import mlflow
import numpy as np
import pytest

from pipeline import registries
from pipeline.cli import main
from pipeline.components import build_spec
from pipeline.data import Dataset
from pipeline.data.preprocess import fit_preprocessing
from pipeline.data.split import split_dataset
from pipeline.recipe import load_recipe
from pipeline.assemble import prepare_data
from tests.helpers import to_np

pytestmark = pytest.mark.usefixtures("backend_started")


def step(spec):
    return build_spec(registries.preprocessors, spec)


def images(n=120, seed=0):
    """RGB 'images' whose channels have very different means and spreads, with a trend over the
    examples so the training split's statistics differ from the whole data's."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4, 5, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, -2.0]
    x += np.linspace(0, 3, n)[:, None, None, None]
    return Dataset(x.astype(np.float32), (np.arange(n) % 2).astype(np.int32), num_classes=2)


def fitted(spec, data, seed=0):
    splits = split_dataset(data, val=0.2, test=0.2, stratify=True, seed=seed)
    raw_train = splits.x_train.copy()
    fit_preprocessing(splits, [step(spec)])
    return splits, raw_train


@pytest.mark.parametrize("spec, by_hand", [
    ({"type": "standardize", "per": "channel"},
     lambda x: (x.mean(axis=(0, 1, 2)), 1 / x.std(axis=(0, 1, 2)))),
    ({"type": "standardize"}, lambda x: (x.mean(axis=0), 1 / x.std(axis=0))),
    ({"type": "mean_subtraction"}, lambda x: (x.mean(axis=0), np.ones(x.shape[1:]))),  # the mean image
    ({"type": "mean_subtraction", "per": "channel"}, lambda x: (x.mean(axis=(0, 1, 2)), np.ones(3))),
    ({"type": "min_max", "per": "channel", "low": -1.0, "high": 1.0},
     lambda x: (x.min(axis=(0, 1, 2)) + (x.max(axis=(0, 1, 2)) - x.min(axis=(0, 1, 2))) / 2,
                2 / (x.max(axis=(0, 1, 2)) - x.min(axis=(0, 1, 2))))),
])
def test_statistics_are_the_training_splits_computed_by_hand(spec, by_hand):
    data = images()
    splits, raw_train = fitted(spec, data)
    pre = splits.preprocessors[0]
    shift, scale = by_hand(raw_train.astype(np.float64))
    np.testing.assert_allclose(pre.shift, shift, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pre.scale, scale, rtol=1e-5)
    whole_shift, _ = by_hand(data.x.astype(np.float64))
    assert np.abs(pre.shift - whole_shift).max() > 0.05  # not the whole data's statistics
    np.testing.assert_allclose(splits.x_train, (raw_train - shift) * scale, rtol=1e-4, atol=1e-4)


def test_min_max_maps_the_training_range_exactly():
    splits, _ = fitted({"type": "min_max"}, images())
    assert splits.x_train.min(axis=0) == pytest.approx(0.0, abs=1e-6)
    assert splits.x_train.max(axis=0) == pytest.approx(1.0, abs=1e-6)


def test_pca_whitening_gives_identity_covariance_on_the_training_split():
    rng = np.random.default_rng(1)
    mixing = rng.normal(size=(6, 6))
    data = Dataset((rng.normal(size=(300, 6)) * [5, 3, 2, 1, 0.5, 0.01] @ mixing).astype(np.float32),
                   np.zeros(300, np.int32))
    splits, raw_train = fitted({"type": "pca", "whiten": True}, data)
    np.testing.assert_allclose(np.cov(splits.x_train.T), np.eye(6), atol=1e-3)
    assert np.abs(np.cov(splits.x_val.T) - np.eye(6)).max() > 0.05  # fitted on training data only
    # a variance fraction keeps the fewest components reaching it; an int keeps that many
    kept = fitted({"type": "pca", "n_components": 0.99}, data)[0].x_train.shape[1]
    ratios = np.cumsum(np.linalg.eigvalsh(np.cov(raw_train.T))[::-1]) / np.trace(np.cov(raw_train.T))
    assert kept == int(np.searchsorted(ratios, 0.99) + 1) < 6
    assert fitted({"type": "pca", "n_components": 2}, data)[0].x_val.shape == (60, 2)


def test_constant_training_feature_is_centred_not_blown_up():
    x = np.random.default_rng(0).uniform(size=(50, 3)).astype(np.float32)
    x[:, 1] = 0.0
    pre = step("standardize").fit(x)
    assert pre.transform(np.float32([[0.5, 1.0, 0.5]]))[0, 1] == pytest.approx(1.0)


@pytest.mark.parametrize("spec", [
    {"type": "standardize", "per": "channel"}, {"type": "standardize", "per": "global"},
    {"type": "mean_subtraction"}, {"type": "min_max"}, {"type": "pca", "n_components": 7, "whiten": True},
])
def test_keras_layer_applies_the_numpy_transform_and_survives_saving(spec, tmp_path):
    data = images()
    pre = step(spec).fit(data.x[:80])
    layer = pre.layer()
    inputs = keras.Input(data.x.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    expected = pre.transform(data.x[80:])
    np.testing.assert_allclose(to_np(model(data.x[80:])), expected, rtol=1e-5, atol=1e-4)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(to_np(reloaded(data.x[80:])), expected, rtol=1e-5, atol=1e-4)


class Spy:
    """A preprocessor that records every array it is fitted on or applied to."""

    fitted_on: list = []
    applied_to: list = []

    def fit(self, x):
        Spy.fitted_on.append(x.copy())
        return self

    def transform(self, x):
        Spy.applied_to.append(x.copy())
        return x


def test_preprocessing_never_sees_validation_or_test_data(write_recipe, tmp_path):
    n = 200
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "rows.npz", x=np.arange(n, dtype=np.float32)[:, None], y=rng.integers(0, 2, n))
    registries.preprocessors.register("spy")(lambda: Spy())
    Spy.fitted_on, Spy.applied_to = [], []
    recipe = write_recipe("spy.yaml", f"""
data:
  source: {{type: npz, path: {tmp_path / 'rows.npz'}}}
  split: {{val: 0.2, test: 0.3}}
  preprocess: [spy]
model: {{layers: [{{type: dense, units: 2}}]}}
train: {{epochs: 1, loss: sparse_categorical_crossentropy}}
""")
    _, splits = prepare_data(load_recipe(recipe))
    train, val, test = (set(a[:, 0].astype(int).tolist()) for a in (splits.x_train, splits.x_val, splits.x_test))
    assert len(Spy.fitted_on) == 1
    seen = set(Spy.fitted_on[0][:, 0].astype(int).tolist())
    assert seen == train and not seen & (val | test) and len(train) + len(val) + len(test) == n
    # then applied to every split alike
    assert [len(a) for a in Spy.applied_to] == [len(train), len(val), len(test)] == [99, 41, 60]


RAW_RECIPE = """\
seed: 5
data:
  source: {type: digits}
  split: {val: 0.15, test: 0.2}
  preprocess: [{type: standardize}, {type: pca, n_components: 0.9, whiten: true}]
model:
  layers: [{type: dense, units: 32, activation: relu}, {type: dense, units: 10}]
train:
  epochs: 2
  verbose: 0
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
track: {experiment: raw}
"""


@pytest.mark.slow
def test_saved_model_takes_raw_inputs_and_reproduces_the_runs_test_numbers(tracking_uri, write_recipe, capsys):
    recipe = write_recipe("raw.yaml", RAW_RECIPE)
    assert main(["run", str(recipe)]) == 0
    mlflow.set_tracking_uri(tracking_uri)
    [run] = mlflow.search_runs(experiment_names=["raw"], output_format="list")
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "preprocess")}
    assert artifacts == {"preprocess/0-standardize.npz", "preprocess/1-pca.npz"}
    stats = np.load(mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                                        artifact_path="preprocess/1-pca.npz"))
    path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="model/model.keras")
    model = keras.saving.load_model(path)
    assert model.input_shape == (None, 8, 8, 1)  # raw digits in
    assert model.layers[-1].input_shape[-1] == stats["matrix"].shape[1]  # the trained net reads PCA features

    # the raw test split, as the run made it, through the saved model: the run's test numbers
    loaded = load_recipe(recipe)
    _, splits = prepare_data(loaded)
    raw = split_dataset(build_spec(registries.datasets, "digits"), val=0.15, test=0.2, stratify=True, seed=5)
    inner = model.layers[-1]
    np.testing.assert_allclose(to_np(model(raw.x_test)), to_np(inner(splits.x_test)), rtol=1e-4, atol=1e-4)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    scores = model.evaluate(raw.x_test, raw.y_test, verbose=0, return_dict=True)
    assert scores["accuracy"] == pytest.approx(run.data.metrics["test_accuracy"], abs=1e-6)
    assert scores["loss"] == pytest.approx(run.data.metrics["test_loss"], rel=1e-4)


def test_show_builds_the_model_on_the_preprocessed_shape(capsys):
    from tests.conftest import RECIPES

    assert main(["show", str(RECIPES / "digits-pca-whitening.yaml")]) == 0
    out = capsys.readouterr().out
    k = prepare_data(load_recipe(RECIPES / "digits-pca-whitening.yaml"))[1].x_train.shape[1]
    assert f"(None, {k})" in out and k < 64  # the PCA features, not the 8x8 pixels


def test_a_step_without_a_layer_leaves_the_saved_model_on_preprocessed_inputs(capsys):
    from pipeline.data.preprocess_keras import with_preprocessing

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert with_preprocessing(model, [Spy()], (3,)) is model
    assert "have no layer()" in capsys.readouterr().err
    wrapped = with_preprocessing(model, [step("min_max").fit(np.float32([[0, 0, 0], [2, 4, 8]]))], (3,))
    np.testing.assert_allclose(to_np(wrapped(np.float32([[1, 2, 4]]))), to_np(model(np.float32([[0.5, 0.5, 0.5]]))),
                               rtol=1e-6)
