"""Train / validation / test splits. The test split is set aside here and read once, after training."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.data.dataset import Dataset
from pipeline.data.rows import take
from pipeline.errors import DataError

SPLIT = ("data", "split")


@dataclass
class Splits:
    """The three splits; features are arrays, or lazy rows (`pipeline.data.rows.Rows`) of a streamed
    or memory-mapped source, read a batch at a time by every consumer."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    #: fitted preprocessing steps (pipeline.data.preprocess), in order; set by `fit_preprocessing`
    preprocessors: list = field(default_factory=list)
    #: one raw example's shape and dtype, before preprocessing: what the saved model takes
    raw_shape: tuple = ()
    raw_dtype: str = "float32"
    #: regression targets' statistics when the recipe standardizes them (pipeline.data.targets)
    target_scaling: object | None = None

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.x_train), "val": len(self.x_val), "test": len(self.x_test)}


def _is_class_labels(y: np.ndarray) -> bool:
    return y.ndim == 1 and np.issubdtype(y.dtype, np.integer)


def _split(rows: np.ndarray, y: np.ndarray, fraction: float, stratify: bool, seed: int):
    """(kept, held out): `rows` (indices into `y`) cut as `train_test_split(x[rows], y[rows], ...)`
    cuts the examples: its choice depends on the count, the labels and the seed, never on `x`, so
    indices give the same membership as the arrays, with no copy of the features."""
    from sklearn.model_selection import train_test_split

    strata = y[rows] if stratify and _is_class_labels(y) else None
    try:
        return train_test_split(rows, test_size=fraction, random_state=seed, stratify=strata)
    except ValueError as exc:  # too few examples (of a class) for the fractions asked
        raise DataError(f"cannot split {len(y)} examples{' by class' if strata is not None else ''}: {exc}",
                        SPLIT) from None


def class_balance(y: np.ndarray) -> str:
    """'0:40 1:38 …' for class labels (what each split's `data.balance.*` param shows), else 'n/a'."""
    if not _is_class_labels(y):
        return "n/a"
    values, counts = np.unique(y, return_counts=True)
    return " ".join(f"{v}:{c}" for v, c in zip(values, counts))


def kfold_indices(y: np.ndarray, k: int, fold: int, stratify: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices of fold `fold` of `k`; stratified folds for class labels."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if not 0 <= fold < k:
        raise ValueError(f"Expected 0 <= fold < kfold. Received: fold={fold}, kfold={k}")
    splitter = (StratifiedKFold if stratify and _is_class_labels(y) else KFold)(
        n_splits=k, shuffle=True, random_state=seed)
    try:
        return list(splitter.split(np.zeros(len(y)), y))[fold]
    except ValueError as exc:
        raise DataError(f"cannot make {k} folds of {len(y)} examples: {exc}", SPLIT) from None


def split_dataset(data: Dataset, *, val: float, test: float, stratify: bool, seed: int,
                  kfold: int | None = None, fold: int | None = None) -> Splits:
    """Hold out `test` (only if the source has no test split of its own), then `val` of the rest.

    `val` and `test` are fractions of the whole training data the source gave. With `kfold`, the
    held-out fold `fold` is the validation split instead of `val`, and the test split (the same
    for every fold) comes back empty: cross-validation estimates, it never looks at the test set.
    """
    x, y = data.x, data.y
    rest = np.arange(len(y))

    def cut(train, val, test_rows=None):
        tests = (take(x, test_rows), y[test_rows]) if test_rows is not None else (data.x_test, data.y_test)
        return Splits(take(x, train), y[train], take(x, val), y[val], *tests)

    if kfold is not None:
        if fold is None:
            raise ValueError("A k-fold split needs the fold to hold out: run it with pipeline.kfold.run_kfold "
                             "(what `pipeline run` does), or set data.split.fold for a single fold")
        if not data.has_test:
            rest, _ = _split(rest, y, test, stratify, seed)
        train_idx, val_idx = kfold_indices(y[rest], kfold, fold, stratify, seed)
        return cut(rest[train_idx], rest[val_idx], rest[:0])
    if data.has_test:
        train, held = _split(rest, y, val, stratify, seed)
        return cut(train, held)
    rest, test_rows = _split(rest, y, test, stratify, seed)
    train, held = _split(rest, y, val / (1 - test), stratify, seed)
    return cut(train, held, test_rows)
