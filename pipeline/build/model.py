"""The model builder: one functional graph for both sequential lists and named-input graphs."""

from __future__ import annotations

from pipeline.components import build
from pipeline.performance import output_scope
from pipeline.recipe.validate import INPUT, LayerPlan


def build_model(layers: list[LayerPlan], outputs: list[str], input_shape: tuple[int, ...],
                name: str | None = None):
    """Wire the layers: each reads the previous node unless it names its `inputs:`."""
    import keras

    nodes = {INPUT: keras.Input(shape=tuple(input_shape), name=INPUT)}
    for plan in layers:
        with output_scope(plan.name in outputs):  # float32 outputs under a mixed precision policy
            layer = build(plan.layer)
        args = [nodes[n] for n in plan.inputs]
        nodes[plan.name] = layer(args[0] if len(args) == 1 else args)
    outs = [nodes[n] for n in outputs]
    return keras.Model(nodes[INPUT], outs[0] if len(outs) == 1 else outs, name=name or "recipe_model")
