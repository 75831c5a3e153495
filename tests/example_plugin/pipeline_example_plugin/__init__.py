"""Example plugin for keras-recipe-pipeline: registers `example.scaled_tanh` and `example.smooth_l1`.

Importing this module only registers factories; it imports no framework (each factory imports the
Keras classes from `keras_objects` when called), so `pipeline validate` stays instant. The
factories' type hints are the schema the validator checks recipes against.
"""

from __future__ import annotations

from pipeline.registries import Regularizer, layers, regularizers

#: The modules holding this plugin's Keras classes: `pipeline.saving.load_model` (and `init_from`)
#: import them before loading a saved model that may contain them.
KERAS_MODULES = ("pipeline_example_plugin.keras_objects",)


@layers.register("scaled_tanh")
def scaled_tanh(scale: float = 1.7159, slope: float = 2 / 3, learn_scale: bool = False,
                scale_regularizer: Regularizer | None = None, name: str | None = None):
    """scale * tanh(slope * x); LeCun's 1.7159 * tanh(2x/3) by default, with an optionally learned scale.

    Args:
        scale: the output amplitude `a` (the initial value when learned). Defaults to 1.7159.
        slope: the input gain `b`. Defaults to 2/3.
        learn_scale: train `a` with the rest of the model. Defaults to False.
        scale_regularizer: a regularizer spec for the learned `a`. Defaults to None.
        name: the layer's name. Defaults to None (Keras picks one).
    """
    from pipeline_example_plugin.keras_objects import ScaledTanh

    return ScaledTanh(scale=scale, slope=slope, learn_scale=learn_scale,
                      scale_regularizer=scale_regularizer, name=name)


@regularizers.register("smooth_l1")
def smooth_l1(factor: float = 0.01, delta: float = 1.0):
    """factor * sum huber(w, delta): L2 near zero, L1 beyond `delta` (large weights are not crushed).

    Args:
        factor: the penalty's weight in the loss. Defaults to 0.01.
        delta: where the penalty turns from quadratic to linear. Defaults to 1.0.
    """
    from pipeline_example_plugin.keras_objects import SmoothL1

    return SmoothL1(factor=factor, delta=delta)
