"""MNIST-1D (Greydanus & Kobak), generated offline by the `mnist1d` package."""

from __future__ import annotations

from pipeline.data import Dataset, from_arguments
from pipeline.registries import datasets
from pipeline.values import Fraction, PositiveInt, Seed


@datasets.register("mnist1d")
@from_arguments
def mnist1d(num_samples: PositiveInt = 5000, train_split: Fraction = 0.8, seed: Seed = 42, channels_last: bool = True):
    """1-D digits, 40 steps, 10 classes (default: 4000 train / 1000 test), with its own test split."""
    import numpy as np
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, train_split, seed
    raw = make_dataset(args)

    def features(x):
        x = np.asarray(x, dtype=np.float32)
        return x[..., None] if channels_last else x

    return Dataset(features(raw["x"]), np.asarray(raw["y"], dtype=np.int32), features(raw["x_test"]),
                   np.asarray(raw["y_test"], dtype=np.int32), num_classes=10, name="mnist1d")
