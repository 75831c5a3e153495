"""Targets by task: float values from every source under `task: regression` (never classes, never
stratified, plain k-fold), several target columns, string labels for classification, target scaling."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import KFold

from pipeline.data.dataset import Dataset
from pipeline.data.split import kfold_indices, split_dataset
from pipeline.data.targets import TargetScaling, for_task
from pipeline.errors import RecipeError
from pipeline.recipe import load_recipe
from pipeline.assemble import prepare_data

RECIPE = """\
seed: 3
task: regression
data:
  source: {source}
  split: {{val: 0.2, test: 0.2}}
model:
  layers: [{{type: dense, units: 1}}]
train: {{epochs: 1, loss: mse}}
"""


def prepared(write_recipe, source: str, overrides=()):
    return prepare_data(load_recipe(write_recipe("r.yaml", RECIPE.format(source=source)), overrides))


@pytest.fixture
def diabetes_csv(tmp_path):
    """scikit-learn's diabetes data as a new user writes it: integer targets 25-346 in the last column."""
    from sklearn.datasets import load_diabetes

    raw = load_diabetes()
    path = tmp_path / "diabetes.csv"
    rows = [",".join(raw.feature_names + ["target"])]
    rows += [",".join(f"{v:.6f}" for v in x) + f",{int(t)}" for x, t in zip(raw.data, raw.target)]
    path.write_text("\n".join(rows) + "\n")
    return path, raw.target


def test_integer_csv_targets_are_values_not_classes_and_the_split_is_not_stratified(write_recipe, diabetes_csv):
    path, target = diabetes_csv
    data, splits = prepared(write_recipe, f"{{type: csv, file: {path}, label_column: target}}")
    assert data.y.dtype == np.float32 and data.num_classes is None
    assert splits.y_train.dtype == np.float32 and splits.sizes() == {"train": 264, "val": 89, "test": 89}
    # every value kept as written (no class mapping) and nothing lost across the three splits
    np.testing.assert_array_equal(np.sort(np.concatenate([splits.y_train, splits.y_val, splits.y_test])),
                                  np.sort(target.astype(np.float32)))
    # stratify (true by default) is for class labels: the split is the plain one (a stratified split
    # is impossible here, most values occur once)
    plain = prepared(write_recipe, f"{{type: csv, file: {path}, label_column: target}}",
                     ["data.split.stratify=false"])[1]
    np.testing.assert_array_equal(plain.y_test, splits.y_test)


def test_string_targets_are_refused_for_a_regression_where_the_source_is_written(write_recipe, tmp_path):
    path = tmp_path / "pets.csv"
    path.write_text("w,species\n1,cat\n2,dog\n3,cat\n4,dog\n5,cat\n")
    with pytest.raises(RecipeError) as info:
        prepared(write_recipe, f"{{type: csv, file: {path}, label_column: species}}")
    (problem,) = info.value.problems
    assert problem.path == ("data", "source")
    assert "task: regression needs numeric targets, but the source gives class names (cat, dog)" in problem.message


def test_several_target_columns_from_a_csv(write_recipe, tmp_path):
    path = tmp_path / "t.csv"
    rows = ["a,y1,b,y2"] + [f"{i},{i * 0.5},{-i},{i * i}" for i in range(20)]
    path.write_text("\n".join(rows) + "\n")
    data, splits = prepared(write_recipe, f"{{type: csv, file: {path}, label_column: [y1, y2]}}")
    np.testing.assert_array_equal(data.x[:3], [[0, 0], [1, -1], [2, -2]])
    np.testing.assert_allclose(data.y[:3], [[0, 0], [0.5, 1], [1, 4]])
    assert splits.y_train.shape[1] == 2
    path.write_text("a,y1,y2\n1,2,x\n")
    with pytest.raises(ValueError, match=r"t.csv:2: expected numbers in every label column .* Received: 'x'"):
        prepared(write_recipe, f"{{type: csv, file: {path}, label_column: [y1, y2]}}")


def test_float_targets_from_npz_npy_generated_and_the_diabetes_source(write_recipe, tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)).astype(np.float32), np.arange(40, dtype=np.int64)  # integer-valued
    np.savez(tmp_path / "d.npz", x=x, y=y)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    for source in (f"{{type: npz, path: {tmp_path / 'd.npz'}}}",
                   f"{{type: npy, x_path: {tmp_path / 'x.npy'}, y_path: {tmp_path / 'y.npy'}}}",
                   "{type: synthetic, shape: [3], size: 40}", "{type: diabetes}"):
        data, splits = prepared(write_recipe, source)
        assert data.y.dtype == np.float32 and splits.y_test.dtype == np.float32, source
        assert data.num_classes is None


def test_regression_k_fold_is_plain_k_fold():
    y = np.linspace(0, 1, 30).astype(np.float32)
    expected = list(KFold(5, shuffle=True, random_state=7).split(np.zeros(30)))[2]
    for got, want in zip(kfold_indices(y, 5, 2, stratify=True, seed=7), expected):
        np.testing.assert_array_equal(got, want)
    # a k-fold split of the whole pipeline: float targets, folds of equal size, test set aside
    data = for_task(Dataset(np.zeros((30, 2), np.float32), np.arange(30)), "regression")
    splits = split_dataset(data, val=0.2, test=0.2, stratify=True, seed=7, kfold=3, fold=0)
    assert splits.y_train.dtype == np.float32 and len(splits.y_val) == 8 and len(splits.y_test) == 0


def test_string_labels_in_arrays_become_classes_for_classification():
    data = for_task(Dataset(np.zeros((4, 1)), np.array(["yes", "no", "no", "yes"]), np.zeros((2, 1)),
                            np.array(["no", "yes"])), "classification")
    np.testing.assert_array_equal(data.y, [1, 0, 0, 1])
    np.testing.assert_array_equal(data.y_test, [0, 1])
    assert data.num_classes == 2 and data.info["label_map"] == "no:0 yes:1"
    with pytest.raises(RecipeError, match=r"test labels \['maybe'\] are not among the training labels"):
        for_task(Dataset(np.zeros((2, 1)), np.array(["a", "b"]), np.zeros((1, 1)), np.array(["maybe"])),
                 "classification")
    integer = Dataset(np.zeros((2, 1)), np.array([0, 1]))
    assert for_task(integer, "classification") is integer


def test_target_scaling_statistics_and_round_trip():
    y = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]], dtype=np.float32)  # second target constant
    scaling = TargetScaling().fit(y)
    np.testing.assert_allclose(scaling.mean, [3, 10])
    np.testing.assert_allclose(scaling.std, [np.std([1, 3, 5]), 1.0])  # a constant target is only centred
    np.testing.assert_allclose(scaling.inverse(scaling.transform(y)), y, rtol=1e-6)
    one = TargetScaling().fit(np.array([2.0, 4.0]))
    np.testing.assert_allclose(one.transform(np.array([2.0, 4.0])), [-1, 1])
    assert one.params() == {"data.target_mean": "3", "data.target_std": "1"}
