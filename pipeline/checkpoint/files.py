"""A checkpoint on disk: one `.npz` (arrays, plus the JSON description as bytes), written atomically.

The new file is written beside the current one, flushed to disk, then renamed over it after the
current one has been renamed to `state.previous.npz`, as Keras' `BackupAndRestore(double_checkpoint=
True)` keeps its previous backup: a process killed at any point leaves a readable checkpoint, and a
torn or corrupt newest file (a crash of the machine) falls back to the previous one. Read with
`allow_pickle=False`: a checkpoint holds numbers and JSON, never code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

CURRENT, PREVIOUS, PARTIAL = "state.npz", "state.previous.npz", "state.partial.npz"
META = "__meta__"
FORMAT = 1


class CheckpointError(RuntimeError):
    """No readable checkpoint where one should be."""


def pack(tree, arrays: list[np.ndarray]):
    """`tree` with each NumPy array replaced by {"__array__": i} (the array appended to `arrays`),
    NumPy scalars by Python numbers and tuples by lists: JSON plus a list of arrays."""
    if isinstance(tree, np.ndarray):
        arrays.append(tree)
        return {"__array__": len(arrays) - 1}
    if isinstance(tree, np.generic):
        return tree.item()
    if isinstance(tree, dict):
        return {str(k): pack(v, arrays) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [pack(v, arrays) for v in tree]
    return tree


def unpack(tree, arrays):
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            return arrays[f"a{tree['__array__']}"]
        return {k: unpack(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [unpack(v, arrays) for v in tree]
    return tree


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: folders cannot be opened; the rename is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(folder: str | Path, state: dict) -> Path:
    """Write `state` (JSON-able values and NumPy arrays) as the folder's current checkpoint."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays: list[np.ndarray] = []
    described = pack({"format": FORMAT, **state}, arrays)
    payload = {f"a{i}": a for i, a in enumerate(arrays)}
    payload[META] = np.frombuffer(json.dumps(described).encode("utf-8"), dtype=np.uint8)
    partial, current = folder / PARTIAL, folder / CURRENT
    with open(partial, "wb") as f:
        np.savez(f, **payload)
        f.flush()
        os.fsync(f.fileno())
    if current.exists():
        os.replace(current, folder / PREVIOUS)
    os.replace(partial, current)
    _fsync_folder(folder)
    return current


def _read(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        described = json.loads(bytes(data[META]).decode("utf-8"))
        arrays = {k: data[k] for k in data.files if k != META}
    return unpack(described, arrays)


def read(folder: str | Path) -> dict | None:
    """The newest readable checkpoint in `folder`, or None when it holds none; CheckpointError when
    there are checkpoint files but none can be read."""
    folder = Path(folder)
    found = [p for p in (folder / CURRENT, folder / PREVIOUS) if p.is_file()]
    problems = []
    for path in found:
        try:
            return _read(path)
        except Exception as exc:  # torn or corrupt: try the previous one
            problems.append(f"{path}: {type(exc).__name__}: {exc}")
    if problems:
        raise CheckpointError("no readable checkpoint: " + "; ".join(problems))
    return None


def drop_previous(folder: str | Path) -> None:
    """After a run finished: only the newest checkpoint is worth its disk space."""
    for name in (PREVIOUS, PARTIAL):
        try:
            (Path(folder) / name).unlink()
        except FileNotFoundError:
            pass
