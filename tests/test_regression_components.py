"""Regression losses and metrics against NumPy / scikit-learn, the target-scaling layer and loss, the
binary threshold metrics, and the two automatic test reports (regression, binary classification)."""

from __future__ import annotations

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn import metrics as skm

from pipeline import registries
from pipeline.model.binary import accuracy_for_logits
from pipeline.model.classification_report import ClassificationReport, probabilities
from pipeline.model.regression_report import RegressionReport
from pipeline.model.target_scaling_keras import StandardizedLoss, scaling_layer, standardized_loss, with_target_scaling
from pipeline.components import build_spec
from pipeline.data.targets import TargetScaling
from pipeline.errors import RecipeError
from tests.helpers import to_np

pytestmark = pytest.mark.usefixtures("backend_started")

RNG = np.random.default_rng(0)
Y = RNG.normal(150, 70, size=64).astype("float32")
PRED = (Y + RNG.normal(0, 40, size=64)).astype("float32")[:, None]  # (batch, 1), as a model outputs


def loss(spec) -> float:
    return float(to_np(build_spec(registries.losses, spec)(Y, PRED)))


def test_regression_losses_against_numpy():
    error = Y - PRED[:, 0]
    assert loss("mse") == pytest.approx(np.mean(error ** 2), rel=1e-5)
    assert loss("mae") == pytest.approx(np.mean(np.abs(error)), rel=1e-5)
    delta = 30.0
    huber = np.where(np.abs(error) <= delta, 0.5 * error ** 2, delta * (np.abs(error) - 0.5 * delta))
    assert loss({"type": "huber", "delta": delta}) == pytest.approx(np.mean(huber), rel=1e-5)
    small = (PRED[:, 0] - Y) / 50  # log cosh overflows float32 past ~89: compare on small errors
    value = float(to_np(build_spec(registries.losses, "log_cosh")(np.zeros(64, "float32"), small[:, None])))
    assert value == pytest.approx(np.mean(np.log(np.cosh(small))), rel=1e-5)
    with pytest.raises(RecipeError, match=r"delta: expected float \(> 0\). Received: 0.0"):
        build_spec(registries.losses, {"type": "huber", "delta": 0.0})  # refused by its signature's range


@pytest.mark.parametrize("targets", [1, 3])
def test_regression_metrics_against_scikit_learn_over_batches(targets):
    y = RNG.normal(size=(90, targets)).astype("float32") * [1.0, 5.0, 0.1][:targets]
    pred = (y + RNG.normal(scale=0.5, size=y.shape)).astype("float32")
    y_in = y[:, 0] if targets == 1 else y  # one target arrives as (batch,) against (batch, 1)
    expected = {"mae": skm.mean_absolute_error(y, pred), "mse": skm.mean_squared_error(y, pred),
                "rmse": np.sqrt(skm.mean_squared_error(y, pred)), "r2": skm.r2_score(y, pred)}
    for name, value in expected.items():
        metric = build_spec(registries.metrics, name)
        for start in range(0, 90, 32):  # streamed: the epoch's value is that of the whole split
            metric.update_state(y_in[start:start + 32], pred[start:start + 32])
        assert float(to_np(metric.result())) == pytest.approx(value, rel=1e-4), name


def test_r2_metric_round_trips_through_keras_serialization():
    metric = build_spec(registries.metrics, {"type": "r2", "class_aggregation": "variance_weighted_average"})
    again = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(again) is type(metric) and again.class_aggregation == "variance_weighted_average"


def test_standardized_loss_is_the_inner_loss_in_standardized_units_and_reloads():
    scaling = TargetScaling().fit(Y)
    inner = keras.losses.Huber(delta=1.0)
    wrapped = StandardizedLoss(inner, scaling.mean, scaling.std)
    expected = inner(scaling.transform(Y), scaling.transform(PRED))
    assert float(to_np(wrapped(Y, PRED))) == pytest.approx(float(to_np(expected)), rel=1e-5)
    weights = RNG.uniform(size=64).astype("float32")
    assert float(to_np(wrapped(Y, PRED, sample_weight=weights))) == pytest.approx(
        float(to_np(inner(scaling.transform(Y), scaling.transform(PRED), sample_weight=weights))), rel=1e-5)
    again = keras.losses.deserialize(keras.losses.serialize(wrapped))
    assert float(to_np(again(Y, PRED))) == pytest.approx(float(to_np(wrapped(Y, PRED))), rel=1e-6)


def test_the_model_maps_its_output_back_and_its_loss_standardizes():
    scaling = TargetScaling().fit(np.array([[100.0, -1.0], [300.0, 1.0]]))
    inputs = keras.Input((2,))
    model = with_target_scaling(keras.Model(inputs, keras.layers.Identity()(inputs)), scaling)
    z = np.array([[0.0, 0.0], [1.0, -2.0]], "float32")
    np.testing.assert_allclose(model.predict(z, verbose=0), [[200, 0], [300, -2]], rtol=1e-6)
    assert scaling_layer(model) is model.layers[-1] and not model.layers[-1].trainable_weights
    wrapped = standardized_loss(keras.losses.MeanSquaredError(), model)
    assert isinstance(wrapped, StandardizedLoss) and wrapped.mean == [200.0, 0.0] and wrapped.std == [100.0, 1.0]
    plain = keras.Model(inputs, keras.layers.Identity()(inputs))
    assert standardized_loss("mse", plain) == "mse" and with_target_scaling(plain, None) is plain


def test_accuracy_of_one_logit_output_thresholds_at_probability_one_half():
    inputs = keras.Input((3,))
    one = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    (metric,) = accuracy_for_logits(["accuracy"], one, from_logits=True)
    metric.update_state(np.array([1, 0, 1, 0]), np.array([[0.3], [-0.2], [-0.1], [0.4]]))  # logits
    assert metric.name == "accuracy" and float(to_np(metric.result())) == 0.5  # P > 0.5 <=> logit > 0
    assert accuracy_for_logits(["accuracy"], one, from_logits=False) == ["accuracy"]  # probabilities: Keras' 0.5
    many = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    assert accuracy_for_logits(["accuracy"], many, from_logits=True) == ["accuracy"]


def test_binary_report_numbers_against_scikit_learn():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    logits = np.array([[-2.0], [0.2], [-0.1], [0.9], [0.05], [-0.3], [2.0], [0.6]])  # in [0, 1] mostly
    p = 1 / (1 + np.exp(-logits[:, 0]))
    np.testing.assert_allclose(probabilities(logits[:3].clip(0, 1), from_logits=True)[:, 1],
                               1 / (1 + np.exp(-logits[:3, 0].clip(0, 1))))  # logits in [0, 1] are still logits
    m = ClassificationReport(from_logits=True).test_split_metrics(y, logits)
    predicted = (p > 0.5).astype(int)
    assert m["test_threshold_accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
    assert m["test_threshold_precision"] == pytest.approx(skm.precision_score(y, predicted))
    assert m["test_threshold_recall"] == pytest.approx(skm.recall_score(y, predicted))
    assert m["test_threshold_f1"] == pytest.approx(skm.f1_score(y, predicted))
    assert m["test_roc_auc_positive"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["test_pr_auc_positive"] == pytest.approx(skm.average_precision_score(y, p))
    assert "test_roc_auc_ovr" not in m and m["test_balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(y, predicted))
    artifacts = ClassificationReport(from_logits=True).test_split_report(y, logits)
    assert set(artifacts) == {"plots/roc_curves.png", "plots/pr_curves.png", "classification_report.json"}
    assert artifacts["plots/roc_curves.png"].axes[0].get_title() == "ROC class 1, test split"
    plt.close("all")


def test_regression_report_numbers_plots_and_per_target_metrics():
    y = RNG.normal(size=(40, 2)) * [10, 1]
    pred = y + RNG.normal(size=(40, 2))
    report = RegressionReport()
    m = report.test_split_metrics(y, pred)
    assert m["test_r2_target_0"] == pytest.approx(skm.r2_score(y[:, 0], pred[:, 0]))
    assert m["test_mae_target_1"] == pytest.approx(skm.mean_absolute_error(y[:, 1], pred[:, 1]))
    assert m["test_max_error"] == pytest.approx(np.mean(np.abs(y - pred).max(axis=0)))
    assert m["test_median_absolute_error"] == pytest.approx(np.mean(np.median(np.abs(y - pred), axis=0)))
    one = report.test_split_metrics(Y, PRED)
    assert set(one) == {"test_median_absolute_error", "test_max_error"}  # mae, rmse, r2: the recipe's metrics
    artifacts = report.test_split_report(Y, PRED)
    assert set(artifacts) == {"plots/predicted_vs_true.png", "plots/residuals.png", "regression_report.json"}
    assert artifacts["regression_report.json"]["overall"]["r2"] == pytest.approx(skm.r2_score(Y, PRED[:, 0]))
    assert artifacts["regression_report.json"]["examples"] == 64
    plt.close("all")
