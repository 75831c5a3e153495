"""The learning rate a run starts from, as the recipe writes it and as the batch-size rule scales it.

Its own module because the speed settings (which print it) and compiling the model (which uses it)
both need it, and neither may import the other.
"""

from __future__ import annotations

from pipeline.recipe.validate import Plan


def base_learning_rate(plan: Plan) -> float:
    """The optimizer's learning rate as the recipe writes it (its factory default when unset)."""
    optimizer = plan.optimizer
    params = optimizer.entry.signature.parameters
    default = params["learning_rate"].default if "learning_rate" in params else 0.001
    return optimizer.kwargs.get("learning_rate", default)


def learning_rate_used(plan: Plan) -> float:
    """The learning rate training starts from (a schedule's peak): the recipe's, times
    `batch_size / scale_lr_with_batch` when that rule is on (Goyal et al.: batch k times larger,
    learning rate k times larger)."""
    train = plan.recipe.train
    lr = base_learning_rate(plan)
    if train.scale_lr_with_batch:
        lr = lr * train.batch_size / train.scale_lr_with_batch
    return lr
