"""ResNet-18 on 32x32 images: the pipeline's recipe vs hand-written Keras-JAX vs the PyTorch reference.

    python bench/gpu_resnet18.py                  # every variant, each in a fresh process, then the table
    python bench/gpu_resnet18.py pipeline [--set train.steps_per_execution=1 ...]   # one variant: a JSON line

Variants:
  pipeline              recipes/resnet18-cifar.yaml built and compiled by the pipeline (its precision,
                        steps per execution, XLA, device), trained on the recipe's training split
  keras-jax, keras-jax-spe8                 hand-written Keras 3 on JAX (bench/gpu_reference.py)
  torch-eager-device, torch-compile-device  the PyTorch reference (bench/gpu_reference.py)
Each prints images/s over the median epoch after the first (which compiles) and the effective
TFLOP/s (3x the forward multiply-adds x 2, as the reference counts them). The `pipeline` variant
times `model.fit` like the reference does (no validation, no MLflow) so that only the model and the
compile settings differ; `pipeline run recipes/resnet18-cifar.yaml` trains the same thing, tracked.
How to run it on a GPU machine: bench/README.md, "GPU: ResNet-18".
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
RECIPE = ROOT / "recipes" / "resnet18-cifar.yaml"
ORDER = ["pipeline", "keras-jax", "keras-jax-spe8", "torch-eager-device", "torch-compile-device"]


def handwritten_resnet18(classes: int = 10):
    """The reference's Keras model (gpu_reference.py keras_variant), built alone for comparisons."""
    import keras
    from keras import layers

    from gpu_reference import STAGES

    def block(x, width, stride):
        y = layers.Conv2D(width, 3, stride, padding="same", use_bias=False)(x)
        y = layers.ReLU()(layers.BatchNormalization()(y))
        y = layers.Conv2D(width, 3, 1, padding="same", use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        sc = x
        if stride != 1 or x.shape[-1] != width:
            sc = layers.BatchNormalization()(layers.Conv2D(width, 1, stride, use_bias=False)(x))
        return layers.ReLU()(layers.Add()([y, sc]))

    inp = keras.Input((32, 32, 3))
    x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(64, 3, padding="same", use_bias=False)(inp)))
    for width, stride in STAGES:
        x = block(x, width, stride)
        x = block(x, width, 1)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, layers.Dense(classes, dtype="float32")(x))


def pipeline_variant(overrides: list[str]):
    """Train the recipe's model as `pipeline run` builds it; return (epoch seconds, params, images/epoch)."""
    from pipeline import backend
    from pipeline.keras_compat import set_seed
    from pipeline.speed import execution_scope
    from pipeline.plugins import load_plugins
    from pipeline.recipe import load_recipe
    from pipeline.assemble import build_compiled_model, prepare_data

    load_plugins()
    loaded = load_recipe(RECIPE, overrides)
    backend.activate(loaded.resolved["backend"])
    import keras

    train = loaded.plan.recipe.train
    set_seed(loaded.plan.recipe.seed)
    _, splits = prepare_data(loaded)
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    steps = math.ceil(len(splits.x_train) / train.batch_size)
    with execution_scope(loaded.plan, steps, echo=lambda line: print(line, file=sys.stderr)):
        model = build_compiled_model(loaded, splits.x_train.shape[1:], steps)
        model.fit(splits.x_train, splits.y_train, batch_size=train.batch_size, epochs=train.epochs,
                  shuffle=True, verbose=0, callbacks=[Timer()])
    return times, model.count_params(), len(splits.x_train)


def one(name: str, overrides: list[str]) -> dict:
    import gpu_reference as ref

    started = time.perf_counter()
    if name == "pipeline":
        times, params, images = pipeline_variant(overrides)
    else:
        times, params = ref.VARIANTS[name]()
        images = (ref.N // ref.B) * ref.B if name.startswith("torch") else ref.N
    steady = statistics.median(times[1:]) if len(times) > 1 else times[0]
    return {"variant": name, "params": params, "epoch_s": [round(t, 3) for t in times],
            "img_per_s": round(images / steady), "tflops": round(images / steady * ref.resnet18_train_flops_per_image()
                                                                  / 1e12, 1),
            "first_epoch_s": round(times[0], 1), "total_s": round(time.perf_counter() - started, 1)}


def table(variants: list[str]) -> None:
    results = {}
    for name in variants:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(
            [str(ROOT), os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run([sys.executable, __file__, name], cwd=ROOT, env=env, capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode or not lines:
            print(f"{name}: failed (exit {done.returncode})\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        results[name] = json.loads(lines[-1])
        print(lines[-1], flush=True)
    print(f"\n{'variant':<22} {'images/s':>9} {'TFLOP/s':>8} {'1st epoch s':>11} {'params':>10} "
          f"{'vs keras-jax':>12} {'vs torch eager':>14}")
    for name, r in results.items():
        ratio = {k: (f"{r['img_per_s'] / results[k]['img_per_s']:.3f}" if k in results else "-")
                 for k in ("keras-jax", "torch-eager-device")}
        print(f"{name:<22} {r['img_per_s']:>9} {r['tflops']:>8} {r['first_epoch_s']:>11} {r['params']:>10} "
              f"{ratio['keras-jax']:>12} {ratio['torch-eager-device']:>14}")
    print("bars: pipeline / keras-jax >= 0.98; pipeline / torch eager >= 1.3 (issue 7)")


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] == "all":
        table(ORDER if len(args) < 2 else args[1:])
    else:
        overrides = [a for flag, a in zip(args[1:], args[2:]) if flag == "--set"]
        print(json.dumps(one(args[0], overrides)), flush=True)
