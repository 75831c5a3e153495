"""Arrays from a NumPy `.npz` file or `.npy` files, read into memory or (`mmap: true`) memory-mapped:
the features then stay on disk as lazy rows (`pipeline.data.rows`), read a batch at a time; the
labels are read into memory."""

from __future__ import annotations

from pipeline.data import Dataset
from pipeline.data.rows import Rows
from pipeline.errors import SOURCE, DataError, did_you_mean
from pipeline.registries import datasets
from pipeline.values import DataFile


@datasets.register("npz")
def npz(path: DataFile, x_key: str = "x", y_key: str = "y", x_test_key: str = "x_test",
        y_test_key: str = "y_test", mmap: bool = False):
    """Features and labels from an .npz file (path relative to the working directory); x_test/y_test are kept as the test split when present; mmap: memory-map the features of an uncompressed archive (np.savez) instead of reading them into memory."""
    from pathlib import Path

    import numpy as np

    file = Path(path)
    _check_magic(file, (b"PK\x03\x04", b"PK\x05\x06"), "a NumPy .npz archive (a zip file of arrays)", "path")
    if mmap:
        return _dataset(_mapped_npz(file), file, x_key, y_key, x_test_key, y_test_key, mapped=True)
    with np.load(file, allow_pickle=False) as arrays:  # no pickles: an .npz must not run code
        return _dataset(arrays, file, x_key, y_key, x_test_key, y_test_key, mapped=False)


def _mapped_npz(file):
    from pipeline.data.memmap import CompressedArchive, npz_memmaps

    try:
        return npz_memmaps(file)
    except CompressedArchive as exc:
        raise DataError(f"{exc}: a compressed archive cannot be memory-mapped. Write it with np.savez "
                        f"(uncompressed) or as .npy files (source npy), or set mmap: false", SOURCE + ("mmap",)) from None


def _dataset(arrays, file, x_key, y_key, x_test_key, y_test_key, mapped: bool):
    """The Dataset of an .npz's arrays (an `NpzFile`, or {name: memmap} when `mapped`)."""
    import numpy as np

    names = list(arrays)  # an NpzFile or a dict: both map names to arrays
    for key, arg in ((x_key, "x_key"), (y_key, "y_key")):
        if key not in arrays:
            raise DataError(f"no array '{key}' in {file}{did_you_mean(key, names, '.')} "
                            f"Arrays: {', '.join(sorted(names)[:10]) or '(none)'}", SOURCE + (arg,))
    has_test = x_test_key in arrays and y_test_key in arrays
    if not has_test and (x_test_key in arrays or y_test_key in arrays):
        raise DataError(f"expected both {x_test_key!r} and {y_test_key!r} in {file}, or neither. "
                        f"Received arrays: {', '.join(sorted(names)[:10])}", SOURCE + ("path",))
    features = (lambda key: Rows(arrays[key])) if mapped else (lambda key: arrays[key])
    labels = (lambda key: np.array(arrays[key])) if mapped else (lambda key: arrays[key])  # into memory
    y = labels(y_key)
    return Dataset(features(x_key), y, features(x_test_key) if has_test else None,
                   labels(y_test_key) if has_test else None, num_classes=_num_classes(y), name=file.stem)


def _num_classes(y) -> int | None:
    """Integer labels 0..k-1 name k classes; anything else (floats, rows, names) has no count here."""
    import numpy as np

    return int(y.max()) + 1 if y.ndim == 1 and np.issubdtype(y.dtype, np.integer) and len(y) else None


def _check_magic(file, magics: tuple[bytes, ...], what: str, argument: str) -> None:
    """Refuse a file that does not start like `what` (a text file given as .npz), before NumPy guesses."""
    with open(file, "rb") as handle:
        head = handle.read(8)
    if not head.startswith(magics):
        looks = "empty" if not head else "text" if all(32 <= b < 127 or b in b"\t\r\n" for b in head) else "other data"
        raise DataError(f"{file} is not {what}: it is {looks}", SOURCE + (argument,))


@datasets.register("npy")
def npy(x_path: DataFile, y_path: DataFile, x_test_path: DataFile | None = None,
        y_test_path: DataFile | None = None, mmap: bool = False):
    """Features and labels from two .npy files (x_test_path/y_test_path: an optional test split, kept as the test set); mmap: memory-map the features instead of reading them into memory."""
    from pathlib import Path

    import numpy as np

    def read(path: str, argument: str, features: bool = False):
        file = Path(path)
        _check_magic(file, (b"\x93NUMPY",), "a NumPy .npy array", argument)
        if mmap and features:
            return Rows(np.load(file, mmap_mode="r", allow_pickle=False))
        return np.load(file, allow_pickle=False)  # no pickles: an .npy must not run code

    if (x_test_path is None) != (y_test_path is None):
        raise ValueError(f"Expected both x_test_path and y_test_path, or neither. "
                         f"Received: x_test_path={x_test_path!r}, y_test_path={y_test_path!r}")
    y = read(y_path, "y_path")
    return Dataset(read(x_path, "x_path", True), y, read(x_test_path, "x_test_path", True) if x_test_path else None,
                   read(y_test_path, "y_test_path") if y_test_path else None, num_classes=_num_classes(y),
                   name=Path(x_path).stem)
