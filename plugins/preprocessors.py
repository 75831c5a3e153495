"""Preprocessing fitted on the training split only, then applied to every split alike."""

from __future__ import annotations

from typing import Literal

from pipeline.data.preprocess import Standardize
from pipeline.registries import preprocessors


@preprocessors.register("standardize")
def standardize(per: Literal["feature", "global"] = "feature", epsilon: float = 1e-7):
    """Zero mean, unit variance, with statistics from the training split (per feature or one global pair)."""
    return Standardize(per=per, epsilon=epsilon)
