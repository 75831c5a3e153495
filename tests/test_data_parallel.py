"""`distribution: {type: data_parallel}` on 4 forced CPU devices follows the one-device loss curve."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pipeline.recipe import RecipeError, load_recipe
from tests.conftest import REPO

RECIPE = """\
seed: 0
data: {source: {type: mnist1d}}
model:
  layers:
    - {type: conv1d, filters: 8, kernel_size: 5, padding: same}
    - {type: batch_norm}
    - {type: activation, fn: relu}
    - {type: flatten}
    - {type: dense, units: 2}
train:
  epochs: 4
  batch_size: 32
  optimizer: {type: sgd, learning_rate: 0.05, momentum: 0.9}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
"""


def test_four_devices_follow_the_one_device_loss_curve(tmp_path):
    recipe = tmp_path / "dp.yaml"
    recipe.write_text(RECIPE)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "KERAS_BACKEND": "jax",
           "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "tests.data_parallel_worker", str(recipe)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(out["one_devices"]) == 1 and len(out["four_devices"]) == 4  # variables replicated on 4
    assert "global batch 32 = 4 x 8" in out["lines"][-1] and "cpu:3" in out["lines"][-1]
    assert out["one"][-1] < 0.8 * out["one"][0]  # it learns
    np.testing.assert_allclose(out["four"], out["one"], rtol=1e-3)


def test_global_batch_must_split_evenly(write_recipe, monkeypatch):
    import keras

    from pipeline import distribution

    loaded = load_recipe(write_recipe("dp.yaml", RECIPE + "distribution: {type: data_parallel, devices: 1}\n"))
    _, summary = distribution.data_parallel(loaded.plan.recipe.distribution, 32)
    assert summary["distribution.device_count"] == 1 and summary["train.per_device_batch_size"] == 32
    monkeypatch.setattr(keras.distribution, "list_devices", lambda: ["cpu:0", "cpu:1", "cpu:2"])
    spec = loaded.plan.recipe.distribution.model_copy(update={"devices": None})
    with pytest.raises(ValueError, match=r"global batch \(train.batch_size=32\) must be divisible by the 3"):
        distribution.data_parallel(spec, 32)
    _, summary = distribution.data_parallel(spec, 48, processes=3)  # several processes: the batch stays global
    assert summary["train.global_batch_size"] == 48 and summary["train.per_process_batch_size"] == 16
    assert summary["train.per_device_batch_size"] == 16
    with pytest.raises(ValueError, match=r"train.batch_size \(32\) must be divisible by the 3 processes"):
        distribution.data_parallel(spec, 32, processes=3)
    with pytest.raises(ValueError, match=r"with 3 processes every device of every process takes part"):
        distribution.data_parallel(spec.model_copy(update={"devices": 1}), 48, processes=3)
    with pytest.raises(RecipeError, match="distribution.devices: input should be greater than 0"):
        load_recipe(write_recipe("bad.yaml", RECIPE + "distribution: {type: data_parallel, devices: 0}\n"))
