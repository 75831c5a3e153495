"""How a recipe's speed settings become Keras settings: steps per execution, XLA, device, precision.

Small models are dispatch-bound: running several training steps per call into the backend (and
per callback round) saves a measurable share of a CPU epoch, while Keras still reports metrics and
calls epoch callbacks once per epoch. `AUTO_STEPS_PER_EXECUTION` holds the values measured best on
the quick start (bench/steps_per_execution.py; docs/training-and-speed.md).
"""

from __future__ import annotations

import contextlib

from pipeline import distribution
from pipeline.lazy import LazyModule
from pipeline.model.learning_rate import learning_rate_used

keras = LazyModule("keras")

#: Steps per execution chosen by `auto` (bench/steps_per_execution.py on 2 shared CPU cores, median
#: epoch time vs 1: JAX 1.17x at 8, 1.18x at 4, 1.00x at a whole epoch; TensorFlow 1.30x at 8,
#: 1.15x at 32). JAX runs one execution as a Python loop of compiled steps, so the gain is fewer
#: callback and logging rounds and it flattens out by 4-8. torch: not measured (not installed).
AUTO_STEPS_PER_EXECUTION = {"jax": 8, "tensorflow": 8, "torch": 8}


def steps_per_execution(setting, steps_per_epoch: int, backend: str) -> int:
    """The recipe's value, or for `auto` the measured value for `backend`, at most one epoch."""
    value = AUTO_STEPS_PER_EXECUTION.get(backend, 1) if setting == "auto" else int(setting)
    return max(1, min(value, steps_per_epoch))


def device_scope(setting: str):
    """`keras.device(...)` for an explicit device; `auto` leaves Keras' default (the accelerator
    when there is one, else the CPU)."""
    if setting == "auto":
        return contextlib.nullcontext()
    return keras.device(setting if ":" in setting else f"{setting}:0")


def describe_devices(backend: str, setting: str = "auto") -> str:
    """One line: the devices the backend sees and the one a run will use."""
    if backend == "torch":
        import torch

        found = [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cpu"]
    else:
        found = keras.distribution.list_devices()
    chosen = found[0] if setting == "auto" else setting
    return f"backend {backend}, devices: {', '.join(found)}; training on {chosen}"


@contextlib.contextmanager
def precision_scope(precision: str):
    """Layers built inside take the Keras dtype policy `precision` (variables stay float32, compute
    runs in the policy's dtype); the previous global policy comes back afterwards."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def output_scope(is_output: bool):
    """Build an output layer in float32 under a mixed policy (softmax and logits in float32, as
    Keras' mixed-precision guide advises); otherwise a no-op."""
    if not is_output or keras.config.dtype_policy().compute_dtype == "float32":
        return contextlib.nullcontext()
    return precision_scope("float32")


@contextlib.contextmanager
def execution_scope(plan, steps_per_epoch: int, echo=print):
    """Everything built and trained inside runs with the recipe's precision, device and
    distribution; the chosen settings are printed and yielded (the run logs them as `*_used` params)."""
    train, backend = plan.recipe.train, keras.config.backend()
    distributed, summary = distribution.scope(plan.recipe.distribution, train.batch_size)
    used = {"train.steps_per_execution_used": steps_per_execution(train.steps_per_execution, steps_per_epoch,
                                                                  backend),
            "train.device_used": summary.get("distribution.devices")
            or describe_devices(backend, train.device).rsplit(" ", 1)[-1], **summary}
    echo(f"speed: steps_per_execution={used['train.steps_per_execution_used']} ({train.steps_per_execution}), "
         f"jit_compile={train.jit_compile}, precision={train.precision}, device={used['train.device_used']}")
    if summary:
        echo(f"data parallel over {summary['distribution.device_count']} devices ({summary['distribution.devices']}): "
             f"global batch {summary['train.global_batch_size']} = {summary['distribution.device_count']} x "
             f"{summary['train.per_device_batch_size']}; learning rate {learning_rate_used(plan):g}"
             + (f" (scaled by batch/{train.scale_lr_with_batch})" if train.scale_lr_with_batch else
                " (as written: set train.scale_lr_with_batch to scale it with the global batch)"))
    with precision_scope(train.precision), device_scope(train.device), distributed:
        yield used
