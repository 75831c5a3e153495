"""Training callbacks. Their Keras classes (where Keras has none) live in `plugins/callbacks_keras.py`."""

from __future__ import annotations

from typing import Literal

from pipeline.registries import callbacks
from pipeline.values import NonNegativeFloat, NonNegativeInt, Rate


@callbacks.register("early_stopping")
def early_stopping(monitor: str = "val_loss", patience: NonNegativeInt = 10, min_delta: NonNegativeFloat = 0.0,
                   mode: Literal["auto", "min", "max"] = "auto", restore_best_weights: bool = True,
                   start_from_epoch: NonNegativeInt = 0, smoothing: Rate = 0.0):
    """Stop when the validation metric stops improving and keep the best weights (selection on validation, never test).

    smoothing: s in [0, 1) compares an exponential moving average m = s m + (1 - s) v of the
    monitored value instead of the raw, noisy curve (0.6 is TensorBoard's default slider); the
    weights restored are those of the epoch with the best smoothed value.
    """
    from plugins.callbacks_keras import SmoothedEarlyStopping

    return SmoothedEarlyStopping(smoothing=smoothing, monitor=monitor, patience=patience,
                                 min_delta=min_delta, mode=mode,
                                 restore_best_weights=restore_best_weights,
                                 start_from_epoch=start_from_epoch)


@callbacks.register("model_checkpoint", aliases=("checkpoint",))
def model_checkpoint(monitor: str = "val_loss", mode: Literal["auto", "min", "max"] = "auto",
                     save_best: bool = True, save_last: bool = True):
    """Save the best (by monitor) and the last model; logged to the run as checkpoints/best.keras, last.keras."""
    from plugins.callbacks_keras import RunCheckpoint

    return RunCheckpoint(monitor=monitor, mode=mode, save_best=save_best, save_last=save_last)


@callbacks.register("lr_logger", aliases=("learning_rate_logger",))
def lr_logger():
    """Record the learning rate of each epoch (as metric learning_rate), to see a schedule or warmup at work."""
    from plugins.callbacks_keras import LearningRateLogger

    return LearningRateLogger()


@callbacks.register("warmup")
def warmup(epochs: NonNegativeFloat = 1.0):
    """Raise a plain learning rate linearly from 0 over the first epochs; for schedules use warmup_epochs."""
    from plugins.callbacks_keras import LinearWarmupCallback

    return LinearWarmupCallback(epochs=epochs)
