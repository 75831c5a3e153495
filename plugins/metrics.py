"""Metrics reported per epoch on the training and validation data, and once on the test split.

Each is marked for the task it serves (`pipeline.tasks.for_task`): regression metrics (mae, mse,
rmse, r2) read values in the targets' units, classification metrics read class labels.

Classification metrics take integer labels (what `sparse_categorical_crossentropy` trains on) and
logits or probabilities; `plugins/metrics_keras.py` adapts Keras' own metrics to that.
`confusion_matrix` is a Keras metric whose value is a matrix, so the trainer does not compile it
(per-epoch logs hold numbers): it is a report drawn once from the test split's predictions at the
end of the run (`test_split_report`, called by `pipeline.model.training.test_reports`).
"""

from __future__ import annotations

from typing import Literal

from pipeline.lazy import LazyModule
from pipeline.registries import metrics
from pipeline.tasks import for_task
from pipeline.values import PositiveInt

keras = LazyModule("keras")

classification, regression = for_task("classification"), for_task("regression")


@metrics.register("accuracy", aliases=("acc",))
@classification
def accuracy():
    """Fraction of correct predictions; Keras picks the sparse/categorical/binary form from the loss."""
    return "accuracy"


@metrics.register("mae", aliases=("mean_absolute_error",))
@regression
def mae():
    """Mean absolute error, for regression (in the targets' units)."""
    return keras.metrics.MeanAbsoluteError(name="mae")


@metrics.register("mse", aliases=("mean_squared_error",))
@regression
def mse():
    """Mean squared error, for regression (in the targets' units, squared)."""
    return keras.metrics.MeanSquaredError(name="mse")


@metrics.register("rmse", aliases=("root_mean_squared_error",))
@regression
def rmse():
    """Root mean squared error, for regression (in the targets' units), over the whole split."""
    return keras.metrics.RootMeanSquaredError(name="rmse")


@metrics.register("r2", aliases=("r2_score", "r_squared"))
@regression
def r2(class_aggregation: Literal["uniform_average", "variance_weighted_average"] = "uniform_average"):
    """Coefficient of determination R² = 1 - SS_res / SS_tot over the whole split, for regression; several targets: averaged."""
    from plugins.metrics_keras import R2

    return R2(class_aggregation=class_aggregation, name="r2")


@metrics.register("top_k_accuracy", aliases=("top_k",))
@classification
def top_k_accuracy(k: PositiveInt = 5):
    """Fraction of examples whose true class is among the k highest scores (integer labels; logits or probabilities)."""
    return keras.metrics.SparseTopKCategoricalAccuracy(k=k, name=f"top_{k}_accuracy")


def _class_score(score: str, average: str, from_logits: bool):
    from plugins.metrics_keras import ClassAveragedScore

    return ClassAveragedScore(score=score, average=average, from_logits=from_logits,
                              name=score if average == "macro" else f"{score}_{average}")


Average = Literal["macro", "weighted", "micro"]


@metrics.register("precision")
@classification
def precision(average: Average = "macro", from_logits: bool = False):
    """Of the examples predicted as a class, the fraction that are; macro-averaged over classes (integer labels)."""
    return _class_score("precision", average, from_logits)


@metrics.register("recall")
@classification
def recall(average: Average = "macro", from_logits: bool = False):
    """Of the examples of a class, the fraction predicted as it; macro-averaged over classes (integer labels)."""
    return _class_score("recall", average, from_logits)


@metrics.register("f1", aliases=("f1_score",))
@classification
def f1(average: Average = "macro", from_logits: bool = False):
    """Harmonic mean of precision and recall per class, macro-averaged (integer labels; logits or probabilities)."""
    return _class_score("f1", average, from_logits)


@metrics.register("roc_auc", aliases=("auc",))
@classification
def roc_auc(from_logits: bool = False, num_thresholds: PositiveInt = 200):
    """Area under the ROC curve; several classes: one-vs-rest on softmax probabilities, macro-averaged."""
    from plugins.metrics_keras import OneVsRestAUC

    return OneVsRestAUC(curve="ROC", from_logits=from_logits, num_thresholds=num_thresholds, name="roc_auc")


@metrics.register("pr_auc")
@classification
def pr_auc(from_logits: bool = False, num_thresholds: PositiveInt = 200):
    """Area under the precision-recall curve (informative under class imbalance); one-vs-rest, macro-averaged."""
    from plugins.metrics_keras import OneVsRestAUC

    return OneVsRestAUC(curve="PR", from_logits=from_logits, num_thresholds=num_thresholds, name="pr_auc")


@metrics.register("confusion_matrix")
@classification
def confusion_matrix(normalize: Literal["true", "pred", "all"] | None = None, from_logits: bool = False):
    """Confusion matrix on the test split, logged at the end of the run as plots/confusion_matrix.png."""
    from plugins.metrics_keras import ConfusionMatrix

    return ConfusionMatrix(normalize=normalize, from_logits=from_logits)
