"""Arrays from a NumPy `.npz` file."""

from __future__ import annotations

from pipeline.data import Dataset
from pipeline.errors import SOURCE, DataError, did_you_mean
from pipeline.registries import datasets
from pipeline.values import DataFile


@datasets.register("npz")
def npz(path: DataFile, x_key: str = "x", y_key: str = "y", x_test_key: str = "x_test",
        y_test_key: str = "y_test"):
    """Features and labels from an .npz file (path relative to the working directory); x_test/y_test are kept as the test split when present."""
    from pathlib import Path

    import numpy as np

    file = Path(path)
    _check_magic(file, (b"PK\x03\x04", b"PK\x05\x06"), "a NumPy .npz archive (a zip file of arrays)", "path")
    with np.load(file, allow_pickle=False) as arrays:  # no pickles: an .npz must not run code
        for key, arg in ((x_key, "x_key"), (y_key, "y_key")):
            if key not in arrays:
                raise DataError(f"no array '{key}' in {file}{did_you_mean(key, arrays.files, '.')} "
                                f"Arrays: {', '.join(sorted(arrays.files)[:10]) or '(none)'}", SOURCE + (arg,))
        has_test = x_test_key in arrays and y_test_key in arrays
        if not has_test and (x_test_key in arrays or y_test_key in arrays):
            raise DataError(f"expected both {x_test_key!r} and {y_test_key!r} in {file}, or neither. "
                            f"Received arrays: {', '.join(sorted(arrays.files)[:10])}", SOURCE + ("path",))
        y = arrays[y_key]
        return Dataset(arrays[x_key], y, arrays[x_test_key] if has_test else None,
                       arrays[y_test_key] if has_test else None, num_classes=_num_classes(y), name=file.stem)


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
        y_test_path: DataFile | None = None):
    """Features and labels from two .npy files (x_test_path/y_test_path: an optional test split, kept as the test set)."""
    from pathlib import Path

    import numpy as np

    def read(path: str, argument: str):
        file = Path(path)
        _check_magic(file, (b"\x93NUMPY",), "a NumPy .npy array", argument)
        return np.load(file, allow_pickle=False)  # no pickles: an .npy must not run code

    if (x_test_path is None) != (y_test_path is None):
        raise ValueError(f"Expected both x_test_path and y_test_path, or neither. "
                         f"Received: x_test_path={x_test_path!r}, y_test_path={y_test_path!r}")
    y = read(y_path, "y_path")
    return Dataset(read(x_path, "x_path"), y, read(x_test_path, "x_test_path") if x_test_path else None,
                   read(y_test_path, "y_test_path") if y_test_path else None, num_classes=_num_classes(y),
                   name=Path(x_path).stem)
