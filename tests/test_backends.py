"""A recipe runs unchanged on the TensorFlow backend too (JAX is the default and the test backend)."""

from __future__ import annotations

import os
import subprocess
import sys

import mlflow
import pytest

from pipeline import backend
from tests.conftest import REPO

TINY = """
backend: {backend}
data: {{source: {{type: digits}}}}
model: {{layers: [{{type: conv2d, filters: 4, kernel_size: 3}}, {{type: flatten}}, {{type: dense, units: 10}}]}}
train:
  epochs: 2
  loss: {{type: sparse_categorical_crossentropy, from_logits: true}}
  metrics: [accuracy]
track: {{experiment: backends}}
"""


def test_backend_precedence(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert backend.resolve(None) == backend.DEFAULT == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert backend.resolve(None) == "tensorflow"
    assert backend.resolve("jax") == "jax"  # the recipe's own choice wins


def test_switching_backend_in_a_running_process_is_refused():
    import keras

    other = "tensorflow" if keras.config.backend() != "tensorflow" else "jax"
    with pytest.raises(RuntimeError, match="already running on the"):
        backend.activate(other)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tensorflow"])
def test_recipe_trains_on_another_backend_in_a_fresh_process(name, tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY.format(backend=name))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERAS_BACKEND", None)
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--tracking-uri", uri],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"on backend {name}" in done.stdout
    mlflow.set_tracking_uri(uri)
    run, = mlflow.search_runs(experiment_names=["backends"], output_format="list")
    assert run.info.status == "FINISHED"
    assert run.data.tags["backend"] == name
    assert run.data.metrics["test_accuracy"] > 0.1
