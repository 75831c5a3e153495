"""CSV tables: numeric feature columns and one label column."""

from __future__ import annotations

from typing import Annotated

from annotated_types import MaxLen, MinLen

from pipeline.data import Dataset
from pipeline.data.table import read_table
from pipeline.registries import datasets
from pipeline.values import DataFile

Character = Annotated[str, MinLen(1), MaxLen(1)]


@datasets.register("csv")
def csv(file: DataFile, label_column: str | int | list[str | int] = -1, header: bool | None = None,
        delimiter: Character = ",", test_file: DataFile | None = None):
    """Numeric features and a label column (name or index; a list: several regression targets) from a CSV file (test_file: its own test split); string labels become class indices (logged as data.label_map)."""
    table = read_table(file, label_column, header, delimiter)
    test = read_table(test_file, label_column, header, delimiter, classes=table.classes) if test_file else None
    info = {"label_map": " ".join(f"{c}:{i}" for i, c in enumerate(table.classes))} if table.classes else {}
    return Dataset(table.x, table.y, test.x if test else None, test.y if test else None,
                   num_classes=table.num_classes, name=table.name, info=info, class_names=table.classes)
