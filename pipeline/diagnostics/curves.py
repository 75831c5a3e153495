"""Reading the per-epoch curves the way the course warns about: misleading shapes and LR health.

- "flat loss but rising accuracy": cross-entropy can stay flat while the argmax flips to the right
  class (the correct score only has to be slightly higher), so accuracy improves unseen in the loss.
- "validation loss rising while accuracy still improves": the model grows over-confident on the
  examples it gets wrong; early stopping on val_loss would stop while accuracy still gains.
- learning-rate health: "tiny loss change -> too small a learning rate", loss rising / NaN or
  oscillating -> too high.
"""

from __future__ import annotations

import math

import numpy as np

#: relative change of the loss below which it "barely moves" / is "flat"
FLAT = 0.02
#: accuracy gain (absolute) that counts as "rising"
RISING = 0.02


def _finite(values) -> np.ndarray:
    return np.asarray([v for v in values if v is not None], dtype=float)


def accuracy_key(history: dict) -> str | None:
    return next((k for k in ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy",
                             "binary_accuracy") if k in history or f"val_{k}" in history), None)


def flat_loss_rising_accuracy(history: dict, prefix: str = "") -> str | None:
    key = accuracy_key(history)
    loss, acc = history.get(prefix + "loss"), history.get(prefix + key) if key else None
    if not loss or not acc or len(loss) < 2:
        return None
    change = abs(loss[-1] - loss[0]) / max(abs(loss[0]), 1e-12)
    gain = acc[-1] - acc[0]
    if change < FLAT and gain > RISING:
        which = "validation" if prefix else "training"
        return (f"flat {which} loss ({loss[0]:.4g} -> {loss[-1]:.4g}, {change:.1%}) but rising accuracy "
                f"({acc[0]:.3f} -> {acc[-1]:.3f}): the correct class only has to score slightly higher for "
                f"accuracy to improve; judge progress on accuracy, not only the loss")
    return None


def val_loss_rising_accuracy_improving(history: dict) -> str | None:
    key = accuracy_key(history)
    loss, acc = history.get("val_loss"), history.get(f"val_{key}") if key else None
    if not loss or not acc or len(loss) < 3:
        return None
    best = int(np.argmin(loss))
    if best == len(loss) - 1:
        return None
    rise = (loss[-1] - loss[best]) / max(abs(loss[best]), 1e-12)
    gain = acc[-1] - acc[best]
    if rise > FLAT and gain > 0:
        return (f"validation loss rose {rise:.1%} after epoch {best + 1} ({loss[best]:.4g} -> {loss[-1]:.4g}) "
                f"while validation accuracy still improved ({acc[best]:.3f} -> {acc[-1]:.3f}): the model is "
                f"becoming over-confident on the examples it gets wrong. Early stopping on val_loss would have "
                f"stopped at epoch {best + 1}; monitor val_{key} if accuracy is what matters, and consider "
                f"regularization or label smoothing")
    return None


def learning_rate_health(history: dict) -> tuple[str, str]:
    """('ok' | 'too low' | 'too high', explanation) from the training loss per epoch."""
    raw = history.get("loss") or []
    if any(v is None or not math.isfinite(v) for v in raw):
        return "too high", "the training loss became NaN/Inf: lower the learning rate"
    loss = _finite(raw)
    if len(loss) < 2:
        return "ok", "too few epochs to judge the learning rate"
    first, last = loss[0], loss[-1]
    if last > first * (1 + FLAT):
        return "too high", (f"the training loss went up ({first:.4g} -> {last:.4g}): diverging; lower the "
                            f"learning rate (or add warmup)")
    steps = np.diff(loss)
    if len(steps) >= 4:
        ups = steps > 0
        flips = int(np.sum(ups[1:] != ups[:-1]))
        swing = np.abs(steps).mean() / max(abs(first - last), 1e-12)
        if ups.mean() >= 0.4 and flips >= len(steps) // 2 and swing > 0.5:
            return "too high", (f"the training loss oscillates (up in {int(ups.sum())} of {len(steps)} epochs, "
                                f"changes larger than its net decrease): lower the learning rate")
    if (first - last) / max(abs(first), 1e-12) < FLAT:
        return "too low", (f"the training loss barely moves ({first:.4g} -> {last:.4g}, "
                           f"{(first - last) / max(abs(first), 1e-12):.1%}): raise the learning rate "
                           f"(pipeline lr-find suggests one), or check that gradients flow (pipeline diagnose)")
    return "ok", f"the training loss decreases steadily ({first:.4g} -> {last:.4g})"


def findings(history: dict) -> list[str]:
    """Every curve warning that applies, as sentences."""
    out = [flat_loss_rising_accuracy(history), flat_loss_rising_accuracy(history, "val_"),
           val_loss_rising_accuracy_improving(history)]
    return [f for f in out if f]
