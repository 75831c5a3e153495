"""The training feed: batches of the in-memory training split, reshuffled every epoch, optionally
drawn class-balanced (oversampling) and mixed (mixup / CutMix / CowMask, soft labels).

Used by `model.fit` instead of the arrays when the recipe asks for `data.mix` or
`data.imbalance.oversample`, and for every split held as lazy rows (`pipeline.data.rows`: a
streamed image folder, a memory-mapped array), where it also feeds validation, evaluation and
prediction (`shuffle=False`, labels optional). A `keras.utils.PyDataset` over NumPy arrays or lazy
rows, so it needs no TensorFlow on any backend. Every random choice comes from a generator seeded
by (seed, epoch[, batch]): the same recipe gives the same batches, whatever order Keras asks for
them in.

Several processes (multi-process data parallel, `pipeline/processes.py`): each global batch of
`batch_size` rows is cut into `process_count` contiguous equal parts, and process `process_index`
reads only its part; every process draws the same order, so together they feed exactly the batches
one process would. A last batch whose rows do not divide evenly is trimmed to a multiple of
`process_count` (at most `process_count - 1` rows left out of that epoch), or left out whole with
`drop_remainder` (data parallel: every device needs an equal share).

`prefetch` (lazy rows): while the model trains on batch i, a background thread reads batches
i+1..i+prefetch, keyed by (epoch, index), so decoding overlaps training; Keras must then ask for
the batches in order (`fit(shuffle=False)`: the rows are already shuffled here). A batch read
ahead for another epoch or index is never served. Keras's own worker threads are not used: see
`pipeline.data.batches`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

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
        shuffle: a new order every epoch (training); False reads the rows in order (evaluation).
        process_index, process_count: this process's part of each global batch (see the module).
        drop_remainder: only whole batches (data parallel).
        y: None for prediction (batches of x only).
        prefetch: batches read ahead in a background thread (see the module); 0: none.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray | None, batch_size: int, *, classes: int | None = None,
                 mixer=None, oversample: bool = False, seed: int = 0, shuffle: bool = True,
                 process_index: int = 0, process_count: int = 1, drop_remainder: bool = False, prefetch: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        if mixer is not None and classes is None:
            raise ValueError("Expected `classes` with a mixer: mixing needs one-hot labels.")
        if process_count < 1 or not 0 <= process_index < process_count or batch_size % process_count:
            raise ValueError(f"Expected 0 <= process_index < process_count and a batch_size that process_count "
                             f"divides. Received: process_index={process_index}, process_count={process_count}, "
                             f"batch_size={batch_size}")
        self.x, self.y = x, y
        self.batch_size, self.classes = batch_size, classes
        self.mixer, self.oversample, self.seed, self.shuffle = mixer, oversample, seed, shuffle
        self.process_index, self.process_count = process_index, process_count
        self.drop_remainder = drop_remainder
        self.labels = y if classes is None or y is None else label_rows(y, classes)
        self.epoch = 0
        self.order = self._order()
        self.prefetch, self._ahead, self._reader = prefetch, {}, None

    def _order(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.oversample:
            return balanced_indices(self.y, len(self.y), rng)
        return rng.permutation(len(self.x)) if self.shuffle else np.arange(len(self.x))

    def __len__(self) -> int:
        full, rest = divmod(len(self.order), self.batch_size)
        if self.drop_remainder:
            return full
        return full + (rest >= self.process_count)  # a last batch too small to share is left out

    def part(self, index: int, order: np.ndarray | None = None) -> np.ndarray:
        """The row indices of batch `index` (of `order`, default this epoch's) that this process reads."""
        order = self.order if order is None else order
        picked = order[index * self.batch_size:(index + 1) * self.batch_size]
        share = len(picked) // self.process_count
        return picked[self.process_index * share:(self.process_index + 1) * share]

    def _batch(self, index: int, epoch: int, order: np.ndarray):
        picked = self.part(index, order)
        x = self.x[picked]
        if self.labels is None:
            return x
        y = self.labels[picked]
        if self.mixer is not None:
            part = [self.process_index] if self.process_count > 1 else []  # each part mixed on its own
            x, y = self.mixer(x, y, np.random.default_rng([self.seed, epoch, index, *part]))
        return x, y

    def __getitem__(self, index: int):
        ahead = self._ahead.pop((self.epoch, index), None)
        batch = ahead.result() if ahead is not None else self._batch(index, self.epoch, self.order)
        if self.prefetch:
            if self._reader is None:
                self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feed-prefetch")
            for later in range(index + 1, min(index + 1 + self.prefetch, len(self))):
                if (self.epoch, later) not in self._ahead:
                    self._ahead[self.epoch, later] = self._reader.submit(self._batch, later, self.epoch, self.order)
            for key in [k for k in self._ahead if k[0] != self.epoch or k[1] <= index]:  # asked out of order
                self._ahead.pop(key).cancel()
        return batch

    def on_epoch_end(self) -> None:
        for ahead in self._ahead.values():
            ahead.cancel()
        self._ahead.clear()
        self.epoch += 1
        self.order = self._order()

    def get_state(self) -> dict:
        return {"epoch": self.epoch}

    def set_state(self, state: dict) -> None:
        """Continue at a saved epoch (a resumed run): the order depends on (seed, epoch) only."""
        self.epoch = int(state["epoch"])
        self.order = self._order()
        self._ahead.clear()
