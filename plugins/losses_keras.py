"""Losses Keras does not have in the course's form: the multi-class SVM hinge and a sparse focal loss.

Imported by the factories in `plugins/losses.py` only. `keras.ops` only (every backend), and
`get_config` for saving. Labels are integer class ids, shape (batch,) or (batch, 1); one-hot labels
(same shape as the scores) are accepted too. A single output unit means a binary problem with
labels 0/1.
"""

from __future__ import annotations

import keras
from keras import ops


def _class_ids(y_true, y_pred):
    """Integer labels from integer (batch,) / (batch, 1) labels or one-hot (batch, C) labels."""
    classes = y_pred.shape[-1]
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == classes and classes != 1:
        return ops.argmax(y_true, axis=-1)
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    return ops.cast(y_true, "int32")


@keras.saving.register_keras_serializable(package="pipeline")
class MulticlassHinge(keras.losses.Loss):
    """The multi-class SVM loss: sum over wrong classes j of max(0, s_j - s_y + margin).

    Scores are raw (no softmax). This is the course's (Weston-Watkins) form, a *sum* over the
    wrong classes; Keras' `CategoricalHinge` takes the max instead. With one output unit it is the
    binary SVM hinge max(0, margin - y s) with y in {-1, +1} from labels 0/1.

    Args:
        margin: the required gap between the true class's score and every other. Defaults to 1.
    """

    def __init__(self, margin: float = 1.0, name: str = "multiclass_hinge",
                 reduction: str = "sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        labels = _class_ids(y_true, y_pred)
        if y_pred.shape[-1] == 1:
            sign = 2.0 * ops.cast(labels, y_pred.dtype) - 1.0
            return ops.relu(self.margin - sign * ops.squeeze(y_pred, axis=-1))
        truth = ops.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
        true_score = ops.sum(y_pred * truth, axis=-1, keepdims=True)
        return ops.sum(ops.relu(y_pred - true_score + self.margin) * (1.0 - truth), axis=-1)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


@keras.saving.register_keras_serializable(package="pipeline")
class FocalLoss(keras.losses.Loss):
    """Focal loss -alpha_t (1 - p_t)^gamma log p_t (Lin et al. 2017) with integer (or soft) class labels.

    p_t is the predicted probability of the true class (softmax over the classes; sigmoid with
    one output unit). gamma = 0 is cross-entropy; gamma > 0 shrinks the loss of examples already
    classified well (p_t near 1), so rare, hard examples are not drowned out by many easy ones.

    Args:
        gamma: focusing parameter (>= 0). Defaults to 2.
        alpha: class weighting. `None`: none. A number: with several classes a scale of the loss
            (as Keras' CategoricalFocalCrossentropy); with one output unit the weight of the
            positives, negatives getting 1 - alpha (Lin et al.'s 0.25). A list: one weight per class.
        from_logits: whether the predictions are logits (recommended: numerically stable).
    """

    def __init__(self, gamma: float = 2.0, alpha=None, from_logits: bool = False, name: str = "focal",
                 reduction: str = "sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.gamma = float(gamma)
        self.alpha = [float(a) for a in alpha] if isinstance(alpha, (list, tuple)) else \
            None if alpha is None else float(alpha)
        self.from_logits = bool(from_logits)

    def _log_probs_and_truth(self, y_true, y_pred):
        """(batch, C) log-probabilities and label rows (2 columns, negative then positive, with one
        output unit). Integer labels become one-hot rows; float rows of the scores' shape (soft
        labels, e.g. from mixup) are used as they are."""
        eps = keras.config.epsilon()
        if y_pred.shape[-1] == 1:
            z = ops.squeeze(y_pred, axis=-1)
            if self.from_logits:
                log_pos, log_neg = ops.log_sigmoid(z), ops.log_sigmoid(-z)
            else:
                z = ops.clip(z, eps, 1.0 - eps)
                log_pos, log_neg = ops.log(z), ops.log(1.0 - z)
            y = ops.cast(ops.reshape(y_true, ops.shape(z)), y_pred.dtype)
            return ops.stack([log_neg, log_pos], axis=-1), ops.stack([1.0 - y, y], axis=-1)
        if self.from_logits:
            log_probs = ops.log_softmax(y_pred, axis=-1)
        else:
            probs = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
            log_probs = ops.log(ops.clip(probs, eps, 1.0 - eps))
        if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == y_pred.shape[-1]:
            return log_probs, ops.cast(y_true, y_pred.dtype)
        return log_probs, ops.one_hot(_class_ids(y_true, y_pred), y_pred.shape[-1], dtype=y_pred.dtype)

    def call(self, y_true, y_pred):
        # -sum_c y_c alpha_c (1 - p_c)^gamma log p_c: with one-hot labels, the true class's term
        # alone (Lin et al.); with soft labels, each class's term weighted by its label share.
        log_probs, truth = self._log_probs_and_truth(y_true, y_pred)
        loss = -log_probs
        if self.gamma != 0:  # (1 - p)^0 = 1; skipping it also avoids 0 * inf gradients at p = 1
            # clamped away from 0 so that gamma < 1 gets no infinite gradient either
            modulator = ops.maximum(1.0 - ops.exp(log_probs), keras.config.epsilon())
            loss = ops.power(modulator, self.gamma) * loss
        if isinstance(self.alpha, list):
            truth = truth * ops.convert_to_tensor(self.alpha, dtype=loss.dtype)
        elif self.alpha is not None and y_pred.shape[-1] == 1:
            truth = truth * ops.convert_to_tensor([1.0 - self.alpha, self.alpha], dtype=loss.dtype)
        elif self.alpha is not None:
            truth = truth * self.alpha
        return ops.sum(truth * loss, axis=-1)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "alpha": self.alpha,
                "from_logits": self.from_logits}
