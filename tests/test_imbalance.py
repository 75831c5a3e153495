"""Class imbalance: class weights, class-balanced epochs, long-tailed demo data, the test-split report."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.model.classification_report import ClassificationReport, automatic_reports, probabilities
from pipeline.data.imbalance import balanced_indices, class_weights, long_tailed
from pipeline.errors import RecipeError
from tests.conftest import MINIMAL_RECIPE


def test_balanced_class_weights_are_n_over_k_n_c():
    y = np.array([0] * 6 + [1] * 3 + [2] * 1)  # n = 10, k = 3
    assert class_weights(y, "balanced") == pytest.approx({0: 10 / (3 * 6), 1: 10 / (3 * 3), 2: 10 / (3 * 1)})
    weights = class_weights(y, "balanced")
    assert sum(weights[c] for c in y) == pytest.approx(len(y))  # the mean weight per example stays 1
    assert class_weights(y, {2: 4.0}) == {0: 1.0, 1: 1.0, 2: 4.0}
    assert class_weights(y, None) is None


def test_balanced_epoch_has_equal_class_counts_and_repeats_rare_examples_evenly():
    y = np.array([0] * 70 + [1] * 25 + [2] * 5)
    picked = balanced_indices(y, len(y), np.random.default_rng(0))
    assert len(picked) == 100
    counts = np.bincount(y[picked])
    assert counts.max() - counts.min() <= 1 and counts.sum() == 100
    rare = np.bincount(picked[y[picked] == 2], minlength=100)[95:]
    assert set(rare) <= {6, 7}  # 33 or 34 draws of 5 examples: each one 6 or 7 times
    common = picked[y[picked] == 0]
    assert len(set(common)) == len(common)  # the majority is subsampled, never repeated
    other = balanced_indices(y, len(y), np.random.default_rng(1))
    assert set(common) != set(other[y[other] == 0])  # a fresh subset each epoch


def test_oversampling_feed_balances_each_epoch_and_keeps_integer_labels():
    from pipeline.data.feed_keras import TrainingFeed

    y = np.array([0] * 45 + [1] * 12 + [2] * 3)
    x = np.arange(60, dtype="float32").reshape(60, 1)
    feed = TrainingFeed(x, y, 16, oversample=True, seed=0)
    for _ in range(2):
        labels = np.concatenate([feed[i][1] for i in range(len(feed))])
        assert len(feed) == 4 and labels.dtype == y.dtype
        assert np.bincount(labels).tolist() == [20, 20, 20]
        feed.on_epoch_end()


def test_long_tailed_subset_is_geometric():
    y = np.repeat(np.arange(5), 100)
    keep = long_tailed(y, 0.01, np.random.default_rng(0))
    # n * ratio ** (r / (k - 1)) = 100 * 0.01 ** (r / 4): 100, 31.6, 10, 3.16, 1
    assert np.bincount(y[keep]).tolist() == [100, 32, 10, 3, 1]
    assert len(set(keep)) == len(keep)


def test_long_tailed_touches_the_training_split_only(write_recipe):
    from pipeline.recipe import load_recipe
    from pipeline.assemble import prepare_data

    text = MINIMAL_RECIPE.replace("  split: {val: 0.2}", "  split: {val: 0.2}\n  imbalance_ratio: 0.1")
    text = text.replace("{type: mnist1d}", "{type: mnist1d, num_samples: 1000}")
    _, splits = prepare_data(load_recipe(write_recipe("lt.yaml", text)))
    train, val, test = (np.bincount(s) for s in (splits.y_train, splits.y_val, splits.y_test))
    assert train[0] / train[9] == pytest.approx(10, rel=0.15) and np.all(np.diff(train) <= 0)
    assert val.max() / val.min() < 2 and test.max() / test.min() < 3  # the generator's balance


@pytest.mark.parametrize("data, message", [
    ("  imbalance: {class_weight: balanced, oversample: true}", "class_weight and oversample both correct"),
    ("  imbalance_ratio: 1.5", "data.imbalance_ratio: input should be less than or equal to 1"),
    ("  imbalance: {class_weight: {0: -1}}", "data.imbalance.class_weight"),
])
def test_bad_imbalance_settings_are_recipe_errors(write_recipe, data, message):
    from pipeline.recipe import load_recipe

    text = MINIMAL_RECIPE.replace("  split: {val: 0.2}", "  split: {val: 0.2}\n" + data)
    with pytest.raises(RecipeError, match=message):
        load_recipe(write_recipe("bad.yaml", text))


def test_class_weights_reach_the_loss_through_the_training_feed():
    """Zero weight for every class: no gradient, the weights stay; weight 1: they move."""
    import keras

    from pipeline.data.feed_keras import TrainingFeed
    from tests.helpers import to_np

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4, 1)).astype("float32"), np.arange(16) % 2
    moved = []
    for weight in (0.0, 1.0):
        inputs = keras.Input((4, 1))
        model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="categorical_crossentropy")
        before = [to_np(w).copy() for w in model.weights]
        feed = TrainingFeed(x, y, 8, classes=2, seed=0)
        model.fit(feed, class_weight={0: weight, 1: weight}, epochs=1, verbose=0)
        moved.append(any(not np.allclose(to_np(w), b) for w, b in zip(model.weights, before)))
    assert moved == [False, True]


def test_report_numbers_by_hand():
    y = np.array([0, 0, 0, 1, 1, 2])
    probs = np.array([[.8, .1, .1], [.6, .3, .1], [.2, .7, .1],   # class 0: 2 of 3 right
                      [.1, .8, .1], [.5, .4, .1],                    # class 1: 1 of 2 right
                      [.1, .2, .7]])                                 # class 2: 1 of 1
    m = ClassificationReport().test_split_metrics(y, probs)
    assert not any(k.startswith("test_recall_class") for k in m)  # per-class numbers: the table, not metrics
    table = ClassificationReport().per_class(y, probs)
    assert table["class"] == [0, 1, 2] and table["support"] == [3, 2, 1]
    assert table["recall"] == pytest.approx([2 / 3, 1 / 2, 1])
    assert table["precision"] == pytest.approx([2 / 3, 1 / 2, 1])  # predicted 0: rows 0, 1, 4
    assert m["test_min_class_recall"] == pytest.approx(1 / 2)
    assert m["test_balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    # ROC-AUC of class 2: its one positive outscores all 5 negatives -> 1. Class 1: positives
    # (.8, .4) vs negatives (.1, .3, .7, .2): .8 beats 4, .4 beats 3 -> 7/8. Class 0: positives
    # (.8, .6, .2) vs negatives (.1, .5, .1): 3 + 3 + 2 = 8 of 9.
    assert m["test_roc_auc_ovr"] == pytest.approx((8 / 9 + 7 / 8 + 1) / 3)
    # average precision of class 1: ranks .8 (+), .7 (-), .4 (+) -> (1/1 + 2/3) / 2
    artifacts = ClassificationReport().test_split_report(y, probs)
    per_class = artifacts["classification_report.json"]
    assert per_class["pr_auc"][1] == pytest.approx((1 + 2 / 3) / 2)
    assert set(artifacts) == {"plots/roc_curves.png", "plots/pr_curves.png", "classification_report.json"}
    assert all(hasattr(artifacts[p], "savefig") for p in ("plots/roc_curves.png", "plots/pr_curves.png"))


def test_logits_become_probabilities_and_only_class_labels_get_the_report():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 1.0]])
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities(logits), expected)
    np.testing.assert_allclose(probabilities(expected), expected)
    np.testing.assert_allclose(probabilities(np.array([[0.0], [2.0]]))[:, 1], [0.5, 1 / (1 + np.exp(-2))])
    assert len(automatic_reports(np.array([0, 1, 2]))) == 1
    assert automatic_reports(np.array([0.5, 1.2])) == []  # regression targets


RUN = """\
seed: 3
data:
  source: {type: mnist1d, num_samples: 600}
  split: {val: 0.2}
  imbalance_ratio: 0.2
  imbalance: {class_weight: balanced}
  mix: {type: cutmix}
model:
  layers:
    - {type: random_shift, max_shift: 2}
    - {type: conv1d, filters: 4, kernel_size: 3}
    - {type: flatten}
    - {type: dense, units: 10}
train:
  epochs: 2
  batch_size: 64
  loss: {type: focal, from_logits: true}
  metrics: [accuracy, {type: top_k_accuracy, k: 3}]
  verbose: 0
track: {experiment: imbalance, log_model: false}
"""


@pytest.mark.slow
def test_focal_class_weights_and_mixing_run_end_to_end(tracking_uri, write_recipe):
    import mlflow
    from mlflow import MlflowClient

    from pipeline.cli import main

    assert main(["run", str(write_recipe("run.yaml", RUN))]) == 0
    mlflow.set_tracking_uri(tracking_uri)
    (run,) = mlflow.search_runs(experiment_names=["imbalance"], output_format="list")
    metrics, params = run.data.metrics, run.data.params
    assert not any(m.startswith("test_recall_class") for m in metrics)  # one table instead of ten charts
    table = MlflowClient().load_table(run.info.experiment_id, "classification_report.json", run_ids=[run.info.run_id])
    assert list(table["class"]) == list(range(10)) and table["support"].sum() == int(params["data.size.test"])
    assert 0 <= metrics["test_min_class_recall"] <= metrics["test_balanced_accuracy"] <= 1
    assert {"test_roc_auc_ovr", "test_pr_auc_ovr", "test_top_3_accuracy", "val_accuracy"} <= set(metrics)
    counts = [int(c.split(":")[1]) for c in params["data.balance.train"].split()]
    weights = [float(w.split(":")[1]) for w in params["data.class_weight"].split()]
    assert counts[0] / counts[-1] == pytest.approx(5, rel=0.2)
    np.testing.assert_allclose(weights, sum(counts) / (10 * np.array(counts)), rtol=1e-2)
    plots = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert {"plots/roc_curves.png", "plots/pr_curves.png"} <= plots
