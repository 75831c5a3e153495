"""Honest splits: stratified, reproducible, balance of each split logged; k-fold cross-validation."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from pipeline.cli import main
from pipeline.data import Dataset
from pipeline.data.split import class_balance, kfold_indices, split_dataset
from pipeline.recipe import RecipeError, load_recipe


def imbalanced(n=403, seed=0):
    """Rows whose single feature is their own index (to trace them), labels 60% / 30% / 10%."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.6, 0.3, 0.1]).astype(np.int32)
    return Dataset(np.arange(n, dtype=np.float32)[:, None], y, num_classes=3)


def ids(x):
    return set(x[:, 0].astype(int).tolist())


def test_stratified_splits_keep_class_proportions_within_one_sample():
    data = imbalanced()
    splits = split_dataset(data, val=0.2, test=0.25, stratify=True, seed=7)
    overall = np.bincount(data.y) / len(data.y)
    for y in (splits.y_train, splits.y_val, splits.y_test):
        expected = overall * len(y)
        assert np.all(np.abs(np.bincount(y, minlength=3) - expected) <= 1), (np.bincount(y), expected)
    # the three splits partition the data
    parts = [ids(splits.x_train), ids(splits.x_val), ids(splits.x_test)]
    assert sum(map(len, parts)) == len(data.y) and set().union(*parts) == set(range(len(data.y)))
    assert (len(splits.y_test), len(splits.y_val)) == (101, 81)  # 25% and 20% of 403, rounded up


def test_unstratified_split_drifts_from_the_proportions():
    data = imbalanced()
    worst = max(np.abs(np.bincount(split_dataset(data, val=0.2, test=0.25, stratify=False, seed=s).y_val,
                                   minlength=3) - np.bincount(data.y) / len(data.y) * 81).max()
                for s in range(10))
    assert worst > 1  # what stratification prevents


def test_same_seed_same_split_other_seed_other_split():
    data = imbalanced()
    a, b = (split_dataset(data, val=0.2, test=0.25, stratify=True, seed=5) for _ in range(2))
    c = split_dataset(data, val=0.2, test=0.25, stratify=True, seed=6)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert ids(a.x_test) != ids(c.x_test)


def test_class_balance_text():
    assert class_balance(np.array([2, 0, 2, 2], np.int32)) == "0:1 2:3"
    assert class_balance(np.array([0.5, 1.5])) == "n/a"  # regression targets


def test_kfold_validation_folds_partition_the_data_and_are_stratified():
    y = imbalanced().y
    seen = []
    for fold in range(5):
        train, val = kfold_indices(y, 5, fold, stratify=True, seed=1)
        assert not set(train) & set(val) and len(train) + len(val) == len(y)
        counts, expected = np.bincount(y[val], minlength=3), np.bincount(y) / 5
        assert np.all(np.abs(counts - expected) <= 1)
        seen += list(val)
    assert sorted(seen) == list(range(len(y)))  # every example validated exactly once


def test_kfold_split_sets_the_test_split_aside_and_leaves_it_empty():
    data = imbalanced()
    held_out = ids(split_dataset(data, val=0.2, test=0.25, stratify=True, seed=4).x_test)
    folds = [split_dataset(data, val=0.2, test=0.25, stratify=True, seed=4, kfold=3, fold=f) for f in range(3)]
    for s in folds:
        assert len(s.x_test) == 0  # never evaluated during cross-validation
        assert not (ids(s.x_train) | ids(s.x_val)) & held_out  # and never trained or validated on
    assert set().union(*(ids(s.x_val) for s in folds)) == set(range(len(data.y))) - held_out
    with pytest.raises(ValueError, match="needs the fold"):
        split_dataset(data, val=0.2, test=0.25, stratify=True, seed=4, kfold=3)


def test_fold_must_be_below_kfold(write_recipe):
    from tests.conftest import MINIMAL_RECIPE

    recipe = write_recipe("r.yaml", MINIMAL_RECIPE)
    with pytest.raises(RecipeError, match=r"--set data.split=\{kfold: 3, fold: 3\} data.split: fold must be below kfold"):
        load_recipe(recipe, ["data.split={kfold: 3, fold: 3}"])
    with pytest.raises(RecipeError, match=r"data.split.kfold: input should be greater than or equal to 2"):
        load_recipe(recipe, ["data.split.kfold=1"])


KFOLD_RECIPE = """\
seed: 2
data:
  source: {type: digits}
  split: {kfold: 3, test: 0.2}
  preprocess: [{type: standardize}]
model:
  layers:
    - {type: flatten}
    - {type: dense, units: 10}
train:
  epochs: 1
  batch_size: 64
  verbose: 0
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
track: {experiment: cv, log_model: false}
"""


def test_kfold_run_makes_k_nested_runs_and_a_parent_with_mean_and_std(tracking_uri, write_recipe, capsys):
    recipe = write_recipe("cv.yaml", KFOLD_RECIPE)
    assert main(["run", str(recipe)]) == 0
    mlflow.set_tracking_uri(tracking_uri)
    runs = mlflow.search_runs(experiment_names=["cv"], output_format="list")
    [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    folds = sorted((r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id),
                   key=lambda r: int(r.data.params["data.split.fold"]))
    assert len(runs) == 4 and [r.data.params["data.split.fold"] for r in folds] == ["0", "1", "2"]
    assert all(r.info.status == "FINISHED" for r in runs)
    accuracies = [r.data.metrics["final_val_accuracy"] for r in folds]  # each fold's model on its fold
    # one epoch, no early stopping: the kept model is the last epoch's
    assert accuracies == pytest.approx([r.data.metrics["val_accuracy"] for r in folds], abs=1e-6)
    assert parent.data.metrics["cv_val_accuracy_mean"] == pytest.approx(np.mean(accuracies))
    assert parent.data.metrics["cv_val_accuracy_std"] == pytest.approx(np.std(accuracies))
    assert parent.data.tags["kfold"] == "3" and len(parent.data.tags["recipe.id"]) == 16
    # 1797 digits: 360 set aside as test, never read; 1437 cut in 3 folds of 479
    for r in folds:
        assert r.data.params["data.size.test"] == "0" and not any(m.startswith("test_") for m in r.data.metrics)
        assert r.data.params["data.size.val"] == "479" and r.data.params["data.size.train"] == "958"
        assert r.data.params["data.balance.val"].startswith("0:")  # each split's class balance logged
    out = capsys.readouterr().out
    assert f"cross-validation val_accuracy: {np.mean(accuracies):.4f} ± {np.std(accuracies):.4f} over 3 folds" in out
