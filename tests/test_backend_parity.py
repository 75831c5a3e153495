"""The same recipe and initial weights on JAX (here) and TensorFlow (a fresh process): same
predictions before training, close losses after a few steps. torch is not installed here."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

from tests.conftest import REPO
from tests.parity_worker import predict_and_train

RECIPE = """\
seed: 5
data: {source: {type: digits}}
model:
  layers:
    - {type: conv2d, filters: 8, kernel_size: 3, padding: same}
    - {type: batch_norm}
    - {type: activation, fn: relu}
    - {type: residual_block, filters: 8, strides: 2}
    - {type: global_avg_pool2d}
    - {type: dense, units: 10}
train:
  epochs: 3
  batch_size: 32
  optimizer: {type: adam, learning_rate: 1.0e-2}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
"""


@pytest.mark.slow
def test_jax_and_tensorflow_agree_on_predictions_and_training(tmp_path):
    assert keras.config.backend() == "jax"
    digits = load_digits()
    x = (digits.images[:128, ..., None] / 16.0).astype(np.float32)
    y = digits.target[:128].astype(np.int32)
    recipe = tmp_path / "parity.yaml"
    recipe.write_text(RECIPE)
    mine = predict_and_train(str(recipe), {"x": x, "y": y})  # JAX; its initial weights go to TF
    np.savez(tmp_path / "in.npz", x=x, y=y, **{k: v for k, v in mine.items() if k.startswith("w")})
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "tests.parity_worker", str(recipe), str(tmp_path / "in.npz"),
                           str(tmp_path / "out.npz")], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = np.load(tmp_path / "out.npz")
    np.testing.assert_array_equal(theirs["w0"], mine["w0"])  # TF started from JAX's weights
    assert np.ptp(mine["predictions"]) > 0.1  # not a degenerate model
    np.testing.assert_allclose(theirs["predictions"], mine["predictions"], atol=1e-4, rtol=1e-4)
    assert mine["losses"][-1] < mine["losses"][0]  # it trained
    np.testing.assert_allclose(theirs["losses"], mine["losses"], rtol=1e-2)
    np.testing.assert_allclose(theirs["loss_after"], mine["loss_after"], rtol=2e-2)
