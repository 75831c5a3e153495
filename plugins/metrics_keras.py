"""Keras metrics that accept what a recipe produces: integer labels and logits (classifiers), one
target of shape (batch,) (R² for regression).

Keras' `F1Score`, `Precision`, `Recall` and `AUC` expect one-hot labels (or binary labels) and
probabilities; these subclasses convert integer labels to one-hot and logits to probabilities, then
let Keras do the counting. Imported by the factories in `plugins/metrics.py` only.

Label convention (as the losses): integer class ids of shape (batch,) or (batch, 1), or one-hot
labels of the predictions' shape. A single output unit is a binary problem (labels 0/1, the
prediction the probability or logit of class 1).
"""

from __future__ import annotations

import keras
from keras import ops


def _one_hot_labels(y_true, y_pred):
    """(batch, C) float labels for C > 1 classes; (batch, 1) for a single output unit."""
    classes = y_pred.shape[-1]
    if classes == 1:
        return ops.cast(ops.reshape(y_true, (-1, 1)), y_pred.dtype)
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == classes:
        return ops.cast(y_true, y_pred.dtype)
    ids = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    return ops.one_hot(ids, classes, dtype=y_pred.dtype)


def _probabilities(y_pred, from_logits: bool):
    if not from_logits:
        return y_pred
    return ops.sigmoid(y_pred) if y_pred.shape[-1] == 1 else ops.softmax(y_pred, axis=-1)


@keras.saving.register_keras_serializable(package="pipeline")
class ClassAveragedScore(keras.metrics.FBetaScore):
    """Precision, recall or F1 from per-class counts of the predicted class (argmax), averaged.

    `average="macro"` (the default) is the unweighted mean over classes of the per-class score,
    as scikit-learn's `average="macro"`: every class counts the same however rare. `"weighted"`
    weights classes by their support, `"micro"` pools the counts (equal to accuracy for precision
    and recall when every example has one label). A class never predicted has precision 0. With
    one output unit the score is that of the positive class (threshold 0.5 on the probability).

    Args:
        score: "precision", "recall" or "f1".
        average: "macro", "weighted" or "micro".
        from_logits: whether the predictions are logits (matters for one output unit only; the
            argmax of several classes is the same for logits and probabilities).
    """

    def __init__(self, score: str = "f1", average: str = "macro", from_logits: bool = False,
                 name: str | None = None, dtype=None):
        if score not in ("precision", "recall", "f1"):
            raise ValueError(f"Expected score in ('precision', 'recall', 'f1'). Received: score={score!r}")
        super().__init__(average=average, beta=1.0, threshold=0.5, name=name or score, dtype=dtype)
        self.score = score
        self.from_logits = bool(from_logits)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        y_true = _one_hot_labels(ops.convert_to_tensor(y_true), y_pred)
        if y_pred.shape[-1] == 1:
            predicted = _probabilities(y_pred, self.from_logits)
        else:
            predicted = ops.one_hot(ops.argmax(y_pred, axis=-1), y_pred.shape[-1], dtype=self.dtype)
        if sample_weight is not None:
            sample_weight = ops.reshape(ops.convert_to_tensor(sample_weight, dtype=self.dtype), (-1,))
        super().update_state(y_true, predicted, sample_weight=sample_weight)

    def result(self):
        if self.score == "f1":
            return super().result()
        eps = keras.config.epsilon()
        tp = self.true_positives
        other = self.false_positives if self.score == "precision" else self.false_negatives
        per_class = ops.divide(tp, tp + other + eps)
        if self.average == "weighted":
            weights = ops.divide(self.intermediate_weights, ops.sum(self.intermediate_weights) + eps)
            return ops.sum(per_class * weights)
        return ops.mean(per_class)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "score": self.score, "average": self.average,
                "from_logits": self.from_logits}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="pipeline")
class OneVsRestAUC(keras.metrics.AUC):
    """Area under the ROC or precision-recall curve; several classes: one-vs-rest, macro-averaged.

    Each class in turn is the positive class, scored by its softmax probability (logits are
    turned into probabilities with a softmax across classes, not a per-class sigmoid, so the
    ranking matches scikit-learn's `roc_auc_score(multi_class="ovr")`); the per-class areas are
    averaged with equal weights. Keras approximates the curve with `num_thresholds` buckets.

    Args:
        curve: "ROC" or "PR".
        from_logits: whether the predictions are logits.
        num_thresholds: buckets of the probability axis. Defaults to 200.
    """

    def __init__(self, curve: str = "ROC", from_logits: bool = False, num_thresholds: int = 200,
                 name: str | None = None, dtype=None):
        super().__init__(num_thresholds=num_thresholds, curve=curve, multi_label=True,
                         from_logits=False, name=name or f"{curve.lower()}_auc", dtype=dtype)
        self.logits = bool(from_logits)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        y_true = _one_hot_labels(ops.convert_to_tensor(y_true), y_pred)
        if sample_weight is not None:  # one weight per example, for every class's column
            sample_weight = ops.reshape(ops.convert_to_tensor(sample_weight, dtype=self.dtype), (-1, 1))
        super().update_state(y_true, _probabilities(y_pred, self.logits), sample_weight=sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "curve": self.curve.value,
                "from_logits": self.logits, "num_thresholds": self.num_thresholds}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="pipeline")
class R2(keras.metrics.R2Score):
    """Keras' `R2Score` (streamed over the whole split: 1 - SS_res / SS_tot) for one target too.

    `R2Score` wants (batch, targets) on both sides; a single target arrives as (batch,) labels
    against (batch, 1) predictions, which Keras squeezes to rank 1. Both become (batch, 1) here.
    """

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.convert_to_tensor(y_true, dtype=self.dtype)
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        if len(y_pred.shape) == 1:
            y_pred = ops.expand_dims(y_pred, -1)
        if len(y_true.shape) == 1:
            y_true = ops.expand_dims(y_true, -1)
        super().update_state(y_true, y_pred, sample_weight=sample_weight)


@keras.saving.register_keras_serializable(package="pipeline")
class ConfusionMatrix(keras.metrics.Metric):
    """Counts of (true class, predicted class): rows are true classes, columns predicted ones.

    A streaming Keras metric whose `result()` is the (C, C) matrix (normalized by row, column or
    total if asked). The trainer leaves it out of `model.compile` (epoch logs hold numbers) and,
    after the test evaluation, calls `test_split_report(y_test, predictions)`, which returns the
    figure `plots/confusion_matrix.png` and the counts `confusion_matrix.json` to log.
    The predicted class is the argmax; with one output unit, class 1 when the probability > 0.5.

    Args:
        normalize: None (counts), "true" (rows sum to 1: per-class recall on the diagonal),
            "pred" (columns sum to 1: precision) or "all".
        from_logits: whether the predictions are logits (matters for one output unit only).
    """

    def __init__(self, normalize: str | None = None, from_logits: bool = False,
                 name: str = "confusion_matrix", dtype=None):
        if normalize not in (None, "true", "pred", "all"):
            raise ValueError(f"Expected normalize in (None, 'true', 'pred', 'all'). Received: normalize={normalize!r}")
        super().__init__(name=name, dtype=dtype)
        self.normalize = normalize
        self.from_logits = bool(from_logits)
        self.counts = None

    def _build(self, classes: int) -> None:
        self.counts = self.add_variable(shape=(classes, classes), initializer="zeros", name="counts")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        if len(y_pred.shape) == 1:
            y_pred = ops.expand_dims(y_pred, -1)
        truth = _one_hot_labels(ops.convert_to_tensor(y_true), y_pred)
        if y_pred.shape[-1] == 1:  # binary: two classes
            positive = ops.cast(_probabilities(y_pred, self.from_logits) > 0.5, self.dtype)
            predicted = ops.concatenate([1.0 - positive, positive], axis=-1)
            truth = ops.concatenate([1.0 - truth, truth], axis=-1)
        else:
            predicted = ops.one_hot(ops.argmax(y_pred, axis=-1), y_pred.shape[-1], dtype=self.dtype)
        if self.counts is None:
            self._build(predicted.shape[-1])
        if sample_weight is not None:
            truth = truth * ops.reshape(ops.convert_to_tensor(sample_weight, dtype=self.dtype), (-1, 1))
        self.counts.assign(self.counts + ops.matmul(ops.transpose(truth), predicted))

    def result(self):
        if self.counts is None:
            return ops.zeros((0, 0), dtype=self.dtype)
        counts = ops.convert_to_tensor(self.counts)
        if self.normalize is None:
            return counts
        total = {"true": ops.sum(counts, axis=1, keepdims=True), "pred": ops.sum(counts, axis=0, keepdims=True),
                 "all": ops.sum(counts)}[self.normalize]
        return counts / ops.maximum(total, 1.0)

    def reset_state(self):
        if self.counts is not None:
            self.counts.assign(ops.zeros(self.counts.shape, dtype=self.counts.dtype))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "normalize": self.normalize,
                "from_logits": self.from_logits}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def test_split_report(self, y_true, y_pred) -> dict:
        """{artifact path: matplotlib figure | JSON-able dict} from the test labels and predictions."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np

        self.reset_state()
        self.update_state(y_true, y_pred)
        matrix = np.asarray(ops.convert_to_numpy(self.result()))
        counts = np.rint(np.asarray(ops.convert_to_numpy(self.counts))).astype(np.int64)
        n = len(matrix)
        fig, ax = plt.subplots(figsize=(1.5 + 0.5 * n, 1.0 + 0.5 * n))
        image = ax.imshow(matrix, cmap="Blues")
        fig.colorbar(image, ax=ax)
        if n <= 30:
            for i in range(n):
                for j in range(n):
                    text = f"{matrix[i, j]:.2f}" if self.normalize else str(counts[i, j])
                    ax.text(j, i, text, ha="center", va="center", fontsize=8,
                            color="white" if matrix[i, j] > matrix.max() / 2 else "black")
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        title = "confusion matrix, test split"
        ax.set_title(title + (f" (normalized: {self.normalize})" if self.normalize else ""))
        fig.tight_layout()
        return {"plots/confusion_matrix.png": fig,
                "confusion_matrix.json": {"rows": "true class", "columns": "predicted class",
                                          "counts": counts.tolist(),
                                          **({"normalized": matrix.tolist(), "normalize": self.normalize}
                                             if self.normalize else {})}}
