"""The two shipped recipes trained briefly end to end (regression with standardized targets, reloaded
from the saved model in original units; binary with one logit), and binary string labels with class
weights and oversampling."""

from __future__ import annotations

import importlib.util

import keras
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from pipeline.cli import main
from pipeline.recipe import load_recipe
from pipeline.assemble import prepare_data
from tests.conftest import REPO, RECIPES

BRIEF = ["--set", "train.epochs=3"]


def only_run(experiment: str):
    (run,) = mlflow.search_runs(experiment_names=[experiment], output_format="list")
    return run


def artifacts(run_id: str, folder: str = "") -> set[str]:
    return {a.path for a in MlflowClient().list_artifacts(run_id, folder)}


def baselines():
    """bench/tabular_baselines.py, the scikit-learn baselines on the recipes' own split."""
    spec = importlib.util.spec_from_file_location("tabular_baselines", REPO / "bench" / "tabular_baselines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_diabetes_regression_end_to_end_in_original_units(tracking_uri, tmp_path):
    recipe = RECIPES / "diabetes-regression.yaml"
    assert main(["run", str(recipe), *BRIEF]) == 0
    mlflow.set_tracking_uri(tracking_uri)
    run = only_run("diabetes")
    m, params, tags = run.data.metrics, run.data.params, run.data.tags
    assert {"test_mae", "test_rmse", "test_r2", "test_loss", "test_median_absolute_error", "test_max_error",
            "train_r2", "val_r2", "train_error", "val_error"} <= set(m)
    assert not any(k.startswith("data.balance") for k in params)  # no classes: no class balance
    assert float(params["data.target_mean"]) == pytest.approx(150, abs=15)
    assert {"plots/predicted_vs_true.png", "plots/residuals.png"} <= artifacts(run.info.run_id, "plots")
    assert "regression_report.json" in artifacts(run.info.run_id)
    assert tags["diagnostics.verdict"] in ("good fit", "high bias", "high variance", "high bias, high variance")
    # the saved model takes raw features and predicts in the target's units: its test MAE is the logged one
    import pipeline.data.preprocess_keras  # noqa: F401 (the saved model's own layers)

    path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="model/model.keras",
                                               dst_path=str(tmp_path))
    model = keras.saving.load_model(path)
    _, raw = prepare_data(load_recipe(recipe, ["data.preprocess=[]"]))  # the same split, features unscaled
    pred = model.predict(raw.x_test, verbose=0)[:, 0]
    assert np.mean(np.abs(pred - raw.y_test)) == pytest.approx(m["test_mae"], rel=1e-4)
    report = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/regression_report.json")
    assert report["overall"]["mae"] == pytest.approx(m["test_mae"], rel=1e-4)
    assert 80 < np.mean(pred) < 220  # original units (the targets run 25-346), not standardized ones
    # the run's MLflow model answers in the same units, from the same raw features
    from pipeline.tracking import pyfunc_model  # noqa: F401 (imports mlflow.pyfunc without MLflow's own warning)

    served = mlflow.pyfunc.load_model(run.data.tags["model.uri"]).predict(raw.x_test.astype("float32"))
    assert served.shape == (len(raw.y_test), 1)
    assert np.mean(np.abs(served[:, 0] - raw.y_test)) == pytest.approx(m["test_mae"], rel=1e-4)
    # the scikit-learn baseline reads the very same split
    name, score = baselines().baseline_score(load_recipe(recipe))
    assert name.startswith("Ridge") and 35 < score < 55


@pytest.mark.slow
def test_breast_cancer_binary_end_to_end(tracking_uri):
    recipe = RECIPES / "breast-cancer-binary.yaml"
    assert main(["run", str(recipe), *BRIEF]) == 0
    mlflow.set_tracking_uri(tracking_uri)
    run = only_run("breast-cancer")
    m = run.data.metrics
    assert {"test_accuracy", "test_precision", "test_recall", "test_f1", "test_roc_auc", "test_threshold_f1",
            "test_roc_auc_positive", "test_pr_auc_positive"} <= set(m)
    # Keras' accuracy on the logit thresholds at P = 0.5, like the report computed with scikit-learn
    assert m["test_accuracy"] == pytest.approx(m["test_threshold_accuracy"], abs=1e-6)
    assert m["test_recall"] == pytest.approx(m["test_threshold_recall"], abs=1e-6)
    assert m["test_roc_auc_positive"] > 0.8  # after 3 epochs (the full recipe: 0.99)
    assert {"plots/roc_curves.png", "plots/pr_curves.png"} <= artifacts(run.info.run_id, "plots")
    assert run.data.params["data.label_map"] == "benign:0 malignant:1"
    # the run's MLflow model reads the one logit as P(malignant) and answers with the class names
    from pipeline.tracking import pyfunc_model  # noqa: F401 (imports mlflow.pyfunc without MLflow's own warning)

    _, raw = prepare_data(load_recipe(recipe, ["data.preprocess=[]"]))
    out = mlflow.pyfunc.load_model(run.data.tags["model.uri"]).predict(raw.x_test)
    names = np.asarray(["benign", "malignant"])
    assert np.mean(out["label"].to_numpy() == names[raw.y_test]) == pytest.approx(m["test_accuracy"], abs=1e-6)
    name, score = baselines().baseline_score(load_recipe(recipe))
    assert name == "LogisticRegression" and score > 0.95


BINARY_CSV = """\
seed: 5
data:
  source: {{type: csv, file: {file}, label_column: answer}}
  split: {{val: 0.2, test: 0.2}}
  preprocess: [standardize]
  imbalance: {{class_weight: balanced}}
model:
  layers: [{{type: dense, units: 8, activation: relu}}, {{type: dense, units: 1}}]
train:
  epochs: 2
  loss: {{type: binary_crossentropy, from_logits: true}}
  metrics: [accuracy, {{type: recall, from_logits: true}}]
  verbose: 0
track: {{experiment: yes-no, log_model: false}}
"""


@pytest.mark.slow
def test_binary_string_labels_with_class_weights_then_oversampling(tracking_uri, write_recipe, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    answer = np.where(x[:, 0] + 0.3 * rng.normal(size=200) > 0.8, "yes", "no")  # about 1 yes in 5
    rows = ["a,b,c,answer"] + [f"{a:.4f},{b:.4f},{c:.4f},{s}" for (a, b, c), s in zip(x, answer)]
    (tmp_path / "qa.csv").write_text("\n".join(rows) + "\n")
    weighted = write_recipe("weighted.yaml", BINARY_CSV.format(file=tmp_path / "qa.csv"))
    assert main(["run", str(weighted)]) == 0
    # the variant: a child choosing oversampling turns the parent's class weights off
    oversampled = write_recipe("oversampled.yaml", "extends: weighted.yaml\ndata:\n  imbalance: {oversample: true}\n")
    assert main(["run", str(oversampled)]) == 0
    mlflow.set_tracking_uri(tracking_uri)
    runs = mlflow.search_runs(experiment_names=["yes-no"], order_by=["attributes.start_time"], output_format="list")
    first, second = runs
    assert first.data.params["data.label_map"] == "no:0 yes:1"
    counts = dict(c.split(":") for c in first.data.params["data.balance.train"].split())
    weights = dict(w.split(":") for w in first.data.params["data.class_weight"].split())
    assert float(weights["1"]) / float(weights["0"]) == pytest.approx(int(counts["0"]) / int(counts["1"]), rel=0.01)
    assert "data.class_weight" not in second.data.params
    assert second.data.params["data.imbalance.oversample"] == "True"
    for run in runs:
        assert run.info.status == "FINISHED" and "test_threshold_recall" in run.data.metrics
