"""Image folders (`root/<class>/<image>`): scanning, and decoding with Pillow in threads.

Pillow releases the GIL while it decodes and resizes, so a thread pool uses every core without
the start-up and copying costs of processes. Files Pillow cannot read (corrupt, truncated, not an
image) are skipped and reported once, in one `SkippedFilesWarning` listing them all; a class
folder with no file at all, or a root without class folders, is an error before any decoding.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import Problem, RecipeError

ROOT_KEY = ("data", "source", "root")  # where a recipe names the folder, for error messages


class SkippedFilesWarning(UserWarning):
    """Some files of an image folder could not be decoded and were left out."""


@dataclass
class FolderListing:
    """Every candidate file of a folder, its class index, and the class names (sorted folder names)."""

    root: Path
    files: list[Path]
    labels: np.ndarray
    class_names: list[str]

    def listing_hash(self) -> str:
        """Hash of relative paths, sizes and modification times: cheap, for feeds that never read
        every file up front (a copy of the folder with new mtimes gets a new id)."""
        digest = hashlib.sha256()
        for file in self.files:
            stat = file.stat()
            digest.update(f"{file.relative_to(self.root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()


def _folder_error(message: str) -> RecipeError:
    return RecipeError([Problem(ROOT_KEY, message)])


def scan(root: str | Path) -> FolderListing:
    """List `root/<class>/*` (hidden files skipped); raise a RecipeError naming the path when the
    root is missing, has no class folders, or a class folder is empty."""
    root = Path(root)
    if not root.is_dir():
        raise _folder_error(f"image folder not found: {root.resolve()}")
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise _folder_error(f"no class folders in {root.resolve()} (expected root/<class>/<image files>)")
    files, labels = [], []
    for index, folder in enumerate(classes):
        found = sorted(f for f in folder.rglob("*") if f.is_file() and not f.name.startswith("."))
        if not found:
            raise _folder_error(f"class folder {folder.resolve()} has no files: remove it or add images")
        files += found
        labels += [index] * len(found)
    return FolderListing(root, files, np.asarray(labels, dtype=np.int32), [d.name for d in classes])


def decode(data: bytes, size: tuple[int, int], color: str) -> np.ndarray:
    """One image's bytes -> uint8 array (height, width, channels); raises what Pillow raises."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB" if color == "rgb" else "L", (size[1], size[0]))  # JPEG: decode at reduced size
        image = image.convert("RGB" if color == "rgb" else "L")
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
    return array if color == "rgb" else array[..., None]


def _load(file: Path, size, color):
    """(array or None, sha256 of the bytes, reason) for one file; never raises for a bad image."""
    data = file.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        return decode(data, size, color), digest, ""
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, DecompressionBombError…
        return None, digest, f"{type(exc).__name__}: {exc}"


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def load_images(listing: FolderListing, size: tuple[int, int], color: str, workers: int = 0):
    """Decode every file of `listing` in a thread pool.

    Returns (images uint8 (n, h, w, c), labels, skipped [(path, reason)], content hash of the bytes).
    """
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        results = list(pool.map(lambda f: _load(f, size, color), listing.files))
    digest = hashlib.sha256(f"{size}{color}".encode())
    images, labels, skipped = [], [], []
    for file, label, (array, file_hash, reason) in zip(listing.files, listing.labels, results):
        digest.update(f"{file.relative_to(listing.root).as_posix()}\0{file_hash}\n".encode())
        if array is None:
            skipped.append((file, reason))
        else:
            images.append(array)
            labels.append(label)
    if not images:
        raise _folder_error(f"no readable image in {listing.root.resolve()} ({len(skipped)} files tried)")
    if skipped:
        warn_skipped(skipped)
    return np.stack(images), np.asarray(labels, dtype=np.int32), skipped, digest.hexdigest()


def warn_skipped(skipped: list[tuple[Path, str]]) -> None:
    """One warning for all the files left out, each with Pillow's reason."""
    lines = "\n".join(f"  {path}: {reason}" for path, reason in skipped)
    warnings.warn(f"skipped {len(skipped)} file(s) that are not readable images:\n{lines}",
                  SkippedFilesWarning, stacklevel=3)
