"""Weight initializers: the variance of the first draw decides whether signals survive depth.

For a kernel of shape (..., fan_in_channels, units), fan_in = kernel area x input channels and
fan_out = kernel area x units (the course: "for conv layers, fan_in is filter_size^2 * input_channels").

Constant initializers (`zeros`, `constant`) are right for biases and wrong for kernels: units that
start with identical weights compute the same thing and, unless the layers above tell them apart, get
the same gradient, so they never become different. The trainer warns when one is used as a kernel initializer
(`pipeline.model.data_init.warn_symmetric_kernels`): only the layer knows which role an initializer
plays, so the check looks at the built model, not at the initializer.
"""

from __future__ import annotations


from pipeline.registries import initializers
from pipeline.values import PositiveFloat, PositiveInt, Seed


def _keras(cls_name: str, **kwargs):
    import keras

    return getattr(keras.initializers, cls_name)(**kwargs)


@initializers.register("zeros")
def zeros():
    """All zeros: right for biases; as a kernel every unit stays identical (no symmetry breaking: warned)."""
    return _keras("Zeros")


@initializers.register("constant")
def constant(value: float = 0.0):
    """Every weight = `value`: for biases (e.g. 0.01 before ReLU); as a kernel no symmetry breaking (warned)."""
    return _keras("Constant", value=value)


@initializers.register("small_normal", aliases=("random_normal",))
def small_normal(stddev: PositiveFloat = 0.01, seed: Seed | None = None):
    """N(0, stddev^2), stddev 0.01: the course's "first idea"; fine for small nets, signals vanish in deep ones.

    Args:
        stddev: standard deviation of the draw, independent of the layer's size. 1.0 reproduces the
            course's saturating tanh network. Defaults to 0.01.
        seed: seed of the draw. Defaults to None.
    """
    return _keras("RandomNormal", mean=0.0, stddev=stddev, seed=seed)


@initializers.register("glorot_uniform", aliases=("xavier_uniform",))
def glorot_uniform(seed: Seed | None = None):
    """Xavier/Glorot uniform: U(-l, l) with variance 2 / (fan_in + fan_out)."""
    return _keras("GlorotUniform", seed=seed)


@initializers.register("glorot_normal", aliases=("xavier_normal",))
def glorot_normal(seed: Seed | None = None):
    """Xavier/Glorot normal: truncated normal with variance 2 / (fan_in + fan_out)."""
    return _keras("GlorotNormal", seed=seed)


@initializers.register("he_normal", aliases=("msra_normal", "kaiming_normal"))
def he_normal(seed: Seed | None = None):
    """He/MSRA normal: variance 2 / fan_in, which keeps ReLU activations' scale through depth."""
    return _keras("HeNormal", seed=seed)


@initializers.register("he_uniform", aliases=("msra_uniform", "kaiming_uniform"))
def he_uniform(seed: Seed | None = None):
    """He/MSRA uniform: variance 2 / fan_in."""
    return _keras("HeUniform", seed=seed)


@initializers.register("lecun_normal")
def lecun_normal(seed: Seed | None = None):
    """LeCun normal: truncated normal with variance 1 / fan_in (the course's std = 1/sqrt(fan_in); SELU's init)."""
    return _keras("LecunNormal", seed=seed)


@initializers.register("lecun_uniform")
def lecun_uniform(seed: Seed | None = None):
    """LeCun uniform: U(-l, l) with variance 1 / fan_in."""
    return _keras("LecunUniform", seed=seed)


@initializers.register("orthogonal")
def orthogonal(gain: PositiveFloat = 1.0, seed: Seed | None = None):
    """Orthogonal (Saxe et al., 2014): all singular values = gain (W^T W = gain^2 I): no direction grows or shrinks.

    Args:
        gain: factor applied to the orthogonal matrix (e.g. sqrt(2) before ReLU). Defaults to 1.0.
        seed: seed of the draw. Defaults to None.

    A kernel of more than two axes is drawn as a (kernel area x input channels, units) matrix.
    """
    return _keras("Orthogonal", gain=gain, seed=seed)


@initializers.register("lsuv")
def lsuv(tol: PositiveFloat = 0.1, max_iter: PositiveInt = 10, batch_size: PositiveInt = 256,
         seed: Seed | None = None):
    """LSUV (Mishkin & Matas, 2016): orthogonal, then rescaled on a training batch to unit output variance.

    Args:
        tol: each layer is rescaled until |Var(output) - 1| < tol. Defaults to 0.1.
        max_iter: at most this many rescalings per layer. Defaults to 10.
        batch_size: calibration examples drawn from the training split. Defaults to 256.
        seed: seed of the orthogonal draw. Defaults to None.

    The trainer calibrates the layers in the order the data reaches them, before training starts:
    kernel /= sqrt(Var(layer output)) until within `tol` (the output is taken before a fused
    `activation:`, as in the paper, whose non-linearities are separate layers).
    """
    from plugins.initializers_keras import LSUV

    return LSUV(tol=tol, max_iter=max_iter, batch_size=batch_size, seed=seed)
