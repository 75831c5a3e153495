"""Choosing the Keras backend before Keras is imported.

JAX is the default: on 2 CPU cores it trains the quick-start CNN about 3x faster than TensorFlow
(see docs/training-and-speed.md, "Backends"). A recipe's `backend:` wins, then `KERAS_BACKEND`, then the default.
"""

from __future__ import annotations

import os
import sys

DEFAULT = "jax"
CHOICES = ("jax", "tensorflow", "torch")


def resolve(recipe_backend: str | None) -> str:
    return recipe_backend or os.environ.get("KERAS_BACKEND") or DEFAULT


def activate(name: str) -> None:
    """Make Keras use `name`; refuse if Keras was already imported on another backend."""
    if "keras" in sys.modules:
        import keras

        current = keras.config.backend()
        if current != name:
            raise RuntimeError(f"Keras is already running on the '{current}' backend in this process; "
                               f"cannot switch to '{name}'. Run it in a fresh process (KERAS_BACKEND={name}).")
        return
    os.environ["KERAS_BACKEND"] = name
