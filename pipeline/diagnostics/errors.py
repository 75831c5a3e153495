"""The error of a trained model on a split (the quantity the bias/variance table reads): the
classification error, or for regression the loss (in the original targets' units) and R²."""

from __future__ import annotations

import numpy as np

from pipeline.data.batches import keras_inputs


def classification_error(y_true: np.ndarray, y_pred: np.ndarray, from_logits: bool = True) -> float | None:
    """Fraction misclassified; None when the labels are not class labels (regression).

    Integer labels against C scores (argmax), one-hot labels (argmax of both), or 0/1 labels against one
    score (threshold 0 for logits, 0.5 for probabilities).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_pred.ndim == 2 and y_pred.shape[-1] == 1:
        y_pred = y_pred[:, 0]
    if y_pred.ndim == 1:  # one score: binary
        labels = y_true.reshape(-1)
        if not np.isin(labels, (0, 1)).all():
            return None
        predicted = y_pred > (0.0 if from_logits else 0.5)
        return float(np.mean(predicted != labels.astype(bool)))
    if y_true.ndim == 1 and np.issubdtype(y_true.dtype, np.integer):
        return float(np.mean(np.argmax(y_pred, axis=-1) != y_true))
    if y_true.shape == y_pred.shape and y_true.ndim == 2 and np.isin(y_true, (0, 1)).all() \
            and np.allclose(y_true.sum(-1), 1):
        return float(np.mean(np.argmax(y_pred, axis=-1) != np.argmax(y_true, axis=-1)))
    return None


def model_error(model, x, y, batch_size: int, from_logits: bool = True) -> float | None:
    pred = model.predict(**keras_inputs(x, None, batch_size), verbose=0)
    if isinstance(pred, (list, tuple, dict)):  # several outputs: no single error to read
        return None
    return classification_error(y, pred, from_logits)


def target_mean(y) -> np.ndarray:
    """The mean of each regression target over the examples: the prediction of a model that knows
    nothing but the training targets (the reference of the initial-loss check and the verdict)."""
    return np.asarray(y, dtype=np.float64).reshape(len(y), -1).mean(axis=0)


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """R² = 1 - SS_res / SS_tot per target, averaged over the targets (scikit-learn's uniform average)."""
    from sklearn.metrics import r2_score as sk_r2

    y_true = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    return float(sk_r2(y_true, np.asarray(y_pred, dtype=np.float64).reshape(y_true.shape)))


def regression_errors(model, x, y, loss_fn, batch_size: int, mean: np.ndarray) -> tuple[float, float, float]:
    """(loss, R², loss of predicting `mean`) of `model` on (x, y), the loss being `loss_fn` on the
    original targets (without weight penalties)."""
    pred = np.asarray(model.predict(**keras_inputs(x, None, batch_size), verbose=0))
    baseline = np.broadcast_to(np.asarray(mean, dtype=pred.dtype).reshape(1, -1), pred.shape)
    return float(loss_fn(y, pred)), r2_score(y, pred), float(loss_fn(y, baseline))
