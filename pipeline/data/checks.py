"""Checks on the data a recipe names, before any training.

A file that cannot be read, a NaN feature, labels that are not classes, or a model that cannot
output the labels are recipe errors (`DataError`: exit 2, located at `data.source` or at the output
layer), never a FAILED run nor, worse, a run that "succeeds" on nonsense. The class-label checks
apply to classification only (a recipe's `task`, classification unless it says regression).
"""

from __future__ import annotations

import zipfile

import numpy as np

from pipeline.components import build
from pipeline.data.dataset import Dataset
from pipeline.data.rows import is_lazy, row_chunks
from pipeline.data.targets import for_task
from pipeline.errors import DataError, RecipeError, printable
from pipeline.recipe import locate

#: Losses that read one output unit as the probability of class 1 (a sigmoid output) for 2 classes.
SINGLE_UNIT_LOSSES = ("binary_crossentropy",)


def is_classification(recipe) -> bool:
    return recipe.task == "classification"


def load_source(loaded) -> Dataset:
    """Build the recipe's data source and check its arrays; what goes wrong is a RecipeError located
    at the recipe's `data.source` (or the argument at fault)."""
    try:
        data = for_task(build(loaded.plan.source), loaded.plan.recipe.task)  # class ids, or float targets
        check_dataset(data, loaded.plan.recipe)
        return data
    except RecipeError as exc:
        raise RecipeError([locate(p, loaded.marks) for p in exc.problems]) from None
    except (OSError, ValueError, TypeError, KeyError, EOFError, MemoryError, zipfile.BadZipFile) as exc:
        reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else \
            f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.strerror else str(exc)
        problem = DataError(f"cannot read the data: {printable(reason, 300)}").problems[0]
        raise RecipeError([locate(problem, loaded.marks)]) from None


def _first(mask: np.ndarray, offset: int = 0) -> str:
    """'example 3, feature 5' for the first True of `mask` (example index + `offset`, then the feature's index)."""
    index = np.unravel_index(int(np.argmax(mask)), mask.shape)
    where = f"example {index[0] + offset}"
    if len(index) > 1:
        where += f", feature {index[1] if len(index) == 2 else tuple(int(i) for i in index[1:])}"
    return where


def _check_arrays(x: np.ndarray, y: np.ndarray, split: str, classification: bool) -> None:
    x = x if is_lazy(x) else np.asarray(x)
    y = np.asarray(y)
    if x.dtype.kind not in "biuf" or y.dtype.kind not in "biuf":
        raise DataError(f"{split}: expected numbers. Received: features of dtype {x.dtype}, labels of dtype {y.dtype}")
    if len(x) != len(y):
        raise DataError(f"{split}: expected as many labels as examples. Received: {len(x)} examples, "
                        f"{len(y)} labels")
    if len(x) == 0 or x.ndim < 2:
        raise DataError(f"{split}: expected one or more examples of one or more features. Received: "
                        f"features of shape {x.shape}")
    for what, array in (("features", x), ("labels", y)):
        # lazy rows whose base says its values are finite (decoded images) are not read for this
        if array.dtype.kind == "f" and not (is_lazy(array) and getattr(array.base, "finite", False)):
            _check_finite(array, split, what)
    labels = y.reshape(len(y)) if y.ndim == 2 and y.shape[1] == 1 else y
    if not classification or labels.ndim != 1:  # regression targets, masks, label rows
        return
    wrong = (labels < 0) | (labels != np.floor(labels)) if labels.dtype.kind == "f" else labels < 0
    if wrong.any():
        value = labels[int(np.argmax(wrong))]
        raise DataError(f"{split}: class labels must be whole numbers from 0 (one per class). Received: {value} at "
                        f"{_first(wrong)} (a regression target needs the recipe's task to be regression)")


def _check_finite(array, split: str, what: str) -> None:
    """No NaN or infinity, a bounded chunk at a time (lazy rows are read once, never held whole)."""
    found, first = 0, None
    for start, chunk in row_chunks(array):
        bad = ~np.isfinite(chunk)
        if bad.any():
            found += int(bad.sum())
            if first is None:
                index = np.unravel_index(int(np.argmax(bad)), bad.shape)
                first = chunk[index], _first(bad, start)
    if found:
        raise DataError(f"{split}: {what} hold {first[0]} at {first[1]} ({found} non-finite "
                        f"value{'s' if found > 1 else ''}); drop or impute them before training")


def check_dataset(data: Dataset, recipe) -> None:
    """Features and labels line up, are numbers, are finite; class labels are 0, 1, 2, ..."""
    classification = is_classification(recipe)
    _check_arrays(data.x, data.y, "training data", classification)
    if data.has_test:
        _check_arrays(data.x_test, data.y_test, "test data", classification)
        if np.shape(data.x_test)[1:] != np.shape(data.x)[1:]:
            raise DataError(f"test data: expected examples of the training data's shape {np.shape(data.x)[1:]}. "
                            f"Received: {np.shape(data.x_test)[1:]}")


def check_outputs(plan, splits, units: int) -> None:
    """The model's output units against the class labels: one unit per class (a single sigmoid unit
    for two classes with a binary loss). Raised at the output layer's line."""
    if not is_classification(plan.recipe):
        return
    labels = [np.asarray(y) for y in (splits.y_train, splits.y_val, splits.y_test) if len(y)]
    labels = [y.reshape(len(y)) if y.ndim == 2 and y.shape[1] == 1 else y for y in labels]
    if not labels or any(y.ndim != 1 for y in labels):
        return
    classes = int(max(y.max() for y in labels)) + 1
    output = next((lp for lp in plan.layers if lp.name == plan.outputs[0]), plan.layers[-1])
    path = output.path + (("units",) if "units" in output.layer.kwargs else ())
    if units == 1 and classes <= 2 and plan.loss.entry.name in SINGLE_UNIT_LOSSES:
        return
    if units == 1:
        raise DataError(f"expected one output unit per class: {classes} (labels 0 to {classes - 1}); a single unit "
                        f"fits only two classes with loss {' or '.join(SINGLE_UNIT_LOSSES)}. Received: 1", path)
    if units < classes:
        raise DataError(f"expected one output unit per class: {classes} (labels 0 to {classes - 1}). "
                        f"Received: {units}", path)
