"""Image folders `root/<class>/<image>`, decoded with Pillow in parallel threads, into memory."""

from __future__ import annotations

from typing import Literal

from pipeline.data import Dataset
from pipeline.data.image_folder import load_images, scan
from pipeline.errors import Problem, RecipeError
from pipeline.registries import datasets
from pipeline.values import DataFolder, NonNegativeInt, PositiveInt


@datasets.register("image_folder")
def image_folder(root: DataFolder, image_size: tuple[PositiveInt, PositiveInt] = (32, 32),
                 color: Literal["rgb", "grayscale"] = "rgb", scale: bool = True, test_root: DataFolder | None = None,
                 workers: NonNegativeInt = 0):
    """Images from root/<class>/*, resized to image_size (height, width), RGB or grayscale; unreadable files skipped with one warning."""
    def load(folder: str):
        listing = scan(folder)
        x, y, skipped, digest = load_images(listing, tuple(image_size), color, workers)
        return listing, (x.astype("float32") / 255.0 if scale else x), y, skipped, digest

    listing, x, y, skipped, digest = load(root)
    x_test = y_test = None
    if test_root is not None:
        test_listing, x_test, y_test, test_skipped, test_digest = load(test_root)
        if test_listing.class_names != listing.class_names:
            raise RecipeError([Problem(("data", "source", "test_root"), f"class folders of {test_root} "
                                       f"({test_listing.class_names}) differ from those of {root} "
                                       f"({listing.class_names})")])
        skipped, digest = skipped + test_skipped, digest + test_digest
    import hashlib

    return Dataset(x, y, x_test, y_test, num_classes=len(listing.class_names), name=listing.root.name,
                   info={"skipped_files": str(len(skipped)),
                         "classes": " ".join(f"{n}:{i}" for i, n in enumerate(listing.class_names))},
                   source_hash=hashlib.sha256(digest.encode()).hexdigest(), class_names=list(listing.class_names))
