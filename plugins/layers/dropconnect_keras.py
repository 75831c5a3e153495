"""DropConnect layers (Wan et al., ICML 2013): drop weights, not activations, in training.

Imported by the factories in `dropconnect.py` only. `keras.ops` and `keras.random` only, so the layers
run on every backend; the mask comes from a `keras.random.SeedGenerator` the layer owns, whose state
advances each step (a fresh mask per step, also inside a compiled JAX/TF train step).
"""

from __future__ import annotations

import keras
from keras import ops

PACKAGE = "pipeline"


class DropConnectMixin:
    """The shared part: the rate, the seed generator and the kernel a call uses."""

    def _init_dropconnect(self, rate, seed):
        if not 0 <= rate < 1:
            raise ValueError(f"Expected 0 <= rate < 1 for DropConnect. Received: rate={rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def connections(self, training=False):
        """The kernel in use: at inference all weights, unchanged (deterministic); in training each
        weight zeroed with probability `rate` and the survivors scaled by 1/(1-rate), with one fresh
        mask per call (shared by the batch)."""
        kernel = self.kernel
        if training and self.rate > 0:
            # the variable's current value (inside a JAX train step, the step's own copy)
            kernel = keras.random.dropout(ops.convert_to_tensor(kernel), self.rate,
                                          seed=self.seed_generator)
        return kernel

    def _dropconnect_config(self):
        return {"rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class DropConnectDense(DropConnectMixin, keras.layers.Dense):
    """`activation(x (M * W) / (1 - rate) + b)` in training, M ~ Bernoulli(1 - rate) per weight;
    `activation(x W + b)` at inference.

    Why scale: E[M * W / (1 - rate)] = W, so every pre-activation keeps its expected value and
    inference can use all weights as they are (the course's "test: use all the connections")
    instead of multiplying them by 1 - rate. (Wan et al. infer with a Gaussian moment-matching
    approximation instead; the mean is the same.) The bias is never dropped. One mask per step is
    shared by the batch: a mask per example, as in the paper, costs a weight matrix per example.
    """

    def __init__(self, units, rate=0.5, seed=None, **kwargs):
        super().__init__(units, **kwargs)
        self._init_dropconnect(rate, seed)

    def call(self, inputs, training=None):
        x = ops.matmul(inputs, self.connections(training))
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def get_config(self):
        return {**super().get_config(), **self._dropconnect_config()}


class _DropConnectConv(DropConnectMixin):
    def call(self, inputs, training=None):
        # BaseConv.call, with the dropped kernel (and Conv1D's causal padding)
        padding = self.padding
        if padding == "causal":
            inputs = ops.pad(inputs, self._compute_causal_padding())
            padding = "valid"
        outputs = ops.conv(inputs, self.connections(training), strides=list(self.strides),
                           padding=padding, dilation_rate=self.dilation_rate,
                           data_format=self.data_format)
        if self.use_bias:
            if self.data_format == "channels_last":
                shape = (1,) * (self.rank + 1) + (self.filters,)
            else:
                shape = (1, self.filters) + (1,) * self.rank
            outputs = ops.add(outputs, ops.reshape(self.bias, shape))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def get_config(self):
        return {**super().get_config(), **self._dropconnect_config()}


@keras.saving.register_keras_serializable(package=PACKAGE)
class DropConnectConv1D(_DropConnectConv, keras.layers.Conv1D):
    """Conv1D whose kernel weights (not outputs) are dropped in training; see `DropConnectDense`."""

    def __init__(self, filters, kernel_size, rate=0.5, seed=None, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self._init_dropconnect(rate, seed)


@keras.saving.register_keras_serializable(package=PACKAGE)
class DropConnectConv2D(_DropConnectConv, keras.layers.Conv2D):
    """Conv2D whose kernel weights (not outputs) are dropped in training; see `DropConnectDense`."""

    def __init__(self, filters, kernel_size, rate=0.5, seed=None, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self._init_dropconnect(rate, seed)
