"""Image-folder input throughput on this machine.

1. Decode + resize (images/s): `pipeline.data.image_folder.load_images` (Pillow, thread pool)
   with 1 thread and with `--workers` threads.
2. Training throughput from the folder vs the same images in memory: one small CNN trained with
   `model.fit` on the decoded arrays, then on the streamed folder (`stream: true`'s feed: a
   `TrainingFeed` over `ImageFiles` rows, decoding each batch from disk in a thread pool); images/s of the epochs after the first
   (the first one compiles), and the ratio folder / memory.

The folder is generated here (Pillow JPEGs of noisy shapes, `--source-size` pixels, 10 classes),
so the benchmark needs no download.

    python bench/image_folder_throughput.py --images 2000 --size 32 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def write_folder(root: Path, n: int, source_size: int, classes: int = 10, seed: int = 0) -> None:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
    for i in range(n):
        c = i % classes
        pixels = rng.integers(0, 255, size=(source_size, source_size, 3), dtype=np.uint8)
        image = Image.fromarray(pixels)
        draw = ImageDraw.Draw(image)
        r = source_size // 4
        draw.ellipse([r, r, r + (c + 3) * source_size // 14, 3 * r], fill=(25 * c, 255 - 25 * c, 128))
        image.save(root / f"class{c}" / f"{i}.jpg", "jpeg", quality=90)


def decode_throughput(root: Path, size: int, workers: int, repeats: int) -> float:
    from pipeline.data.image_folder import load_images, scan

    listing = scan(root)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        load_images(listing, (size, size), "rgb", workers)
        best = min(best, time.perf_counter() - started)
    return len(listing.files) / best


class EpochTimer:
    def __init__(self):
        import keras

        outer = self

        class _Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                outer.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                outer.times.append(time.perf_counter() - outer.start)

        self.times: list[float] = []
        self.callback = _Timer()


def small_cnn(size: int, seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def training_throughput(root: Path, size: int, epochs: int, batch: int, workers: int) -> dict:
    from pipeline.data.feed_keras import TrainingFeed
    from pipeline.data.image_folder import ImageFiles, load_images, scan
    from pipeline.data.rows import Rows

    listing = scan(root)
    x, y, _, _ = load_images(listing, (size, size), "rgb", workers)
    x = x.astype(np.float32) / 255.0
    out = {}
    for name in ("memory", "folder"):
        model, timer = small_cnn(size, seed=0), EpochTimer()
        if name == "memory":
            model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0, callbacks=[timer.callback])
        else:
            feed = TrainingFeed(Rows(ImageFiles(listing, (size, size), "rgb", workers=workers)), listing.labels, batch)
            model.fit(feed, epochs=epochs, verbose=0, callbacks=[timer.callback])
        steady = timer.times[1:] or timer.times  # the first epoch compiles
        out[name] = len(y) / float(np.median(steady))
    out["ratio_folder_over_memory"] = out["folder"] / out["memory"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--source-size", type=int, default=64, help="side of the JPEGs written")
    parser.add_argument("--size", type=int, default=32, help="side the images are resized to")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "folder"
        write_folder(root, args.images, args.source_size)
        result = {"images": args.images, "source_size": args.source_size, "size": args.size,
                  "workers": args.workers, "cpu_count": os.cpu_count(),
                  "decode_images_per_s_1_thread": decode_throughput(root, args.size, 1, args.repeats),
                  f"decode_images_per_s_{args.workers}_threads": decode_throughput(root, args.size, args.workers,
                                                                                   args.repeats)}
        train = training_throughput(root, args.size, args.epochs, args.batch_size, args.workers)
        result.update({f"train_images_per_s_{k}" if k != "ratio_folder_over_memory" else k: v
                       for k, v in train.items()})
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}, indent=2))


if __name__ == "__main__":
    main()
