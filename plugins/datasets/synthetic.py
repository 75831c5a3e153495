"""Random but fixed data of any shape, for throughput work (no download, no decoding)."""

from __future__ import annotations

from pipeline.data import Dataset, from_arguments
from pipeline.registries import datasets
from pipeline.values import NonNegativeInt, PositiveInt, Seed


@datasets.register("synthetic")
@from_arguments
def synthetic(shape: list[PositiveInt], classes: PositiveInt = 10, size: PositiveInt = 1000,
              test_size: NonNegativeInt = 0, seed: Seed = 0):
    """Standard-normal float32 inputs of `shape` and uniform integer labels; the same seed gives the same arrays; test_size > 0 adds its own test split.

    Args:
        shape: one example's shape, e.g. [32, 32, 3] (CIFAR-sized images, channels last).
        classes: labels are drawn uniformly from 0 .. classes-1.
        size: training examples (a validation split is still taken from them).
        test_size: examples of a separate test split; 0 lets the recipe's split take one.
    """
    import numpy as np

    if not shape or any(int(d) <= 0 for d in shape) or classes < 1 or size < 1 or test_size < 0:
        raise ValueError(f"Expected positive shape, classes and size, test_size >= 0. Received: shape={shape}, "
                         f"classes={classes}, size={size}, test_size={test_size}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((size + test_size, *map(int, shape)), dtype=np.float32)
    y = rng.integers(0, classes, size + test_size).astype(np.int32)
    test = (x[size:], y[size:]) if test_size else (None, None)
    return Dataset(x[:size], y[:size], *test, num_classes=classes, name="synthetic")
