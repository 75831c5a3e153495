"""Generated images of geometric shapes (NumPy, no download): a classification task and a
segmentation task with per-pixel masks, for the architecture zoo and the transfer-learning demo.

Each image is `size` x `size` x 3: a noisy grey background and one coloured shape of random
position, size and colour. The classes are the shape kinds; choosing `classes` gives related tasks
on the same kind of pictures (pretrain on circles/squares/triangles, fine-tune on the others).
"""

from __future__ import annotations

from pipeline.data import Dataset, from_arguments
from pipeline.registries import datasets
from pipeline.values import NonNegativeFloat, NonNegativeInt, PositiveInt, Seed

SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring")


def shape_mask(kind: str, size: int, cx: float, cy: float, r: float):
    """Boolean size x size mask of one shape centred at (cx, cy) with half-extent r (pixels)."""
    import numpy as np

    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dx, dy = x - cx, y - cy
    if kind == "circle":
        return dx ** 2 + dy ** 2 <= r ** 2
    if kind == "square":
        return (abs(dx) <= r * 0.85) & (abs(dy) <= r * 0.85)
    if kind == "triangle":  # apex up: the half-width grows from 0 at the top to r at the bottom
        return (dy >= -r) & (dy <= r) & (abs(dx) <= (dy + r) / 2)
    if kind == "diamond":
        return abs(dx) + abs(dy) <= r
    if kind == "cross":
        arm = r / 3
        return ((abs(dx) <= arm) & (abs(dy) <= r)) | ((abs(dy) <= arm) & (abs(dx) <= r))
    if kind == "ring":
        d2 = dx ** 2 + dy ** 2
        return (d2 <= r ** 2) & (d2 >= (r * 0.55) ** 2)
    raise ValueError(f"Unknown shape '{kind}'. Expected one of: {', '.join(SHAPES)}")


def draw(n: int, size: int, kinds: list[int], names: tuple[str, ...], noise: float, rng):
    """n images and their foreground masks; image i shows shape names[kinds[i]]."""
    import numpy as np

    x = rng.normal(0.5, noise, size=(n, size, size, 3)).astype(np.float32)
    masks = np.zeros((n, size, size), dtype=bool)
    for i in range(n):
        r = rng.uniform(size * 0.18, size * 0.32)
        cx, cy = rng.uniform(r, size - r, size=2)
        masks[i] = shape_mask(names[kinds[i]], size, cx, cy, r)
        colour = rng.uniform(0.0, 1.0, size=3).astype(np.float32)
        colour[rng.integers(3)] = rng.choice([0.0, 1.0])  # keep it apart from the grey background
        x[i][masks[i]] = colour + rng.normal(0, noise, size=(int(masks[i].sum()), 3))
    return np.clip(x, 0.0, 1.0), masks


def _check(classes: list[str]) -> tuple[str, ...]:
    unknown = [c for c in classes if c not in SHAPES]
    if unknown or len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"Expected two or more distinct shapes from {', '.join(SHAPES)}. Received: {classes}")
    return tuple(classes)


@datasets.register("shapes")
@from_arguments
def shapes(num_samples: PositiveInt = 2000, num_test: NonNegativeInt = 500, size: PositiveInt = 32,
           classes: list[str] = ["circle", "square", "triangle"],  # noqa: B006
           noise: NonNegativeFloat = 0.1, seed: Seed = 0):
    """Generated size x size x 3 images of one coloured shape each, labelled by kind (circle, square, triangle, diamond, cross, ring); own test split.

    Args:
        num_samples: training images (validation is split from these).
        num_test: images of the dataset's own test split (kept as the test set).
        classes: the shape kinds, label i for classes[i]. Defaults to circle, square, triangle.
        noise: standard deviation of the pixel noise (background and shape). Defaults to 0.1.
        seed: the generator's seed; the test split comes from the same stream, after training.
    """
    import numpy as np

    names = _check(classes)
    rng = np.random.default_rng(seed)
    y = rng.integers(len(names), size=num_samples + num_test).astype(np.int32)
    x, _ = draw(len(y), size, y, names, noise, rng)
    return Dataset(x[:num_samples], y[:num_samples], x[num_samples:], y[num_samples:],
                   num_classes=len(names), name="shapes")


@datasets.register("shapes_segmentation")
@from_arguments
def shapes_segmentation(num_samples: PositiveInt = 1000, num_test: NonNegativeInt = 200, size: PositiveInt = 32,
                        noise: NonNegativeFloat = 0.1, seed: Seed = 0):
    """Generated size x size x 3 images of one coloured shape each; the label is its size x size x 1 foreground mask (0/1); own test split."""
    import numpy as np

    rng = np.random.default_rng(seed)
    kinds = rng.integers(len(SHAPES), size=num_samples + num_test)
    x, masks = draw(len(kinds), size, kinds, SHAPES, noise, rng)
    y = masks[..., None].astype(np.float32)
    return Dataset(x[:num_samples], y[:num_samples], x[num_samples:], y[num_samples:], name="shapes_segmentation")
