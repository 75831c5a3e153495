"""The loss-explosion rule: a loss past `factor` x the initial loss, or not finite, means divergence.

The course's rule of thumb ("if the cost is ever > 3 * original cost, break out early"): training
that far above where it started will not come back, so stop it and say to lower the learning rate.
"""

from __future__ import annotations

import math


class LossExplosion(RuntimeError):
    """Training was stopped because the loss exploded; the message holds the reason and the advice,
    `loss` the exploded value and `epoch` (from 0) where (the failed run logs them)."""

    def __init__(self, message: str, loss: float | None = None, epoch: int | None = None):
        super().__init__(message)
        self.loss, self.epoch = loss, epoch


def exploded(loss: float, initial: float, factor: float) -> bool:
    """True when `loss` is NaN/Inf or above `factor` x `initial` (a non-positive initial loss only
    checks finiteness: no multiple of it is meaningful)."""
    if not math.isfinite(loss):
        return True
    return initial > 0 and loss > factor * initial


def explain(loss: float, initial: float, factor: float, epoch: int, step: int,
            learning_rate: float | None = None, kept: str = "") -> str:
    """The failure message: what happened, where, and what to change."""
    what = "became NaN/Inf" if not math.isfinite(loss) else \
        f"{loss:.4g} exceeded {factor:g} x the initial loss {initial:.4g}"
    lr = ""
    if learning_rate is not None and math.isfinite(learning_rate):
        lr = f" (it was {learning_rate:.3g}; try {learning_rate / 10:.3g})"
    return (f"loss explosion: the training loss {what} at epoch {epoch + 1}, step {step + 1}. "
            f"Lower the learning rate{lr}, or add warmup / gradient clipping"
            + (f"; {kept}" if kept else ""))
