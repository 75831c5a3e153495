"""The metrics that matter under class imbalance, computed once on the test split of every classifier.

Accuracy hides a rare class the model never predicts; per-class recall, its minimum, balanced
accuracy (= macro recall) and the one-vs-rest areas under the ROC and precision-recall curves do
not. This report is added automatically when the test labels are integer class ids, through the
same end-of-run mechanism as `confusion_matrix` (`pipeline.build.training.test_reports`), and
computed exactly with scikit-learn (Keras' AUC metrics bucket the thresholds). It logs metrics
`test_recall_class_<c>`, `test_min_class_recall`, `test_balanced_accuracy`, `test_roc_auc_ovr`,
`test_pr_auc_ovr`, the curves as `plots/roc_curves.png` and `plots/pr_curves.png`, and the
per-class numbers as `classification_report.json`.
"""

from __future__ import annotations

import numpy as np


def is_class_labels(y) -> bool:
    y = np.asarray(y)
    return y.ndim == 1 and np.issubdtype(y.dtype, np.integer)


def automatic_reports(y_test) -> list:
    """The reports every run of this kind gets without asking: this one, for classifiers."""
    return [ClassificationReport()] if is_class_labels(y_test) else []


def probabilities(y_pred: np.ndarray) -> np.ndarray:
    """(n, C) class probabilities from the model's outputs: kept when they already are some (rows
    of non-negative numbers summing to 1), else a softmax of the scores; one output unit is read as
    P(class 1) (a sigmoid when outside [0, 1])."""
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_pred.ndim == 1 or y_pred.shape[-1] == 1:
        p = y_pred.reshape(-1)
        if p.min() < 0 or p.max() > 1:
            p = 1 / (1 + np.exp(-p))
        return np.stack([1 - p, p], axis=-1)
    if y_pred.min() >= 0 and np.allclose(y_pred.sum(axis=-1), 1, atol=1e-3):
        return y_pred
    z = np.exp(y_pred - y_pred.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


class ClassificationReport:
    """Per-class recall and one-vs-rest ROC-AUC / PR-AUC (average precision) on the test split."""

    def numbers(self, y_true, y_pred) -> dict:
        from sklearn import metrics as skm

        y_true = np.asarray(y_true).reshape(-1)
        probs = probabilities(y_pred)
        classes = np.arange(probs.shape[-1])
        recall = skm.recall_score(y_true, probs.argmax(axis=-1), labels=classes, average=None, zero_division=0)
        present = [c for c in classes if 0 < np.sum(y_true == c) < len(y_true)]  # curves need both kinds
        roc = {int(c): float(skm.roc_auc_score(y_true == c, probs[:, c])) for c in present}
        pr = {int(c): float(skm.average_precision_score(y_true == c, probs[:, c])) for c in present}
        support = {int(c): int(np.sum(y_true == c)) for c in classes}
        return {"recall": {int(c): float(r) for c, r in zip(classes, recall)}, "roc_auc": roc,
                "pr_auc": pr, "support": support, "probs": probs, "y_true": y_true, "present": present}

    def test_split_metrics(self, y_true, y_pred) -> dict[str, float]:
        n = self.numbers(y_true, y_pred)
        supported = [c for c, s in n["support"].items() if s > 0]
        recalls = [n["recall"][c] for c in supported]
        out = {f"test_recall_class_{c}": r for c, r in n["recall"].items() if c in supported}
        out |= {"test_min_class_recall": float(min(recalls)), "test_balanced_accuracy": float(np.mean(recalls))}
        if n["present"]:
            out |= {"test_roc_auc_ovr": float(np.mean(list(n["roc_auc"].values()))),
                    "test_pr_auc_ovr": float(np.mean(list(n["pr_auc"].values())))}
        return out

    def test_split_report(self, y_true, y_pred) -> dict:
        """{artifact path: matplotlib figure | dict}: the ROC and PR curves, the per-class numbers."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from sklearn import metrics as skm

        n = self.numbers(y_true, y_pred)
        probs, y = n["probs"], n["y_true"]
        roc_fig, roc_ax = plt.subplots(figsize=(5, 4.5))
        pr_fig, pr_ax = plt.subplots(figsize=(5, 4.5))
        for c in n["present"]:
            fpr, tpr, _ = skm.roc_curve(y == c, probs[:, c])
            roc_ax.plot(fpr, tpr, lw=1, label=f"{c} (AUC {n['roc_auc'][c]:.2f}, n={n['support'][c]})")
            precision, recall, _ = skm.precision_recall_curve(y == c, probs[:, c])
            pr_ax.plot(recall, precision, lw=1, label=f"{c} (AP {n['pr_auc'][c]:.2f}, n={n['support'][c]})")
        roc_ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        roc_ax.set(xlabel="false positive rate", ylabel="true positive rate (recall)",
                   title="ROC one-vs-rest, test split")
        pr_ax.set(xlabel="recall", ylabel="precision", title="precision-recall one-vs-rest, test split")
        for ax in (roc_ax, pr_ax):
            if len(n["present"]) <= 20:
                ax.legend(fontsize=6, loc="lower right" if ax is roc_ax else "lower left")
        for fig in (roc_fig, pr_fig):
            fig.tight_layout()
        table = {key: n[key] for key in ("recall", "roc_auc", "pr_auc", "support")}
        return {"plots/roc_curves.png": roc_fig, "plots/pr_curves.png": pr_fig,
                "classification_report.json": {"per_class": table,
                                               "metrics": self.test_split_metrics(y_true, y_pred)}}
