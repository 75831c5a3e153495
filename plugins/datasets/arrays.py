"""Arrays from a NumPy `.npz` file."""

from __future__ import annotations

from pipeline.data import Dataset
from pipeline.registries import datasets


@datasets.register("npz")
def npz(path: str, x_key: str = "x", y_key: str = "y", x_test_key: str = "x_test",
        y_test_key: str = "y_test"):
    """Features and labels from an .npz file (path relative to the working directory); x_test/y_test are kept as the test split when present."""
    from pathlib import Path

    import numpy as np

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"npz dataset not found: {file.resolve()}")
    with np.load(file, allow_pickle=False) as arrays:  # no pickles: an .npz must not run code
        missing = [k for k in (x_key, y_key) if k not in arrays]
        if missing:
            raise KeyError(f"Expected arrays {missing} in {file}. Received keys: {sorted(arrays.files)}")
        has_test = x_test_key in arrays and y_test_key in arrays
        if not has_test and (x_test_key in arrays or y_test_key in arrays):
            raise KeyError(f"Expected both {x_test_key!r} and {y_test_key!r} in {file}, or neither. "
                           f"Received keys: {sorted(arrays.files)}")
        y = arrays[y_key]
        num_classes = int(y.max()) + 1 if y.ndim == 1 and np.issubdtype(y.dtype, np.integer) else None
        return Dataset(arrays[x_key], y, arrays[x_test_key] if has_test else None,
                       arrays[y_test_key] if has_test else None, num_classes=num_classes, name=file.stem)


@datasets.register("npy")
def npy(x_path: str, y_path: str, x_test_path: str | None = None, y_test_path: str | None = None):
    """Features and labels from two .npy files (x_test_path/y_test_path: an optional test split, kept as the test set)."""
    from pathlib import Path

    import numpy as np

    def read(path: str):
        file = Path(path)
        if not file.is_file():
            raise FileNotFoundError(f"npy array not found: {file.resolve()}")
        return np.load(file, allow_pickle=False)  # no pickles: an .npy must not run code

    if (x_test_path is None) != (y_test_path is None):
        raise ValueError(f"Expected both x_test_path and y_test_path, or neither. "
                         f"Received: x_test_path={x_test_path!r}, y_test_path={y_test_path!r}")
    y = read(y_path)
    num_classes = int(y.max()) + 1 if y.ndim == 1 and np.issubdtype(y.dtype, np.integer) else None
    return Dataset(read(x_path), y, read(x_test_path) if x_test_path else None,
                   read(y_test_path) if y_test_path else None, num_classes=num_classes, name=Path(x_path).stem)
