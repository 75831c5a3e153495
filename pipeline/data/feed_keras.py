"""The training feed: batches of the in-memory training split, reshuffled every epoch, optionally
drawn class-balanced (oversampling) and mixed (mixup / CutMix / CowMask, soft labels).

Used by `model.fit` instead of the arrays when the recipe asks for `data.mix` or
`data.imbalance.oversample`; validation and test data never pass through it. A
`keras.utils.PyDataset` over NumPy arrays, so it needs no TensorFlow on any backend. Every random
choice comes from a generator seeded by (seed, epoch[, batch]): the same recipe gives the same
batches, whatever order Keras asks for them in.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from pipeline.data.imbalance import balanced_indices


def label_rows(y: np.ndarray, classes: int) -> np.ndarray:
    """Integer labels as float rows: one-hot (n, classes), or (n, 1) for one output unit (binary)."""
    if classes == 1:
        return y.reshape(-1, 1).astype(np.float32)
    return np.eye(classes, dtype=np.float32)[y]


class TrainingFeed(keras.utils.PyDataset):
    """Batches of (x, y) for one epoch of training.

    Args:
        x, y: the training split; y integer class ids when `classes` is given.
        batch_size: examples per batch (the last one may be smaller).
        classes: number of classes; labels are then one-hot float rows (needed by `mixer`).
        mixer: a `plugins.mixers.Mixer` (or any `f(x, y, rng) -> (x, y)`), applied per batch.
        oversample: draw each epoch class-balanced (see `balanced_indices`) instead of a permutation.
        seed: seed of every draw.
        shuffle: a new order every epoch (else the split's own order: validation).
        process_index, process_count: several processes train one model (`pipeline/processes.py`):
            each global batch of `batch_size` is cut into `process_count` equal contiguous parts
            and this process gets part `process_index`; every process draws the same order, so
            together they feed exactly the batches one process would. Incomplete last batches are
            dropped then (every device needs an equal share).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, *, classes: int | None = None,
                 mixer=None, oversample: bool = False, seed: int = 0, shuffle: bool = True,
                 process_index: int = 0, process_count: int = 1, drop_remainder: bool = False, **kwargs):
        super().__init__(**kwargs)
        if mixer is not None and classes is None:
            raise ValueError("Expected `classes` with a mixer: mixing needs one-hot labels.")
        if batch_size % process_count:
            raise ValueError(f"Expected a batch size divisible by the {process_count} processes. "
                             f"Received: batch_size={batch_size}")
        self.x, self.y = x, y
        self.batch_size, self.classes = batch_size, classes
        self.mixer, self.oversample, self.seed, self.shuffle = mixer, oversample, seed, shuffle
        self.process_index, self.process_count = process_index, process_count
        self.drop_remainder = drop_remainder or process_count > 1
        self.labels = y if classes is None else label_rows(y, classes)
        self.epoch = 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.y))
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.oversample:
            return balanced_indices(self.y, len(self.y), rng)
        return rng.permutation(len(self.y))

    def __len__(self) -> int:
        rounding = math.floor if self.drop_remainder else math.ceil
        return rounding(len(self.order) / self.batch_size)

    def __getitem__(self, index: int):
        picked = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        if self.process_count > 1:  # this process's part of the global batch
            part = len(picked) // self.process_count
            picked = picked[self.process_index * part:(self.process_index + 1) * part]
        x, y = self.x[picked], self.labels[picked]
        if self.mixer is not None:
            seed = [self.seed, self.epoch, index] + ([self.process_index] if self.process_count > 1 else [])
            x, y = self.mixer(x, y, np.random.default_rng(seed))
        return x, y

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()

    def get_state(self) -> dict:
        return {"epoch": self.epoch}

    def set_state(self, state: dict) -> None:
        """Continue at a saved epoch (a resumed run): the order depends on (seed, epoch) only."""
        self.epoch = int(state["epoch"])
        self.order = self._order()
