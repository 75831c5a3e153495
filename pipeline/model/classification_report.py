"""The metrics that matter under class imbalance, computed once on the test split of every classifier.

Accuracy hides a rare class the model never predicts; per-class recall, its minimum, balanced
accuracy (= macro recall) and the one-vs-rest areas under the ROC and precision-recall curves do
not. This report is added automatically when the test labels are integer class ids, through the
same end-of-run mechanism as `confusion_matrix` (`pipeline.model.training.test_reports`), and
computed exactly with scikit-learn (Keras' AUC metrics bucket the thresholds). It logs the summary
numbers as metrics, `test_min_class_recall`, `test_balanced_accuracy`, `test_roc_auc_ovr`,
`test_pr_auc_ovr`, the curves as `plots/roc_curves.png` and `plots/pr_curves.png`, and the
per-class numbers (support, recall, precision, F1, ROC-AUC, PR-AUC) as one table,
`classification_report.json` (MLflow's table artifact: one row per class, not ten metric charts).

A binary model (one output unit: P(class 1), or its logit) gets the positive class's numbers
instead of the one-vs-rest averages: `test_roc_auc_positive`, `test_pr_auc_positive` (average
precision) and the threshold metrics at P = 0.5, `test_threshold_accuracy`, `_precision`,
`_recall` and `_f1`; its curves mark the point the threshold picks.
"""

from __future__ import annotations

import numpy as np


def is_class_labels(y) -> bool:
    y = np.asarray(y)
    return y.ndim == 1 and np.issubdtype(y.dtype, np.integer)


#: the probability above which a binary model predicts class 1
THRESHOLD = 0.5


def automatic_reports(y_test, from_logits: bool | None = None) -> list:
    """The reports every run of this kind gets without asking: this one, for classifiers.
    `from_logits`: whether the model outputs logits (None: tell from the values)."""
    return [ClassificationReport(from_logits)] if is_class_labels(y_test) else []


def probabilities(y_pred: np.ndarray, from_logits: bool | None = None) -> np.ndarray:
    """(n, C) class probabilities from the model's outputs. `from_logits` None: kept when they
    already are some (rows of non-negative numbers summing to 1), else a softmax of the scores; one
    output unit is read as P(class 1) (a sigmoid when outside [0, 1], or when `from_logits`)."""
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_pred.ndim == 1 or y_pred.shape[-1] == 1:
        p = y_pred.reshape(-1)
        if from_logits or (from_logits is None and (p.min() < 0 or p.max() > 1)):
            p = 1 / (1 + np.exp(-p))
        return np.stack([1 - p, p], axis=-1)
    if from_logits is False or (from_logits is None and y_pred.min() >= 0
                                and np.allclose(y_pred.sum(axis=-1), 1, atol=1e-3)):
        return y_pred
    z = np.exp(y_pred - y_pred.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def is_binary(y_pred) -> bool:
    """One output unit: a binary model."""
    y_pred = np.asarray(y_pred)
    return y_pred.ndim == 1 or y_pred.shape[-1] == 1


def threshold_metrics(y_true, p_positive) -> dict[str, float]:
    """Accuracy, and the positive class's precision, recall and F1, predicting class 1 when P > 0.5."""
    from sklearn import metrics as skm

    predicted = (np.asarray(p_positive) > THRESHOLD).astype(int)
    y_true = np.asarray(y_true).reshape(-1)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y_true, predicted, average="binary",
                                                                   zero_division=0)
    return {"test_threshold_accuracy": float(skm.accuracy_score(y_true, predicted)),
            "test_threshold_precision": float(precision), "test_threshold_recall": float(recall),
            "test_threshold_f1": float(f1)}


class ClassificationReport:
    """Per-class recall and one-vs-rest ROC-AUC / PR-AUC (average precision) on the test split; for a
    binary model the positive class's areas and the metrics at the 0.5 threshold.

    Args:
        from_logits: whether the model outputs logits (None: tell from the values).
    """

    def __init__(self, from_logits: bool | None = None):
        self.from_logits = from_logits

    def numbers(self, y_true, y_pred) -> dict:
        from sklearn import metrics as skm

        y_true = np.asarray(y_true).reshape(-1)
        probs = probabilities(y_pred, self.from_logits)
        classes = np.arange(probs.shape[-1])
        precision, recall, f1, _ = skm.precision_recall_fscore_support(y_true, probs.argmax(axis=-1), labels=classes,
                                                                       average=None, zero_division=0)
        present = [c for c in classes if 0 < np.sum(y_true == c) < len(y_true)]  # curves need both kinds
        roc = {int(c): float(skm.roc_auc_score(y_true == c, probs[:, c])) for c in present}
        pr = {int(c): float(skm.average_precision_score(y_true == c, probs[:, c])) for c in present}
        support = {int(c): int(np.sum(y_true == c)) for c in classes}
        return {"recall": {int(c): float(r) for c, r in zip(classes, recall)},
                "precision": {int(c): float(p) for c, p in zip(classes, precision)},
                "f1": {int(c): float(f) for c, f in zip(classes, f1)}, "roc_auc": roc,
                "pr_auc": pr, "support": support, "probs": probs, "y_true": y_true, "present": present}

    def per_class(self, y_true, y_pred) -> dict[str, list]:
        """{column: values}, one row per class: support, recall, precision, F1, ROC-AUC, PR-AUC (the
        areas are None for a class the test split lacks)."""
        n = self.numbers(y_true, y_pred)
        classes = sorted(n["support"])
        return {"class": classes, **{key: [n[key].get(c) for c in classes]
                                     for key in ("support", "recall", "precision", "f1", "roc_auc", "pr_auc")}}

    def test_split_metrics(self, y_true, y_pred) -> dict[str, float]:
        n = self.numbers(y_true, y_pred)
        supported = [c for c, s in n["support"].items() if s > 0]
        recalls = [n["recall"][c] for c in supported]
        out = {"test_min_class_recall": float(min(recalls)), "test_balanced_accuracy": float(np.mean(recalls))}
        if is_binary(y_pred):
            out |= threshold_metrics(n["y_true"], n["probs"][:, 1])
            if 1 in n["present"]:
                out |= {"test_roc_auc_positive": n["roc_auc"][1], "test_pr_auc_positive": n["pr_auc"][1]}
        elif n["present"]:
            out |= {"test_roc_auc_ovr": float(np.mean(list(n["roc_auc"].values()))),
                    "test_pr_auc_ovr": float(np.mean(list(n["pr_auc"].values())))}
        return out

    def test_split_report(self, y_true, y_pred) -> dict:
        """{artifact path: matplotlib figure | table}: the ROC and PR curves, the per-class numbers."""
        import matplotlib
        import pandas as pd

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from sklearn import metrics as skm

        n = self.numbers(y_true, y_pred)
        probs, y = n["probs"], n["y_true"]
        binary = is_binary(y_pred)
        roc_fig, roc_ax = plt.subplots(figsize=(5, 4.5))
        pr_fig, pr_ax = plt.subplots(figsize=(5, 4.5))
        for c in [c for c in n["present"] if c == 1 or not binary]:  # binary: the positive class's curves
            fpr, tpr, _ = skm.roc_curve(y == c, probs[:, c])
            roc_ax.plot(fpr, tpr, lw=1, label=f"{c} (AUC {n['roc_auc'][c]:.2f}, n={n['support'][c]})")
            precision, recall, _ = skm.precision_recall_curve(y == c, probs[:, c])
            pr_ax.plot(recall, precision, lw=1, label=f"{c} (AP {n['pr_auc'][c]:.2f}, n={n['support'][c]})")
        if binary and 1 in n["present"]:  # where the 0.5 threshold puts the model on each curve
            at = threshold_metrics(y, probs[:, 1])
            fpr_at = float(np.mean(probs[y == 0, 1] > THRESHOLD)) if np.any(y == 0) else 0.0
            roc_ax.plot([fpr_at], [at["test_threshold_recall"]], "o", color="tab:red", label=f"P > {THRESHOLD}")
            pr_ax.plot([at["test_threshold_recall"]], [at["test_threshold_precision"]], "o", color="tab:red",
                       label=f"P > {THRESHOLD}")
        kind = "class 1" if binary else "one-vs-rest"
        roc_ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        roc_ax.set(xlabel="false positive rate", ylabel="true positive rate (recall)",
                   title=f"ROC {kind}, test split")
        pr_ax.set(xlabel="recall", ylabel="precision", title=f"precision-recall {kind}, test split")
        for ax in (roc_ax, pr_ax):
            if len(n["present"]) <= 20:
                ax.legend(fontsize=6, loc="lower right" if ax is roc_ax else "lower left")
        for fig in (roc_fig, pr_fig):
            fig.tight_layout()
        return {"plots/roc_curves.png": roc_fig, "plots/pr_curves.png": pr_fig,
                "classification_report.json": pd.DataFrame(self.per_class(y_true, y_pred))}
