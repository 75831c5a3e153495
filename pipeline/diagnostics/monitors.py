"""The diagnostics callbacks a run gets without asking, and the probe data the statistics read."""

from __future__ import annotations

from pipeline import processes
from pipeline.recipe.validate import Plan

PROBE_SIZE = 256  # examples in the fixed probe batch of the statistics callbacks


def attach(callbacks: list, plan: Plan, x_train, y_train) -> list:
    """Add the default loss-explosion guard (unless the recipe turned it off or lists its own) and
    hand a fixed probe batch from the training split to callbacks that ask for one (`set_probe`).

    With several processes training one model no probe is handed out: a forward pass on it would be
    one process's alone. A callback that can do without (`probe_optional`) goes on; any other one
    is refused with the reason, before training."""
    from pipeline.diagnostics.explosion_keras import LossExplosionGuard

    out = list(callbacks)
    factor = plan.recipe.diagnostics.explosion_factor
    if factor and not any(isinstance(c, LossExplosionGuard) for c in out):
        out.append(LossExplosionGuard(factor=factor))
    count = processes.count()
    for callback in out:
        if not callable(getattr(callback, "set_probe", None)):
            continue
        if count == 1:
            callback.set_probe(x_train[:PROBE_SIZE], y_train[:PROBE_SIZE])
        elif not getattr(callback, "probe_optional", False):
            raise ValueError(f"{type(callback).__name__} runs the model on a probe batch, which one process "
                             f"cannot do while {count} processes train one model: remove it, or train "
                             f"in one process to use it")
    return out
