"""Shared test setup: JAX backend, built-in plugins loaded, a fresh registry state per test."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from pipeline import plugins, registries  # noqa: E402
from pipeline.plugins import load_plugins  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"

#: The smallest valid recipe, for tests that edit one thing in it.
MINIMAL_RECIPE = """\
seed: 1
data:
  source: {type: mnist1d}
  split: {val: 0.2}
model:
  layers:
    - {type: flatten}
    - {type: dense, units: 10}
train:
  epochs: 2
  loss: sparse_categorical_crossentropy
"""

load_plugins()

pytest_plugins = ("tests.tracking_server",)  # pg_tracking_uri: one PostgreSQL-backed server per session


@pytest.fixture(autouse=True)
def fresh_registries():
    """Whatever a test registers or loads is gone afterwards; the built-ins stay."""
    with registries.isolated(), plugins.isolated():
        yield


@pytest.fixture(scope="module")
def backend_started():
    """The backend's one-off start (device, first dispatch) is paid here, not by a module's first test.

    A module that times or bounds its tests uses it: `pytestmark = pytest.mark.usefixtures("backend_started")`.
    """
    import keras

    keras.ops.convert_to_numpy(keras.ops.ones((2,)) + 1)


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch):
    """A private SQLite MLflow store for one test."""
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture
def write_recipe(tmp_path):
    """write_recipe('name.yaml', text) -> Path of a recipe file in a temp folder."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
