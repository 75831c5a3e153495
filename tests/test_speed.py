"""Speed settings: steps per execution (auto), XLA, device, mixed precision (pipeline/speed.py)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline import speed
from pipeline.model.training import build_callbacks
from pipeline.recipe import RecipeError, load_recipe
from pipeline.assemble import build_compiled_model
from tests.conftest import MINIMAL_RECIPE

pytestmark = pytest.mark.usefixtures("backend_started")

CNN = """\
seed: 3
data: {source: {type: digits}}
model:
  layers:
    - {type: conv2d, filters: 8, kernel_size: 3, padding: same}
    - {type: batch_norm}
    - {type: activation, fn: relu}
    - {type: residual_block, filters: 8}
    - {type: flatten}
    - {type: dense, units: 10}
train:
  epochs: 4
  batch_size: 16
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
"""


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8, 1), dtype=np.float32), rng.integers(0, 10, n).astype(np.int32)


def _model(write_recipe, *overrides, steps_per_epoch=13):
    loaded = load_recipe(write_recipe("cnn.yaml", CNN), overrides)
    keras.utils.set_random_seed(3) if keras.config.backend() == "tensorflow" else None
    from pipeline.keras_compat import set_seed

    set_seed(3)
    with speed.precision_scope(loaded.plan.recipe.train.precision):
        return loaded, build_compiled_model(loaded, (8, 8, 1), steps_per_epoch)


def test_auto_steps_per_execution_is_the_measured_value_capped_at_one_epoch():
    assert speed.steps_per_execution("auto", 29, "jax") == speed.AUTO_STEPS_PER_EXECUTION["jax"] == 8
    assert speed.steps_per_execution("auto", 3, "jax") == 3  # never more than an epoch
    assert speed.steps_per_execution(1, 29, "jax") == 1
    assert speed.steps_per_execution(40, 29, "tensorflow") == 29


@pytest.mark.parametrize("key, value, message", [
    ("train.steps_per_execution", "0", "expected 'auto' or a positive integer. Received: 0"),
    ("train.steps_per_execution", "fast", "expected 'auto' or a positive integer. Received: 'fast'"),
    ("train.jit_compile", "maybe", "expected 'auto', true or false. Received: 'maybe'"),
    ("train.device", "npu", "expected 'auto', 'cpu', 'gpu' or 'tpu'"),
    ("train.precision", "float16", "input should be 'float32', 'mixed_bfloat16' or 'mixed_float16'"),
])
def test_bad_speed_settings_are_recipe_errors(write_recipe, key, value, message):
    recipe = write_recipe("r.yaml", MINIMAL_RECIPE + f"  {key.split('.')[1]}: {value}\n")  # under train:
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    line = MINIMAL_RECIPE.count("\n") + 1
    assert f"r.yaml:{line}:" in str(info.value) and f"{key}: {message}" in str(info.value)


def test_data_parallel_needs_jax(write_recipe):
    with pytest.raises(RecipeError, match=r"r.yaml:\d+:1 distribution: data_parallel needs the jax backend"):
        load_recipe(write_recipe("r.yaml", MINIMAL_RECIPE + "distribution: {type: data_parallel}\n"),
                    ["backend=tensorflow"])


def test_compile_uses_resolved_steps_and_jit(write_recipe):
    _, model = _model(write_recipe, steps_per_epoch=13)
    assert model.steps_per_execution == 8 and model.jit_compile is True  # auto: XLA on JAX
    _, model = _model(write_recipe, "train.steps_per_execution=1", "train.jit_compile=false")
    assert model.steps_per_execution == 1 and model.jit_compile is False


@pytest.mark.slow
def test_steps_per_execution_keeps_epoch_metrics_and_early_stopping(write_recipe):
    """Same seed, same data: 8 steps per execution gives the per-epoch history of 1 step, and the
    recipe's early stopping stops both at the same epoch."""
    x, y = _data()
    stop = ["train.callbacks=[{type: early_stopping, monitor: loss, patience: 1, min_delta: 10.0}]",
            "train.epochs=6"]
    histories = {}
    for steps in (1, 8):
        loaded, model = _model(write_recipe, f"train.steps_per_execution={steps}", *stop)
        assert model.steps_per_execution == steps
        history = model.fit(x, y, validation_data=(x[:48], y[:48]), batch_size=16, epochs=6, verbose=0,
                            shuffle=False, callbacks=build_callbacks(loaded.plan)).history
        histories[steps] = history
    one, eight = histories[1], histories[8]
    assert len(one["loss"]) == len(eight["loss"]) == 2  # min_delta 10: no epoch improves; stops after 1+1
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(eight[key], one[key], rtol=2e-4, atol=1e-5)


@pytest.mark.parametrize("precision, compute", [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")])
def test_mixed_precision_computes_in_half_keeps_float32_variables_and_output(write_recipe, precision, compute):
    _, model = _model(write_recipe, f"train.precision={precision}")
    conv, block, dense = model.layers[1], model.layers[4], model.layers[-1]
    assert conv.compute_dtype == compute and block.compute_dtype == compute
    assert block.conv1.compute_dtype == compute and block.norm1.compute_dtype == compute  # inside the block
    assert {v.dtype for v in model.weights} == {"float32"}  # variables stay float32
    assert dense.compute_dtype == "float32"  # the output layer: logits in float32
    x, _ = _data(4)
    assert keras.ops.convert_to_numpy(model(x)).dtype == np.float32
    hidden = keras.Model(model.input, block.output)
    assert keras.backend.standardize_dtype(hidden(x).dtype) == compute
    scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (precision == "mixed_float16")  # loss scaling for fp16 only
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_mixed_precision_trains(write_recipe):
    _, model = _model(write_recipe, "train.precision=mixed_bfloat16")
    x, y = _data(64)
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0).history
    assert np.all(np.isfinite(history["loss"])) and history["loss"][-1] < history["loss"][0]


def test_explicit_device_is_used_and_described():
    line = speed.describe_devices(keras.config.backend(), "cpu")
    assert "devices: cpu:0" in line and line.endswith("training on cpu")
    with speed.device_scope("cpu"):
        value = keras.ops.ones((2,))
    if keras.config.backend() == "jax":
        assert {d.platform for d in value.devices()} == {"cpu"}


def test_show_names_backend_and_devices(write_recipe, capsys):
    from pipeline.cli import main

    assert main(["show", str(write_recipe("r.yaml", MINIMAL_RECIPE))]) == 0
    assert "backend jax, devices: cpu:0; training on cpu:0" in capsys.readouterr().out
