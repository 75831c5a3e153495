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

load_plugins()


@pytest.fixture(autouse=True)
def fresh_registries():
    """Whatever a test registers or loads is gone afterwards; the built-ins stay."""
    with registries.isolated(), plugins.isolated():
        yield


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
