"""Train / validation / test splits. The test split is set aside here and read once, after training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.data.dataset import Dataset


@dataclass
class Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.x_train), "val": len(self.x_val), "test": len(self.x_test)}


def _is_class_labels(y: np.ndarray) -> bool:
    return y.ndim == 1 and np.issubdtype(y.dtype, np.integer)


def _split(x, y, fraction: float, stratify: bool, seed: int):
    from sklearn.model_selection import train_test_split

    strata = y if stratify and _is_class_labels(y) else None
    return train_test_split(x, y, test_size=fraction, random_state=seed, stratify=strata)


def split_dataset(data: Dataset, *, val: float, test: float, stratify: bool, seed: int) -> Splits:
    """Hold out `test` (only if the source has no test split of its own), then `val` of the rest.

    `val` and `test` are fractions of the whole training data the source gave.
    """
    x, y = data.x, data.y
    if data.has_test:
        x_test, y_test = data.x_test, data.y_test
        x_train, x_val, y_train, y_val = _split(x, y, val, stratify, seed)
    else:
        x_rest, x_test, y_rest, y_test = _split(x, y, test, stratify, seed)
        x_train, x_val, y_train, y_val = _split(x_rest, y_rest, val / (1 - test), stratify, seed)
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test)
