"""Optimizer (with its schedule), loss, metrics and callbacks from a validated plan."""

from __future__ import annotations

import dataclasses

from pipeline.components import build
from pipeline.recipe.validate import Plan


def build_optimizer(plan: Plan, steps_per_epoch: int):
    """The optimizer; a recipe schedule takes the optimizer's learning rate as its peak."""
    optimizer = plan.optimizer
    if plan.schedule is not None:
        params = optimizer.entry.signature.parameters
        default = params["learning_rate"].default if "learning_rate" in params else 0.001
        base_lr = optimizer.kwargs.get("learning_rate", default)
        make = build(plan.schedule)
        schedule = make(base_lr, steps_per_epoch, plan.recipe.train.epochs)
        optimizer = dataclasses.replace(optimizer, kwargs={**optimizer.kwargs, "learning_rate": schedule})
    return build(optimizer)


def compile_model(model, plan: Plan, steps_per_epoch: int) -> None:
    model.compile(optimizer=build_optimizer(plan, steps_per_epoch), loss=build(plan.loss),
                  metrics=[build(m) for m in plan.metrics],
                  steps_per_execution=plan.recipe.train.steps_per_execution)


def build_callbacks(plan: Plan) -> list:
    return [build(c) for c in plan.callbacks]
