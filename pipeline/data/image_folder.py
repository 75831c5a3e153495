"""Image folders (`root/<class>/<image>`): scanning, and decoding with Pillow in threads, into
memory (`load_images`) or batch by batch when read (`ImageFiles`, for `stream: true`).

Pillow releases the GIL while it decodes and resizes, so a thread pool uses every core without
the start-up and copying costs of processes. Files Pillow cannot read (corrupt, truncated, not an
image) are skipped and reported once, in one `SkippedFilesWarning` listing them all; a class
folder with no file at all, or a root without class folders, is an error before any decoding.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
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


def _check(file: Path) -> str:
    """'' when Pillow reads `file`'s header and `verify()` passes (no pixel decoding), else the reason."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            image.verify()
        return ""
    except Exception as exc:  # as in `_load`: whatever Pillow raises for a bad file
        return f"{type(exc).__name__}: {exc}"


def verify_images(listing: FolderListing, workers: int = 0) -> tuple[FolderListing, list[tuple[Path, str]]]:
    """The files of `listing` that Pillow can open and `verify()` (a header and structure check,
    no decoding: PNG chunk CRCs, a JPEG's markers), and the others [(path, reason)], reported in one
    `SkippedFilesWarning`: the streamed folder's files, chosen before splitting as the in-memory path
    chooses its own."""
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        reasons = list(pool.map(_check, listing.files))
    kept = [i for i, reason in enumerate(reasons) if not reason]
    if not kept:
        raise _folder_error(f"no readable image in {listing.root.resolve()} ({len(reasons)} files tried)")
    skipped = [(f, r) for f, r in zip(listing.files, reasons) if r]
    if skipped:
        warn_skipped(skipped)
    return FolderListing(listing.root, [listing.files[i] for i in kept], listing.labels[kept], listing.class_names), skipped


class ImageFiles:
    """An image folder's files as rows of a `pipeline.data.rows.Rows`: `read(indices)` decodes those
    files (threads), resized to `size`, as uint8, or float32 in [0, 1] when `scale`, exactly as
    `load_images` does. A file that passed `verify_images` but fails to decode now (a truncated
    JPEG, a file changed or removed since) becomes an all-zero image, so batches keep their shape,
    and is reported once, in a `SkippedFilesWarning` naming it; `failed` lists them."""

    finite = True  # decoded pixels are never NaN: the data checks need not read every image

    def __init__(self, listing: FolderListing, size: tuple[int, int], color: str, scale: bool = True,
                 workers: int = 0):
        self.listing, self.size, self.color, self.scale = listing, tuple(size), color, scale
        self.workers = workers or default_workers()
        channels = 3 if color == "rgb" else 1
        self.shape = (len(listing.files), *self.size, channels)
        self.dtype = np.dtype(np.float32 if scale else np.uint8)
        self.failed: dict[str, str] = {}
        self._lock = threading.Lock()
        self._pool = None

    def __len__(self) -> int:
        return len(self.listing.files)

    def __getstate__(self):  # the thread pool and lock stay behind (a copy starts its own)
        return {**self.__dict__, "_lock": None, "_pool": None}

    def __setstate__(self, state):
        self.__dict__.update(state, _lock=threading.Lock())

    def _decode(self, i: int) -> np.ndarray:
        file = self.listing.files[int(i)]
        try:
            return decode(file.read_bytes(), self.size, self.color)
        except Exception as exc:  # see the class docstring: zeros, reported once
            with self._lock:
                first = str(file) not in self.failed
                self.failed[str(file)] = f"{type(exc).__name__}: {exc}"
            if first:
                warnings.warn(f"could not decode {file} while streaming ({type(exc).__name__}: {exc}); an all-zero "
                              f"image stands in for it (its label kept) in every batch that holds it",
                              SkippedFilesWarning, stacklevel=2)
            return np.zeros(self.shape[1:], np.uint8)

    def read(self, indices) -> np.ndarray:
        indices = np.asarray(indices)
        if len(indices) > 1:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="image-files")
            images = list(self._pool.map(self._decode, indices))
        else:
            images = [self._decode(i) for i in indices]
        batch = np.stack(images) if images else np.zeros((0, *self.shape[1:]), np.uint8)
        return batch.astype(np.float32) / 255.0 if self.scale else batch
