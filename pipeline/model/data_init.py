"""Initialization that needs the built model (and data): run by the trainer between building and fit.

Two things an initializer cannot do alone, because Keras calls it with a shape and nothing else:

- know its role. `zeros`/`constant` are right for biases and wrong for kernels (identical units get
  identical gradients and never become different), so `warn_symmetric_kernels` looks at the layers
  and warns, naming the layer, when a constant initializer fills a kernel of more than one unit.
- see data. An initializer that needs data offers `calibrate` (the `DataDependent` protocol below),
  e.g. LSUV (Mishkin & Matas, 2016), which rescales each layer's kernel until the layer's output
  variance on a batch of training data is 1: `apply_data_dependent_init` finds those layers, runs
  the batch through the model and hands each one its layer's output until it is done.

`finish_initialization` does both and costs one walk over the layers when no initializer needs data.
Imports no framework at module level; every tensor operation goes through `keras.ops`.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Iterator, Protocol, runtime_checkable

import numpy as np

from pipeline.lazy import LazyModule

keras = LazyModule("keras")

#: Attributes holding the initializer of a weight that maps inputs to several units (a kernel), and
#: the weight each one fills.
KERNEL_INITIALIZERS = {"kernel_initializer": "kernel", "depthwise_initializer": "depthwise_kernel",
                       "pointwise_initializer": "pointwise_kernel",
                       "recurrent_initializer": "recurrent_kernel"}


class SymmetricKernelWarning(UserWarning):
    """A kernel starts with every weight equal: its units can never learn different features."""


def _sublayers(model) -> list:
    """Every layer inside `model`, nested ones too (e.g. a dense layer wrapped with its normalizer)."""
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is not None:
        return list(flatten(include_self=False, recursive=True))
    return list(getattr(model, "layers", []))


def _constant_value(initializer) -> float | None:
    if isinstance(initializer, keras.initializers.Zeros):
        return 0.0
    if isinstance(initializer, keras.initializers.Ones):
        return 1.0
    if isinstance(initializer, keras.initializers.Constant):
        return float(np.asarray(keras.ops.convert_to_numpy(initializer.value)).reshape(-1)[0])
    return None


def warn_symmetric_kernels(model) -> list[str]:
    """Warn (`SymmetricKernelWarning`) for each kernel filled with one value; return 'layer.attr' names.

    A kernel whose weight has a single unit (e.g. `units: 1`) has nothing to be symmetric with and is
    not reported; neither are biases, normalization scales or PReLU slopes, whose constant starts are
    the norm.
    """
    found = []
    for layer in _sublayers(model):
        for attr, weight_name in KERNEL_INITIALIZERS.items():
            value = _constant_value(getattr(layer, attr, None))
            if value is None:
                continue
            weight = getattr(layer, weight_name, None)
            shape = tuple(getattr(weight, "shape", ()) or ())
            if shape and shape[-1] == 1:
                continue
            found.append(f"{layer.name}.{attr}")
            units = f"{shape[-1]} units" if shape else "units"
            warnings.warn(
                f"layer '{layer.name}': {attr} gives all its {units} the same weights ({value:g}); they "
                f"compute the same output and, unless the layers above tell them apart, get the same "
                f"gradient and stay identical (no symmetry breaking). Use a random initializer for "
                f"kernels (e.g. glorot_uniform, he_normal); constants are for biases.",
                SymmetricKernelWarning, stacklevel=2)
    return found


# -- data-dependent initialization ------------------------------------------------------------------
@runtime_checkable
class DataDependent(Protocol):
    """An initializer that finishes its work on data once the model is built (e.g. LSUV).

    The core never imports the plugin that defines one: it asks any `kernel_initializer` whether it
    offers this protocol.
    """

    batch_size: int  # training examples it wants in the calibration batch

    def calibrate(self, layer, output, steps: int) -> dict[str, Any] | None:
        """Look at `layer`'s output on the calibration batch (before any fused activation), after
        `steps` earlier calls; adjust the layer's weights and return None to see the output again,
        or return the layer's report (e.g. its final output statistics) when done."""


def data_dependent_layers(model) -> list:
    """The layers (nested ones included) whose `kernel_initializer` calibrates on data, in definition order."""
    return [layer for layer in _sublayers(model)
            if isinstance(getattr(layer, "kernel_initializer", None), DataDependent)]


class _Reached(Exception):
    """Raised by a hooked layer to end the forward pass once its output has been recorded."""


@contextlib.contextmanager
def _hooked(layers: list, record, stop: bool) -> Iterator[None]:
    """Within the block each of `layers` calls `record(layer, output)` after computing its output
    (its fused activation switched off), then ends the forward pass if `stop`.

    A hook on the layer's `call` rather than a sub-model to the layer's output: it also reaches layers
    nested inside others (a dense layer wrapped with its normalizer, a residual block's convs), which
    have no output tensor in the outer graph, and the forward pass stops at the measured layer.
    """
    saved = []
    try:
        for layer in layers:
            original = layer.call

            def call(*args, _layer=layer, _original=original, **kwargs):
                output = _original(*args, **kwargs)
                record(_layer, output)
                if stop:
                    raise _Reached(_layer.name)
                return output

            # object.__setattr__: no attribute tracking (Keras, TF's AutoTrackable) sees the swap.
            object.__setattr__(layer, "call", call)
            activation = getattr(layer, "activation", None)
            if activation is not None:
                object.__setattr__(layer, "activation", keras.activations.linear)
            saved.append((layer, activation))
        yield
    finally:
        for layer, activation in saved:
            object.__delattr__(layer, "call")
            if activation is not None:
                object.__setattr__(layer, "activation", activation)


def _forward(model, x) -> None:
    with contextlib.suppress(_Reached):
        model(x, training=False)


def apply_data_dependent_init(model, x_batch) -> dict[str, dict[str, Any]]:
    """Calibrate each data-dependent layer on `x_batch` until its initializer says it is done.

    Layers are calibrated in the order the data reaches them, so each one sees its inputs as already
    calibrated. The forward passes run in inference mode (dropout off, batch norm on its moving
    statistics), so calibration is deterministic and changes nothing but what the initializers adjust.

    Returns:
        {layer name: the report its initializer returned} for every layer the data reaches.
    """
    targets = data_dependent_layers(model)
    if not targets:
        return {}
    x_batch = keras.ops.convert_to_tensor(x_batch)
    order: list = []

    def first_call(layer, _output):
        if layer not in order:
            order.append(layer)

    with _hooked(targets, first_call, stop=False):
        model(x_batch, training=False)
    # A layer the data never reaches keeps its initial weights.
    report: dict[str, dict[str, Any]] = {}
    for layer in order:
        seen: dict[str, Any] = {}
        steps = 0
        with _hooked([layer], lambda _, output: seen.setdefault("output", output), stop=True):
            while True:
                seen.clear()
                _forward(model, x_batch)
                done = layer.kernel_initializer.calibrate(layer, seen["output"], steps)
                if done is not None:
                    break
                steps += 1
        report[layer.name] = done
    return report


def calibration_batch(model, x_train: np.ndarray, seed: int = 0) -> np.ndarray:
    """A random batch of the training inputs, as large as the largest data-dependent `batch_size` asks."""
    size = max(layer.kernel_initializer.batch_size for layer in data_dependent_layers(model))
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(x_train), size=min(size, len(x_train)), replace=False)
    return x_train[np.sort(rows)]


def finish_initialization(model, x_train: np.ndarray, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Warn about constant kernels, then calibrate data-dependent initializers (LSUV) on a batch of `x_train`."""
    warn_symmetric_kernels(model)
    if not data_dependent_layers(model):
        return {}
    return apply_data_dependent_init(model, calibration_batch(model, x_train, seed))
