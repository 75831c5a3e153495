"""Data parallelism through `keras.distribution.DataParallel` (JAX backend): the model is
replicated on every device (of every process, `pipeline/processes.py`) and each global batch is
split evenly across them, so one device and N devices follow the same loss curve for the same
global batch."""

from __future__ import annotations

import contextlib

from pipeline import processes as cluster


def data_parallel(spec, batch_size: int, processes: int | None = None):
    """(the Keras distribution, a summary dict for logs and MLflow params) for `spec`.

    The global batch is `batch_size` whatever the number of processes: each of `processes` feeds
    its `batch_size / processes` examples per step (the training feed shards every batch, Keras'
    own per-process auto-sharding of tf.data is off)."""
    import keras

    processes = cluster.count() if processes is None else processes
    if batch_size % processes:
        raise ValueError(f"train.batch_size ({batch_size}) must be divisible by the {processes} processes "
                         f"(each feeds an equal part of every batch)")

    devices = keras.distribution.list_devices()
    if spec.devices is not None and processes > 1 and spec.devices != len(devices):
        raise ValueError(f"distribution.devices={spec.devices}: with {processes} processes every device of "
                         f"every process takes part ({len(devices)}); leave distribution.devices out")
    if spec.devices is not None:
        if spec.devices > len(devices):
            raise ValueError(f"distribution.devices={spec.devices} but only {len(devices)} devices are "
                             f"available: {', '.join(devices)}")
        devices = devices[:spec.devices]
    if batch_size % len(devices):
        raise ValueError(f"the global batch (train.batch_size={batch_size}) must be divisible by "
                         f"the {len(devices)} devices of data_parallel"
                         + (f" ({processes} processes)" if processes > 1 else ""))
    summary = {"distribution.type": "data_parallel", "distribution.device_count": len(devices),
               "distribution.devices": ",".join(devices), "distribution.processes": processes,
               "train.global_batch_size": batch_size,
               "train.per_process_batch_size": batch_size // processes,
               "train.per_device_batch_size": batch_size // len(devices)}
    return keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False), summary


def scope(spec, batch_size: int):
    """(context manager, summary): the distribution's scope, or a no-op when `spec` is None."""
    if spec is None:
        return contextlib.nullcontext(), {}
    distribution, summary = data_parallel(spec, batch_size)
    return distribution.scope(), summary


@contextlib.contextmanager
def without():
    """No distribution inside (models built, data fed on this process's devices alone); the one
    in force before comes back afterwards. What process 0 evaluates and records in, once the
    processes have trained together."""
    import keras

    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)
