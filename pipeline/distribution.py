"""Data parallelism through `keras.distribution.DataParallel` (JAX backend): the model is
replicated on every local device and each global batch is split evenly across them, so one
device and N devices follow the same loss curve for the same global batch."""

from __future__ import annotations

import contextlib


def data_parallel(spec, global_batch_size: int):
    """(the Keras distribution, a summary dict for logs and MLflow params) for `spec`."""
    import keras

    devices = keras.distribution.list_devices()
    if spec.devices is not None:
        if spec.devices > len(devices):
            raise ValueError(f"distribution.devices={spec.devices} but only {len(devices)} devices are "
                             f"available: {', '.join(devices)}")
        devices = devices[:spec.devices]
    if global_batch_size % len(devices):
        raise ValueError(f"train.batch_size={global_batch_size} (the global batch) must be divisible by "
                         f"the {len(devices)} devices of data_parallel")
    summary = {"distribution.type": "data_parallel", "distribution.device_count": len(devices),
               "distribution.devices": ",".join(devices), "train.global_batch_size": global_batch_size,
               "train.per_device_batch_size": global_batch_size // len(devices)}
    return keras.distribution.DataParallel(devices=devices), summary


def scope(spec, global_batch_size: int):
    """(context manager, summary): the distribution's scope, or a no-op when `spec` is None."""
    if spec is None:
        return contextlib.nullcontext(), {}
    distribution, summary = data_parallel(spec, global_batch_size)
    return distribution.scope(), summary
