"""scikit-learn's handwritten digits, shipped with the package (no download)."""

from __future__ import annotations

from pipeline.data import Dataset, from_arguments
from pipeline.registries import datasets


@datasets.register("digits")
@from_arguments
def digits(scale: bool = True):
    """1797 8x8 grey images of digits 0-9, as (8, 8, 1) arrays scaled to [0, 1]; no test split of its own."""
    import numpy as np
    from sklearn.datasets import load_digits

    raw = load_digits()
    x = raw.images.astype(np.float32)[..., None]
    return Dataset(x / 16.0 if scale else x, raw.target.astype(np.int32), num_classes=10, name="digits")
