"""The diagnostics callbacks a run gets without asking, and the probe data the statistics read."""

from __future__ import annotations

from pipeline import processes
from pipeline.recipe.validate import Plan

PROBE_SIZE = 256  # examples in the fixed probe batch of the statistics callbacks


def attach(callbacks: list, plan: Plan, x_train, y_train) -> list:
    """Add the default loss-explosion guard (unless the recipe turned it off or lists its own) and
    hand a fixed probe batch from the training split to callbacks that ask for one (`set_probe`)."""
    from pipeline.diagnostics.explosion_keras import LossExplosionGuard

    out = list(callbacks)
    factor = plan.recipe.diagnostics.explosion_factor
    if factor and not any(isinstance(c, LossExplosionGuard) for c in out):
        out.append(LossExplosionGuard(factor=factor))
    several = processes.count() > 1  # the guard's probe would be one process's forward pass alone:
    for callback in out:  # it reads its initial loss from the first (global) batch instead
        if several and isinstance(callback, LossExplosionGuard):
            continue
        if callable(getattr(callback, "set_probe", None)):
            callback.set_probe(x_train[:PROBE_SIZE], y_train[:PROBE_SIZE])
    return out
