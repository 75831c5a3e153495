"""An in-memory dataset as a dataset source returns it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from pipeline.data.rows import row_chunks


def from_arguments(factory):
    """Marks a dataset source whose data are fixed by its arguments (generated, or shipped with a
    package; no file a user may edit): the recipe's hash then stands for its data, so the
    already-trained check (`pipeline/repeats.py`) need not build it to compare fingerprints."""
    factory.from_arguments = True
    return factory


@dataclass
class Dataset:
    """Features and labels; `x_test`/`y_test` when the source has its own test split (kept as test).
    Features are arrays, or lazy rows (`pipeline.data.rows.Rows`) read a batch at a time."""

    x: np.ndarray  # or Rows
    y: np.ndarray
    x_test: np.ndarray | None = None  # or Rows
    y_test: np.ndarray | None = None
    num_classes: int | None = None
    name: str = "dataset"
    #: Facts about the source logged as `data.<key>` params (e.g. skipped_files, label_map).
    info: dict[str, str] = field(default_factory=dict)
    #: A source's own hash of its inputs (e.g. of a folder's files); replaces the array hash.
    source_hash: str | None = None
    #: The names of the classes, in label order, when the source read names (strings, folders):
    #: such labels are classes, never regression targets.
    class_names: list[str] | None = None

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise ValueError(f"Expected as many labels as examples. Received: {len(self.x)} examples, "
                             f"{len(self.y)} labels")
        if (self.x_test is None) != (self.y_test is None):
            raise ValueError("Expected both x_test and y_test, or neither.")

    @property
    def has_test(self) -> bool:
        return self.x_test is not None

    def fingerprint(self) -> str:
        """Content hash of every array (or the source's own hash): the same data, the same id anywhere.
        Hashed a bounded chunk at a time (a memory-mapped array is read once, never held whole): the
        same bytes in the same order, so an array and its memory map get the same fingerprint."""
        if self.source_hash is not None:
            return self.source_hash[:16]
        digest = hashlib.sha256()
        for array in (self.x, self.y, self.x_test, self.y_test):
            if array is not None:
                digest.update(f"{np.dtype(array.dtype)}{tuple(array.shape)}".encode())
                for _, chunk in row_chunks(array):
                    digest.update(np.ascontiguousarray(chunk).tobytes())
        return digest.hexdigest()[:16]
