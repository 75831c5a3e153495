"""What a source's labels mean under the recipe's `task:`, and the optional standardization of
regression targets. NumPy only.

- classification: integer class ids, as the sources give them; string labels (an .npz or .npy of
  names) are mapped to ids in sorted order, like the CSV source does.
- regression: float32 values from every source, never class ids (so no stratified split, no class
  balance); labels a source read as names (CSV strings, image folders) are refused.
- `data.standardize_targets: true`: the training split's targets give a mean and standard deviation
  per target; the model is trained on (y - mean) / std and ends in a fixed layer that maps its
  output back (`pipeline.model.target_scaling_keras`), so predictions and metrics stay in the
  original units.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pipeline.data.dataset import Dataset
from pipeline.errors import Problem, RecipeError

SOURCE = ("data", "source")


def _is_text(y: np.ndarray | None) -> bool:
    return y is not None and y.dtype.kind in "USO"


def for_task(data: Dataset, task: str) -> Dataset:
    """`data` with labels as the task reads them (see the module docstring)."""
    if task == "regression":
        return _regression_targets(data)
    if not _is_text(data.y):
        return data
    names = sorted(set(data.y.tolist()))
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(data.y_test.tolist()) - set(index)) if data.y_test is not None else []
    if unknown:
        raise RecipeError([Problem(SOURCE, f"test labels {unknown[:5]} are not among the training labels "
                                           f"{names[:10]}")])

    def ids(y):
        return None if y is None else np.asarray([index[v] for v in y.tolist()], dtype=np.int32)

    return dataclasses.replace(data, y=ids(data.y), y_test=ids(data.y_test), num_classes=len(names),
                               class_names=names,
                               info={**data.info, "label_map": " ".join(f"{n}:{i}" for i, n in enumerate(names))})


def _regression_targets(data: Dataset) -> Dataset:
    if data.class_names or _is_text(data.y) or _is_text(data.y_test):
        shown = data.class_names or sorted(set(np.asarray(data.y).ravel().tolist()))
        raise RecipeError([Problem(SOURCE, (
            f"task: regression needs numeric targets, but the source gives class names "
            f"({', '.join(map(str, shown[:5]))}{', ...' if len(shown) > 5 else ''}). Expected a label column of "
            f"numbers, or task: classification"))])

    def values(y):
        return None if y is None else np.asarray(y, dtype=np.float32)

    return dataclasses.replace(data, y=values(data.y), y_test=values(data.y_test), num_classes=None)


class TargetScaling:
    """(y - mean) / std per target, with the training split's statistics (a constant target: std 1)."""

    def __init__(self, epsilon: float = 1e-7):
        self.epsilon = epsilon
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, y: np.ndarray) -> "TargetScaling":
        columns = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        std = columns.std(axis=0)
        self.mean = columns.mean(axis=0).astype(np.float32)
        self.std = np.where(std > self.epsilon, std, 1.0).astype(np.float32)
        return self

    def transform(self, y: np.ndarray) -> np.ndarray:
        return ((np.asarray(y, dtype=np.float32).reshape(len(y), -1) - self.mean) / self.std).reshape(np.shape(y))

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return (np.asarray(z, dtype=np.float32).reshape(len(z), -1) * self.std + self.mean).reshape(np.shape(z))

    def params(self) -> dict[str, str]:
        """What the run logs: `data.target_mean`, `data.target_std` (one number per target)."""
        return {"data.target_mean": " ".join(f"{v:.6g}" for v in self.mean),
                "data.target_std": " ".join(f"{v:.6g}" for v in self.std)}


def fit_target_scaling(splits, standardize: bool) -> None:
    """Fit `splits.target_scaling` on the training targets when the recipe asks; the splits keep their
    original targets (the model maps its output back, see the module docstring)."""
    splits.target_scaling = TargetScaling().fit(splits.y_train) if standardize else None
