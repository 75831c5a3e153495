"""Preprocessing steps with `fit` (training split only) and `transform` (every split alike)."""

from __future__ import annotations

import numpy as np


class Standardize:
    """Zero mean, unit variance using training statistics; per feature or one global pair."""

    def __init__(self, per: str = "feature", epsilon: float = 1e-7):
        self.per, self.epsilon = per, epsilon
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> "Standardize":
        axis = 0 if self.per == "feature" else None
        self.mean = x.mean(axis=axis, dtype=np.float64).astype(np.float32)
        self.std = x.std(axis=axis, dtype=np.float64).astype(np.float32)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("Standardize.transform called before fit (fit on the training split).")
        return ((x - self.mean) / (self.std + self.epsilon)).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        """The fitted statistics, stored with the run so inference applies the same transform."""
        return {"mean": self.mean, "std": self.std}
