"""Preprocessing fitted on the training split only, then applied to every split alike.

Each fitted step is also prepended to the saved model as a Keras layer (`pipeline.data.preprocess_keras`),
so `model.keras` takes raw inputs.
"""

from __future__ import annotations

from typing import Literal

from pipeline.data.preprocess import PCA, MeanSubtraction, MinMax, Standardize
from pipeline.registries import preprocessors
from pipeline.values import Fraction, PositiveFloat, PositiveInt

Per = Literal["feature", "channel", "global"]


@preprocessors.register("standardize")
def standardize(per: Per = "feature", epsilon: PositiveFloat = 1e-7):
    """Zero mean, unit variance from training statistics: per feature, per channel (images, ResNet-style) or one global pair."""
    return Standardize(per=per, epsilon=epsilon)


@preprocessors.register("mean_subtraction")
def mean_subtraction(per: Per = "feature"):
    """Subtract the training mean: the mean image (per feature, AlexNet), per channel (VGG) or one global value."""
    return MeanSubtraction(per=per)


@preprocessors.register("min_max")
def min_max(per: Per = "feature", low: float = 0.0, high: float = 1.0):
    """Map the training split's [min, max] to [low, high] (per feature, per channel or globally)."""
    return MinMax(per=per, low=low, high=high)


@preprocessors.register("pca")
def pca(n_components: PositiveInt | Fraction | None = None, whiten: bool = False):
    """Project flattened inputs on the training split's principal components (int: how many; float in (0, 1): variance kept); whiten: identity covariance."""
    return PCA(n_components=n_components, whiten=whiten)
