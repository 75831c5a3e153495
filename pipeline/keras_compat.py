"""Keeping TensorFlow out of runs on other backends.

Keras probes `tf.available` in `keras.utils.set_random_seed` and in model serialization, which
imports TensorFlow whenever it is installed: seconds and ~0.5 GB of RSS on a JAX run that never
touches it. These helpers skip the probe when TensorFlow is not already loaded (so no object
being saved can be a TensorFlow one) and fall back to the public API if Keras' internals move.
"""

from __future__ import annotations

import contextlib
import random
import sys

import numpy as np

from pipeline.lazy import LazyModule

keras = LazyModule("keras")


def _lazy_tf():
    try:
        from keras.src.utils.module_utils import tensorflow

        return tensorflow
    except ImportError:
        return None


@contextlib.contextmanager
def tensorflow_probe_disabled():
    """Inside the block Keras sees TensorFlow as unavailable, unless it is already imported."""
    lazy = _lazy_tf()
    if lazy is None or keras.config.backend() == "tensorflow" or "tensorflow" in sys.modules \
            or not hasattr(lazy, "_available"):
        yield
        return
    saved = lazy._available
    lazy._available = False
    try:
        yield
    finally:
        lazy._available = saved


def sync_jax_state(model) -> None:
    """Bring JAX's training state back into the model's variables before a callback reads or sets
    them mid-epoch (JAX keeps it outside the variables until synced); a no-op on other backends."""
    sync = getattr(model, "jax_state_sync", None)
    if callable(sync):
        sync()


def set_seed(seed: int) -> None:
    """`keras.utils.set_random_seed` (Python, NumPy, Keras, and torch on that backend) without the TF probe."""
    random.seed(seed)
    np.random.seed(seed)
    with tensorflow_probe_disabled():
        keras.utils.set_random_seed(seed)


def save_model(model, path) -> None:
    """`model.save(path)` to a hidden file beside `path`, renamed over it when complete: a process
    killed while saving leaves the previous file whole."""
    import os
    from pathlib import Path

    path = Path(path)
    partial = path.with_name(f".{path.name}")  # Keras wants the .keras suffix
    try:
        with tensorflow_probe_disabled():
            model.save(partial)
    except BaseException:
        partial.unlink(missing_ok=True)  # no half-written file left beside the kept ones
        raise
    os.replace(partial, path)
