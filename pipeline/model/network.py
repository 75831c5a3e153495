"""The model builder: one functional graph for both sequential lists and named-input graphs."""

from __future__ import annotations

from pipeline.components import build
from pipeline.speed import output_scope
from pipeline.recipe.validate import INPUT, LayerPlan


def build_model(layers: list[LayerPlan], outputs: list[str], input_shape: tuple[int, ...],
                name: str | None = None, target_scaling=None):
    """Wire the layers: each reads the previous node unless it names its `inputs:`. `target_scaling`
    (standardized regression targets) adds the layer mapping the output back to the targets' units."""
    import keras

    nodes = {INPUT: keras.Input(shape=tuple(input_shape), name=INPUT)}
    for plan in layers:
        with output_scope(plan.name in outputs):  # float32 outputs under a mixed precision policy
            layer = build(plan.layer)
        args = [nodes[n] for n in plan.inputs]
        nodes[plan.name] = layer(args[0] if len(args) == 1 else args)
    outs = [nodes[n] for n in outputs]
    model = keras.Model(nodes[INPUT], outs[0] if len(outs) == 1 else outs, name=name or "recipe_model")
    if target_scaling is None:
        return model
    from pipeline.model.target_scaling_keras import with_target_scaling

    return with_target_scaling(model, target_scaling)
