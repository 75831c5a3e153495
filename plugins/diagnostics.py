"""In-training diagnostics as callbacks: the loss-explosion guard and activation/gradient statistics.

Their Keras classes live in `pipeline/diagnostics/*_keras.py`. The guard is on in every run by default
(`diagnostics.explosion_factor`, false or null turns it off); listing it here in `train.callbacks` sets its own.
"""

from __future__ import annotations

from pipeline.registries import callbacks
from pipeline.values import PositiveFloat, PositiveInt


@callbacks.register("explosion_guard", aliases=("loss_explosion_guard",))
def explosion_guard(factor: PositiveFloat = 3.0, monitor: str = "loss"):
    """Fail the run when the loss passes factor x the initial loss or is NaN/Inf, keeping the last good weights."""
    from pipeline.diagnostics.explosion_keras import LossExplosionGuard

    return LossExplosionGuard(factor=factor, monitor=monitor)


@callbacks.register("activation_stats", aliases=("activation_statistics",))
def activation_stats(every: PositiveInt = 5, histograms: bool = True, gradients: bool = True):
    """Per-layer activation mean/std/saturated/dead, gradient norms and update/weight ratio on a probe batch, at init and every N epochs."""
    from pipeline.diagnostics.activations_keras import ActivationStatistics

    return ActivationStatistics(every=every, histograms=histograms, gradients=gradients)
