"""A streaming image-folder feed for folders that do not fit in memory: a `keras.utils.PyDataset`.

Each batch is decoded from disk when Keras asks for it; `workers` threads prepare batches ahead
of training (Pillow releases the GIL while decoding, so threads run in parallel on every
backend, with no TensorFlow needed). Files that fail to decode are dropped from their batch and
listed in `skipped`.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from pipeline.data.image_folder import FolderListing, decode


class ImageFolderFeed(keras.utils.PyDataset):
    """Batches `(images, labels)` of `listing`, reshuffled every epoch when `shuffle`."""

    def __init__(self, listing: FolderListing, image_size: tuple[int, int], color: str = "rgb",
                 batch_size: int = 32, scale: bool = True, shuffle: bool = True, seed: int = 0,
                 indices: np.ndarray | None = None, workers: int = 2, max_queue_size: int = 10):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max_queue_size)
        self.listing, self.image_size, self.color = listing, tuple(image_size), color
        self.batch_size, self.scale, self.shuffle = batch_size, scale, shuffle
        self.indices = np.arange(len(listing.files)) if indices is None else np.asarray(indices)
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(self.indices) if shuffle else self.indices
        self.skipped: dict[str, str] = {}

    def __len__(self) -> int:
        return math.ceil(len(self.indices) / self.batch_size)

    def __getitem__(self, index: int):
        images, labels = [], []
        for i in self.order[index * self.batch_size:(index + 1) * self.batch_size]:
            file = self.listing.files[i]
            try:
                images.append(decode(file.read_bytes(), self.image_size, self.color))
            except Exception as exc:  # unreadable: left out of this batch, reported once
                self.skipped[str(file)] = f"{type(exc).__name__}: {exc}"
                continue
            labels.append(self.listing.labels[i])
        x = np.stack(images)
        return (x.astype(np.float32) / 255.0 if self.scale else x), np.asarray(labels, dtype=np.int32)

    def on_epoch_end(self):
        if self.shuffle:
            self.order = self.rng.permutation(self.indices)
