"""Host-side cost per training step of feeding in-memory arrays, against the step itself.

Keras' array adapter (the path `model.fit(x_numpy, y)` takes on JAX) slices a shuffled batch out of
host memory for each step; on a GPU Keras starts that batch's transfer one step ahead. This times
the host part alone -- iterating one shuffled epoch of batches, no model -- for the quick start's
arrays and for the CIFAR-shaped ResNet-18 arrays, so it can be compared with a training step's time.

    KERAS_BACKEND=jax python bench/input_pipeline.py
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "jax")


def per_batch_ms(shape, n, batch, repeats=3):
    import numpy as np
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, *shape), dtype=np.float32)
    y = rng.integers(0, 10, n).astype(np.int32)
    adapter = ArrayDataAdapter(x, y, batch_size=batch, shuffle=True)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        batches = sum(1 for _ in adapter.get_jax_iterator())
        times.append((time.perf_counter() - start) / batches * 1e3)
    return statistics.median(times), batches


def main() -> None:
    cases = [("quick start (mnist1d)", (40, 1), 3600, 128), ("ResNet-18 (CIFAR-shaped)", (32, 32, 3), 49000, 512)]
    print(f"{'arrays':<26} {'batch':>5} {'batches':>7} {'host ms per batch':>17}")
    for name, shape, n, batch in cases:
        ms, batches = per_batch_ms(shape, n, batch)
        print(f"{name:<26} {batch:>5} {batches:>7} {ms:>17.3f}")


if __name__ == "__main__":
    main()
