"""Image folders `root/<class>/<image>`, decoded with Pillow in parallel threads: into memory, or
(`stream: true`) batch by batch as training, evaluation and the reports read them."""

from __future__ import annotations

from typing import Literal

from pipeline.data import Dataset
from pipeline.data.image_folder import ImageFiles, load_images, scan, verify_images
from pipeline.data.rows import Rows
from pipeline.errors import Problem, RecipeError
from pipeline.registries import datasets
from pipeline.values import DataFolder, NonNegativeInt, PositiveInt


@datasets.register("image_folder")
def image_folder(root: DataFolder, image_size: tuple[PositiveInt, PositiveInt] = (32, 32),
                 color: Literal["rgb", "grayscale"] = "rgb", scale: bool = True, test_root: DataFolder | None = None,
                 workers: NonNegativeInt = 0, stream: bool = False):
    """Images from root/<class>/*, resized to image_size (height, width), RGB or grayscale; unreadable files skipped with one warning; stream: decode batches when read instead of loading the folder into memory."""
    if stream:
        return _streamed(root, tuple(image_size), color, scale, test_root, workers)

    def load(folder: str):
        listing = scan(folder)
        x, y, skipped, digest = load_images(listing, tuple(image_size), color, workers)
        return listing, (x.astype("float32") / 255.0 if scale else x), y, skipped, digest

    listing, x, y, skipped, digest = load(root)
    x_test = y_test = None
    if test_root is not None:
        test_listing, x_test, y_test, test_skipped, test_digest = load(test_root)
        _same_classes(listing, test_listing, root, test_root)
        skipped, digest = skipped + test_skipped, digest + test_digest
    import hashlib

    return Dataset(x, y, x_test, y_test, num_classes=len(listing.class_names), name=listing.root.name,
                   info={"skipped_files": str(len(skipped)),
                         "classes": " ".join(f"{n}:{i}" for i, n in enumerate(listing.class_names))},
                   source_hash=hashlib.sha256(digest.encode()).hexdigest(), class_names=list(listing.class_names))


def _same_classes(listing, test_listing, root, test_root) -> None:
    if test_listing.class_names != listing.class_names:
        raise RecipeError([Problem(("data", "source", "test_root"), f"class folders of {test_root} "
                                   f"({test_listing.class_names}) differ from those of {root} "
                                   f"({listing.class_names})")])


def _streamed(root, size, color, scale, test_root, workers) -> Dataset:
    """The folder scanned and checked (`verify_images`), nothing decoded: lazy rows over its files.
    The fingerprint hashes the listing (paths, sizes, modification times), not the pixels."""
    import hashlib

    checked = [verify_images(scan(folder), workers) for folder in (root, test_root) if folder is not None]
    listings = [listing for listing, _ in checked]
    if test_root is not None:
        _same_classes(listings[0], listings[1], root, test_root)
    files = [ImageFiles(listing, size, color, scale, workers) for listing in listings]
    digest = hashlib.sha256(f"stream{size}{color}{scale}".encode())
    for listing in listings:
        digest.update(listing.listing_hash().encode())
    listing = listings[0]
    return Dataset(Rows(files[0]), listing.labels, Rows(files[1]) if test_root else None,
                   listings[1].labels if test_root else None, num_classes=len(listing.class_names),
                   name=listing.root.name, info={"skipped_files": str(sum(len(s) for _, s in checked)),
                                                 "classes": " ".join(f"{n}:{i}" for i, n in enumerate(listing.class_names))},
                   source_hash=digest.hexdigest(), class_names=list(listing.class_names))
