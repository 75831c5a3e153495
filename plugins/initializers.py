"""Weight initializers: the variance of the first draw decides whether signals survive depth."""

from __future__ import annotations

from pipeline.registries import initializers


def _keras(cls_name: str, **kwargs):
    import keras

    return getattr(keras.initializers, cls_name)(**kwargs)


@initializers.register("zeros")
def zeros():
    """All zeros: fine for biases; for weights every unit stays identical (no symmetry breaking)."""
    return _keras("Zeros")


@initializers.register("glorot_uniform", aliases=("xavier_uniform",))
def glorot_uniform(seed: int | None = None):
    """Xavier/Glorot uniform: U(-l, l) with variance 2 / (fan_in + fan_out)."""
    return _keras("GlorotUniform", seed=seed)


@initializers.register("glorot_normal", aliases=("xavier_normal",))
def glorot_normal(seed: int | None = None):
    """Xavier/Glorot normal: truncated normal with variance 2 / (fan_in + fan_out)."""
    return _keras("GlorotNormal", seed=seed)


@initializers.register("he_normal", aliases=("msra_normal", "kaiming_normal"))
def he_normal(seed: int | None = None):
    """He/MSRA normal: variance 2 / fan_in, which keeps ReLU activations' scale through depth."""
    return _keras("HeNormal", seed=seed)


@initializers.register("he_uniform", aliases=("msra_uniform", "kaiming_uniform"))
def he_uniform(seed: int | None = None):
    """He/MSRA uniform: variance 2 / fan_in."""
    return _keras("HeUniform", seed=seed)
