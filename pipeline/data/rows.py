"""Lazy rows: a dataset's examples read when asked, for data that does not fit in memory.

A `Rows` is a base (an array, a memory-mapped array, or an image folder's files: anything with
`len`, `shape`, `dtype` and `read(indices) -> ndarray`), the indices of the rows it holds, and the
fitted preprocessing steps to apply when rows are read. Splitting takes index views (`take`, no
reading); indexing (`rows[3]`, `rows[:256]`, `rows[idx]`) reads those rows, as NumPy would, so code
that reads a probe batch or one example works unchanged. The whole of it is never turned into an
array by accident: `np.asarray(rows)` raises.
"""

from __future__ import annotations

import numpy as np

#: bytes of raw rows one chunk of a pass over the data holds (fingerprint, checks, statistics)
CHUNK_BYTES = 16 * 2**20


class Rows:
    """Rows `index` of `base`, with `transforms` (objects with `transform(batch)`) applied on read."""

    def __init__(self, base, index: np.ndarray | None = None, transforms: tuple = ()):
        self.base = base
        self.index = np.arange(len(base)) if index is None else np.asarray(index, dtype=np.int64)
        self.transforms = tuple(transforms)
        self._row = None  # (shape, dtype) of one row after the transforms, found by reading one

    def __len__(self) -> int:
        return len(self.index)

    def _row_spec(self):
        if not self.transforms:
            return tuple(self.base.shape[1:]), np.dtype(self.base.dtype)
        if self._row is None:
            one = Rows(self.base, self.index[:1] if len(self.index) else np.zeros(1, np.int64), self.transforms)
            row = one.read(np.arange(1))
            self._row = row.shape[1:], row.dtype
        return self._row

    @property
    def shape(self) -> tuple:
        return (len(self), *self._row_spec()[0])

    @property
    def dtype(self) -> np.dtype:
        return self._row_spec()[1]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def take(self, positions) -> "Rows":
        """The rows at `positions` (of this view) as another view: nothing is read."""
        return Rows(self.base, self.index[positions], self.transforms)

    def then(self, step) -> "Rows":
        """This view with one more fitted preprocessing step applied on read."""
        return Rows(self.base, self.index, (*self.transforms, step))

    def read(self, positions) -> np.ndarray:
        """The rows at `positions` of this view, read from the base and transformed."""
        picked = self.index[positions]
        if np.ndim(picked) == 0:
            return self.read(np.asarray([positions]))[0]
        batch = _read(self.base, picked)
        for step in self.transforms:
            batch = step.transform(batch)
        return batch

    def __getitem__(self, key) -> np.ndarray:
        return self.read(key)

    def chunks(self, rows: int | None = None):
        """(start, rows read) over the whole view, in order, `CHUNK_BYTES` of raw rows at a time."""
        if rows is None:
            row_bytes = max(1, int(np.prod(self.base.shape[1:], dtype=np.int64)) * np.dtype(self.base.dtype).itemsize)
            rows = max(1, CHUNK_BYTES // row_bytes)
        for start in range(0, len(self), rows):
            yield start, self.read(np.arange(start, min(start + rows, len(self))))

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"Lazy rows ({len(self)} examples of shape {self.shape[1:]}) are read in batches "
                        f"(rows[i:j], rows.read(indices)), never as one array.")

    def __repr__(self) -> str:
        return f"Rows({len(self)} of {type(self.base).__name__}, shape={self.shape}, transforms={len(self.transforms)})"


def _read(base, picked: np.ndarray) -> np.ndarray:
    if hasattr(base, "read"):
        return base.read(picked)
    # a (memory-mapped) array: gather in sorted order (sequential reads), then restore the order asked
    order = np.argsort(picked, kind="stable")
    out = np.empty((len(picked), *base.shape[1:]), dtype=base.dtype)
    out[order] = base[picked[order]]
    return out


def is_lazy(x) -> bool:
    return isinstance(x, Rows)


def take(x, positions):
    """x's rows at `positions`: an index view of lazy rows, a copy (NumPy indexing) of an array."""
    return x.take(positions) if is_lazy(x) else x[positions]


def row_chunks(x):
    """(start, chunk) over an array or lazy rows, a bounded number of bytes at a time."""
    if is_lazy(x):
        yield from x.chunks()
        return
    x = np.asarray(x)
    rows = max(1, CHUNK_BYTES // max(1, x[:1].nbytes)) if len(x) else 1
    for start in range(0, len(x), rows):
        yield start, x[start:start + rows]
