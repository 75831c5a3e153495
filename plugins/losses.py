"""Loss functions. Custom ones (multi-class hinge, focal) live in `plugins/losses_keras.py`."""

from __future__ import annotations

from pipeline.lazy import LazyModule
from pipeline.registries import losses
from pipeline.tasks import for_task
from pipeline.values import NonNegativeFloat, PositiveFloat, Rate, UnitInterval

keras = LazyModule("keras")

classification, regression = for_task("classification"), for_task("regression")


@losses.register("sparse_categorical_crossentropy", aliases=("sparse_cross_entropy",))
@classification
def sparse_categorical_crossentropy(from_logits: bool = False):
    """Cross-entropy with integer class labels; from_logits=True applies a stable softmax itself."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)


@losses.register("categorical_crossentropy", aliases=("cross_entropy",))
@classification
def categorical_crossentropy(from_logits: bool = False, label_smoothing: Rate = 0.0):
    """Cross-entropy with one-hot labels, optionally smoothed."""
    return keras.losses.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)


@losses.register("binary_crossentropy")
@classification
def binary_crossentropy(from_logits: bool = False, label_smoothing: Rate = 0.0):
    """Cross-entropy for one or more independent yes/no labels."""
    return keras.losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)


@losses.register("mse", aliases=("mean_squared_error",))
@regression
def mse():
    """Mean squared error, for regression: the mean of (y - prediction)^2; punishes large errors most."""
    return keras.losses.MeanSquaredError()


@losses.register("mae", aliases=("mean_absolute_error",))
@regression
def mae():
    """Mean absolute error, for regression: the mean of |y - prediction|; robust to outlying targets."""
    return keras.losses.MeanAbsoluteError()


@losses.register("huber")
@regression
def huber(delta: PositiveFloat = 1.0):
    """Huber loss, for regression: squared error below delta, absolute error (times delta) above it."""
    return keras.losses.Huber(delta=delta)


@losses.register("log_cosh", aliases=("logcosh",))
@regression
def log_cosh():
    """Log-cosh loss, for regression: about x^2 / 2 for small errors and |x| - ln 2 for large ones; smooth."""
    return keras.losses.LogCosh()


@losses.register("hinge", aliases=("multiclass_hinge", "svm"))
@classification
def hinge(margin: NonNegativeFloat = 1.0):
    """Multi-class SVM loss on raw scores: sum over wrong classes of max(0, s_j - s_y + margin); integer labels."""
    from plugins.losses_keras import MulticlassHinge

    return MulticlassHinge(margin=margin)


@losses.register("focal", aliases=("focal_loss",))
@classification
def focal(gamma: NonNegativeFloat = 2.0, alpha: UnitInterval | list[NonNegativeFloat] | None = None,
          from_logits: bool = False):
    """Focal loss -(1 - p_t)^gamma log p_t: down-weights easy examples (class imbalance); gamma 0 is cross-entropy."""
    from plugins.losses_keras import FocalLoss

    return FocalLoss(gamma=gamma, alpha=alpha, from_logits=from_logits)
