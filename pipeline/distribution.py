"""Data parallelism through `keras.distribution.DataParallel` (JAX backend): the model is
replicated on every local device and each global batch is split evenly across them, so one
device and N devices follow the same loss curve for the same global batch."""

from __future__ import annotations

import contextlib


def data_parallel(spec, batch_size: int, processes: int | None = None):
    """(the Keras distribution, a summary dict for logs and MLflow params) for `spec`.

    Each process feeds `batch_size` examples per step as its part of the global batch, so with
    several hosts (`jax.distributed.initialize`) the global batch is `batch_size` x processes."""
    import jax
    import keras

    processes = jax.process_count() if processes is None else processes
    global_batch_size = batch_size * processes

    devices = keras.distribution.list_devices()
    if spec.devices is not None:
        if spec.devices > len(devices):
            raise ValueError(f"distribution.devices={spec.devices} but only {len(devices)} devices are "
                             f"available: {', '.join(devices)}")
        devices = devices[:spec.devices]
    if global_batch_size % len(devices):
        raise ValueError(f"the global batch ({batch_size} x {processes} processes = {global_batch_size}) "
                         f"must be divisible by the {len(devices)} devices of data_parallel")
    summary = {"distribution.type": "data_parallel", "distribution.device_count": len(devices),
               "distribution.devices": ",".join(devices), "distribution.processes": processes,
               "train.global_batch_size": global_batch_size,
               "train.per_device_batch_size": global_batch_size // len(devices)}
    return keras.distribution.DataParallel(devices=devices), summary


def scope(spec, batch_size: int):
    """(context manager, summary): the distribution's scope, or a no-op when `spec` is None."""
    if spec is None:
        return contextlib.nullcontext(), {}
    distribution, summary = data_parallel(spec, batch_size)
    return distribution.scope(), summary
