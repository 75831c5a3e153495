"""Class imbalance in the training data: balanced class weights, class-balanced resampling, and a
long-tailed variant of a dataset for demonstrations. NumPy / scikit-learn only."""

from __future__ import annotations

import numpy as np


def class_weights(y: np.ndarray, spec) -> dict[int, float] | None:
    """`model.fit(class_weight=...)` from `data.imbalance.class_weight`.

    "balanced" is scikit-learn's n / (k * n_c): each class's weights sum to n / k, so every class
    contributes equally to the loss and the average weight per example stays 1 (the learning rate
    keeps its meaning). A mapping {class: weight} is used as written (missing classes weigh 1).
    """
    if spec is None:
        return None
    classes = np.unique(y)
    if spec == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        weights = compute_class_weight("balanced", classes=classes, y=y)
        return {int(c): float(w) for c, w in zip(classes, weights)}
    return {int(c): float(spec.get(int(c), 1.0)) for c in classes}


def balanced_indices(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` training indices, shuffled, with every class equally often (±1).

    The epoch keeps its length (so schedules and early stopping count epochs as before): a class
    with fewer examples than its quota is repeated whole as often as fits, the rest of its quota
    drawn without replacement (each rare example appears about equally often); a class with more
    is subsampled afresh every epoch, so over the epochs all of its examples are seen.
    """
    classes = np.unique(y)
    quotas = np.full(len(classes), size // len(classes))
    quotas[rng.permutation(len(classes))[: size % len(classes)]] += 1
    picked = []
    for c, quota in zip(classes, quotas):
        members = np.flatnonzero(y == c)
        repeats, rest = divmod(int(quota), len(members))
        picked += [np.tile(members, repeats), rng.choice(members, rest, replace=False)]
    return rng.permutation(np.concatenate(picked))


def long_tailed(y: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of a long-tailed subset: class rank r of k keeps n * ratio**(r / (k - 1)) examples,
    n = the smallest class count, so class 0 (ids sorted) keeps n and the last keeps ratio * n (the
    geometric profile of the long-tailed CIFAR benchmarks, Cao et al. 2019). Sorted indices."""
    if not 0 < ratio <= 1:
        raise ValueError(f"Expected 0 < ratio <= 1. Received: ratio={ratio}")
    classes = np.unique(y)
    n = min(np.sum(y == c) for c in classes)
    keep = []
    for rank, c in enumerate(classes):
        count = max(1, round(n * ratio ** (rank / max(len(classes) - 1, 1))))
        keep.append(rng.choice(np.flatnonzero(y == c), count, replace=False))
    return np.sort(np.concatenate(keep))
