"""Small helpers shared by the component tests."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline import registries
from pipeline.components import build_spec


@pytest.fixture(scope="module", autouse=True)
def backend_started():
    """The backend's one-off start (device, first dispatch) is paid here, not by the first test.

    Import it into a test module (`from tests.helpers import backend_started`) to use it there.
    """
    keras.ops.convert_to_numpy(keras.ops.ones((2,)) + 1)


def to_np(x) -> np.ndarray:
    """Numbers back from a tensor or a `keras.Variable`."""
    return keras.ops.convert_to_numpy(x.value if isinstance(x, keras.Variable) else x)


def layer(spec):
    """A layer built through the registry, exactly as a recipe builds it."""
    return build_spec(registries.layers, spec)
