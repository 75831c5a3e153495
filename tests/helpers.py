"""Small helpers shared by the component tests."""

from __future__ import annotations

import keras
import numpy as np

from pipeline import registries
from pipeline.components import build_spec


def to_np(x) -> np.ndarray:
    """Numbers back from a tensor or a `keras.Variable`."""
    return keras.ops.convert_to_numpy(x.value if isinstance(x, keras.Variable) else x)


def layer(spec):
    """A layer built through the registry, exactly as a recipe builds it."""
    return build_spec(registries.layers, spec)
