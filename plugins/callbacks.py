"""Training callbacks."""

from __future__ import annotations

from typing import Literal

from pipeline.registries import callbacks


@callbacks.register("early_stopping")
def early_stopping(monitor: str = "val_loss", patience: int = 10, min_delta: float = 0.0,
                   mode: Literal["auto", "min", "max"] = "auto", restore_best_weights: bool = True,
                   start_from_epoch: int = 0):
    """Stop when the validation metric stops improving and keep the best weights (selection on validation, never test)."""
    import keras

    return keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, min_delta=min_delta,
                                         mode=mode, restore_best_weights=restore_best_weights,
                                         start_from_epoch=start_from_epoch)
