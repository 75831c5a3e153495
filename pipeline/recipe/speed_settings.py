"""Recipe settings for speed (`train.steps_per_execution`, `jit_compile`, `precision`, `device`,
and the `distribution` section): plain types checked without importing a framework."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict

from pipeline.values import INT32_MAX, PositiveInt

Precision = Literal["float32", "mixed_bfloat16", "mixed_float16"]


def _auto_or_positive_int(value: Any) -> Union[str, int]:
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 0 < value <= INT32_MAX):
        return value
    raise ValueError(f"expected 'auto' or a positive integer. Received: {value!r}")


def _auto_or_bool(value: Any) -> Union[str, bool]:
    if value == "auto" or isinstance(value, bool):
        return value
    raise ValueError(f"expected 'auto', true or false. Received: {value!r}")


def _device(value: Any) -> str:
    """'auto', 'cpu', 'gpu', 'tpu', optionally with an index ('gpu:1'), as `keras.device` takes it."""
    kind, _, index = str(value).partition(":")
    if isinstance(value, str) and (value == "auto" or kind in ("cpu", "gpu", "tpu") and (not index or index.isdigit())):
        return value
    raise ValueError(f"expected 'auto', 'cpu', 'gpu' or 'tpu', optionally with an index ('gpu:1'). "
                     f"Received: {value!r}")


AutoOrPositiveInt = Annotated[Any, AfterValidator(_auto_or_positive_int)]
AutoOrBool = Annotated[Any, AfterValidator(_auto_or_bool)]
Device = Annotated[Any, AfterValidator(_device)]


class Distribution(BaseModel):
    """Data parallelism over local devices (`keras.distribution.DataParallel`, JAX backend):
    `train.batch_size` is the global batch, split evenly across the devices."""

    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["data_parallel"] = "data_parallel"
    devices: PositiveInt | None = None  # the first N local devices; all of them when absent
