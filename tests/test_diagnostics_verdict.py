"""The bias/variance verdict (the course's table), the curve readings, and the report a run logs."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from pipeline.cli import main
from pipeline.diagnostics import curves
from pipeline.diagnostics.errors import classification_error
from pipeline.diagnostics.verdict import classify


@pytest.mark.parametrize("train, val, label", [
    (0.01, 0.11, "high variance"),
    (0.15, 0.16, "high bias"),
    (0.15, 0.30, "high bias, high variance"),
    (0.005, 0.01, "good fit"),
])
def test_the_courses_four_train_val_pairs(train, val, label):
    assert classify(train, val).label == label


def test_advice_follows_the_basic_recipe_bias_first():
    both = classify(0.15, 0.30).advice()
    assert both[0].startswith("(bias) bigger model") and any("(variance) more data" in a for a in both)
    assert [a.split(")")[0] for a in both].index("(variance") > 0  # bias advice comes first
    assert "regularization" in classify(0.01, 0.11).advice()[1]


def test_target_error_is_the_bayes_estimate():
    # 15% / 16% is high bias against a perfect target, a good fit when humans also err 14%
    assert classify(0.15, 0.16, target_error=0.14).label == "good fit"
    assert classify(0.15, 0.16, target_error=0.14).avoidable_bias == pytest.approx(0.01)


def test_classification_error_for_integer_one_hot_and_binary_labels():
    scores = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    assert classification_error(np.array([0, 1, 0, 1]), scores) == 0.5
    assert classification_error(np.eye(3)[[0, 1, 2, 2]], scores) == 0.25
    assert classification_error(np.array([1, 0, 1]), np.array([[0.3], [-2.0], [-0.1]])) == pytest.approx(1 / 3)
    assert classification_error(np.array([1, 0]), np.array([0.7, 0.6]), from_logits=False) == 0.5
    assert classification_error(np.array([0.3, 1.7]), np.array([0.2, 1.1])) is None  # regression


def test_flat_loss_but_rising_accuracy_is_flagged():
    h = {"loss": [1.000, 0.995, 0.990], "accuracy": [0.50, 0.55, 0.60]}
    assert "flat training loss" in curves.flat_loss_rising_accuracy(h)
    assert curves.flat_loss_rising_accuracy({"loss": [1.0, 0.7], "accuracy": [0.5, 0.6]}) is None


def test_val_loss_rising_while_accuracy_improves_is_flagged():
    h = {"val_loss": [1.0, 0.6, 0.65, 0.72], "val_accuracy": [0.6, 0.80, 0.81, 0.83]}
    found = curves.val_loss_rising_accuracy_improving(h)
    assert "rose 20.0% after epoch 2" in found and "0.800 -> 0.830" in found
    h["val_accuracy"] = [0.6, 0.80, 0.79, 0.78]  # plain overfitting: both get worse, not this warning
    assert curves.val_loss_rising_accuracy_improving(h) is None


@pytest.mark.parametrize("loss, health", [
    ([2.30, 2.299, 2.298, 2.297], "too low"),      # "tiny loss change -> too small a learning rate"
    ([2.3, 2.5, 3.1, 4.0], "too high"),            # diverging
    ([2.3, 1.2, 2.0, 1.1, 1.9, 1.0], "too high"),  # oscillating
    ([2.3, float("nan")], "too high"),
    ([2.3, 1.5, 1.1, 0.9, 0.8], "ok"),
])
def test_learning_rate_health_from_the_loss_curve(loss, health):
    assert curves.learning_rate_health({"loss": loss})[0] == health


@pytest.mark.slow
def test_a_run_logs_verdict_report_lr_plot_and_activation_statistics(write_recipe, tracking_uri, capsys):
    recipe = write_recipe("v.yaml", """
seed: 1
data: {source: {type: digits}, preprocess: [{type: standardize}]}
model:
  layers: [{type: flatten}, {type: dense, units: 16, activation: relu, name: h}, {type: dense, units: 10, name: out}]
train:
  epochs: 2
  optimizer: {type: adam, learning_rate: 0.01}
  schedule: {type: cosine}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  callbacks: [{type: activation_stats, every: 1}]
diagnostics: {target_error: 0.01}
track: {experiment: verdict}
""")
    assert main(["run", str(recipe)]) == 0
    out = capsys.readouterr().out
    mlflow.set_tracking_uri(tracking_uri)
    run, = mlflow.search_runs(experiment_names=["verdict"], output_format="list")
    m, tags = run.data.metrics, run.data.tags
    expected = classify(m["train_error"], m["val_error"], 0.01).label
    assert tags["diagnostics.verdict"] == expected and f"verdict: {expected}" in out
    assert 0 <= m["train_error"] < 0.2 and tags["diagnostics.lr_health"] in ("ok", "too low", "too high")
    report = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/diagnostics/report.txt")
    assert "== bias / variance ==" in report and "target 1.00%" in report
    assert "plots/learning_rate.png" in {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "plots")}
    # `pipeline report RUN_ID` prints it back from MLflow
    assert main(["report", run.info.run_id]) == 0
    printed = capsys.readouterr().out
    assert "FINISHED" in printed and f"{expected}: train error" in printed
    # activation statistics: the table at init and after each epoch, histograms, gradient and update ratios
    paths = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "diagnostics")}
    assert {"diagnostics/activations.csv", "diagnostics/activations.txt", "diagnostics/activations_epoch_000.png",
            "diagnostics/activations_epoch_002.png"} <= paths
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(
        mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/diagnostics/activations.csv"))))
    assert [(r["epoch"], r["layer"]) for r in rows] == [(e, n) for e in "012" for n in ("h", "out")]
    assert all(float(r["grad_norm"]) > 0 for r in rows) and rows[0]["kind"] == "relu"
    ratios = [float(r["update_ratio"]) for r in rows if r["epoch"] != "0"]
    assert all(1e-5 < q < 1 for q in ratios)  # one Adam step moves the weights by a small fraction
