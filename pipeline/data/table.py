"""Reading a CSV table into float features and labels (class indices, or numbers for regression).

One label column gives labels of shape (n,); a list of columns gives (n, k) numbers, the targets
of a regression with k outputs.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import SOURCE, DataError, did_you_mean, printable


@dataclass
class Table:
    x: np.ndarray
    y: np.ndarray
    classes: list[str] | None  # the label strings, in index order, when the labels were strings
    num_classes: int | None
    name: str


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def read_table(path: str | Path, label_column: str | int | list[str | int] = -1, header: bool | None = None,
               delimiter: str = ",", classes: list[str] | None = None) -> Table:
    """Parse `path`. `header=None` detects a header row (a first row with a non-numeric cell).

    String labels are mapped to indices in sorted order (or by `classes`, e.g. a training file's
    mapping applied to its test file); integer labels are kept; other numbers make a regression
    target. Several label columns must hold numbers: float32 targets of shape (n, k).
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"csv dataset not found: {file.resolve()}")
    try:
        with file.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle, delimiter=delimiter) if row]
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        raise DataError(f"{file} is not UTF-8 text (byte 0x{byte:02x} at offset {exc.start})") from None
    except csv.Error as exc:  # a NUL byte, a field over the csv module's size limit
        raise DataError(f"{file} is not a readable CSV table ({exc})") from None
    if not rows:
        raise DataError(f"expected rows in {file}. Received: an empty file")
    several = isinstance(label_column, list)
    wanted = label_column if several else [label_column]
    if not wanted:
        raise DataError(f"expected one or more label columns for {file}. Received: label_column=[]",
                        SOURCE + ("label_column",))
    if header is None:
        # a named label column needs a header; else a first row with a non-numeric feature is one
        numbered = all(isinstance(c, int) for c in wanted)
        labels_at = {c % len(rows[0]) for c in wanted} if numbered else set()
        header = not numbered or not all(_is_number(c) for i, c in enumerate(rows[0]) if i not in labels_at)
    names = [c.strip() for c in rows[0]] if header else None
    body = rows[1:] if header else rows
    if not body:
        raise DataError(f"expected data rows in {file} after the header. Received: none")
    columns = [_index(c, rows[0], names, file) for c in wanted]
    width = len(rows[0])
    features, labels = [], []
    for line, row in enumerate(body, start=2 if header else 1):
        if len(row) != width:
            raise DataError(f"{file}:{line}: expected {width} columns. Received: {len(row)}")
        try:
            values = [float(c) for i, c in enumerate(row) if i not in columns]
        except ValueError:
            bad = next(c for i, c in enumerate(row) if i not in columns and not _is_number(c))
            raise DataError(f"{file}:{line}: expected numeric feature values. "
                            f"Received: '{printable(bad, 40)}'") from None
        if not all(math.isfinite(v) for v in values):  # "nan" and "inf" parse as floats
            index = next(i for i, c in enumerate(row) if i not in columns and not math.isfinite(float(c)))
            name = f"'{printable(names[index], 40)}'" if names else f"column {index + 1}"
            raise DataError(f"{file}:{line}: feature {name} is {row[index].strip()}; expected finite numbers "
                            f"(drop or impute missing values first)")
        features.append(values)
        labels.append([row[c].strip() for c in columns])
    if several:
        return Table(np.asarray(features, dtype=np.float32), _targets(labels, header, file), None, None,
                     file.stem)
    y, classes = _labels([cells[0] for cells in labels], classes, file)
    num_classes = len(classes) if classes else (int(y.max()) + 1 if y.dtype.kind == "i" else None)
    return Table(np.asarray(features, dtype=np.float32), y, classes, num_classes, file.stem)


def _index(label_column: str | int, first_row: list[str], names: list[str] | None, file: Path) -> int:
    where = SOURCE + ("label_column",)
    if isinstance(label_column, int):
        if not -len(first_row) <= label_column < len(first_row):
            raise DataError(f"label_column {label_column} is out of range for {len(first_row)} columns in {file}",
                            where)
        return label_column % len(first_row)
    stripped = [c.strip() for c in first_row]
    if names is None and label_column not in stripped:
        raise DataError(f"label_column '{printable(label_column)}' names a column, but {file} has no header row", where)
    if label_column not in stripped:
        hint = did_you_mean(label_column, stripped, otherwise=".")
        raise DataError(f"no column '{printable(label_column)}' in {file}{hint} (its header has {len(stripped)} "
                        f"columns{': ' + ', '.join(stripped) if len(stripped) <= 8 else ''})", where)
    return stripped.index(label_column)


def _targets(rows: list[list[str]], header: bool, file: Path) -> np.ndarray:
    """Several label columns: numbers only (the targets of a regression with several outputs)."""
    for line, cells in enumerate(rows, start=2 if header else 1):
        bad = [c for c in cells if not _is_number(c)]
        if bad:
            raise DataError(f"{file}:{line}: expected numbers in every label column (several label columns are "
                            f"regression targets). Received: '{printable(bad[0], 40)}'")
    return np.asarray([[float(c) for c in cells] for cells in rows], dtype=np.float32)


def _labels(cells: list[str], classes: list[str] | None, file: Path):
    if classes is None and all(_is_number(c) for c in cells):
        values = np.asarray([float(c) for c in cells])
        if np.all(values == np.round(values)) and values.min() >= 0:
            return values.astype(np.int32), None
        return values.astype(np.float32), None
    classes = classes if classes is not None else sorted(set(cells))
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(cells) - set(index))
    if unknown:
        raise DataError(f"{file}: labels {printable(unknown)} are not among the training classes {printable(classes)}")
    return np.asarray([index[c] for c in cells], dtype=np.int32), classes
