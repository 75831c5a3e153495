"""The fit loop: `model.fit` with the recipe's callbacks, in phases at the unfreeze epochs, from the
first epoch or from where an epoch checkpoint left off.

Callbacks, in order: those that only add to an epoch's logs (the learning rate), the run's metrics
logger (so an epoch is recorded even if a later callback stops the run), the recipe's others, the
default diagnostics (explosion guard), the caller's extras, `StopOnSignal`, and last the epoch
checkpoint (it saves what all the others did, and restores them after they reset).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from pipeline import processes, signals
from pipeline.recipe import LoadedRecipe


@dataclass
class Fitted:
    data: object  # pipeline.data.training_data.FitData: what fit and evaluate read
    history: dict[str, list[float]]  # the whole run's per-epoch metrics, epochs before a resume included
    seconds: float  # training time, the parts before a resume included
    notes: list[str] = field(default_factory=list)


def fit_in_stages(model, plan, echo=None, start_epoch: int = 0, stopped: bool = False, **fit_kwargs):
    """`model.fit(**fit_kwargs)`, split at the recipe's unfreeze epochs (one call when none).

    Between phases the scheduled layers become trainable and the model is recompiled
    (`transfer.recompile_for_fine_tuning`); callbacks see one `fit` per phase. Training ends early
    when a callback stops it (early stopping) in any phase.

    `start_epoch` (epochs a checkpoint holds) skips the phases finished before it: their unfreezing
    is applied, their `fit` is not run; the phase that holds the checkpoint's last epoch is fitted
    from `start_epoch` on. When that epoch ended the phase (or, `stopped`, the training), its `fit`
    runs no epoch but still calls the callbacks' `on_train_end` (early stopping restores the best
    weights there) exactly as the uninterrupted run did.
    """
    from pipeline.transfer import recompile_for_fine_tuning, unfreezing

    epochs = fit_kwargs.pop("epochs")
    steps = sorted((s for s in plan.recipe.train.unfreeze if s.epoch < epochs), key=lambda s: s.epoch)
    start = 0
    for step in [*steps, None]:
        end = epochs if step is None else step.epoch
        if end > start and end >= start_epoch:
            first = max(start, start_epoch)
            model.fit(**fit_kwargs, initial_epoch=first, epochs=first if stopped and first == start_epoch else end)
            if model.stop_training:
                return
        start = end
        if step is not None:
            layers = unfreezing(model, step)
            for layer in layers:
                layer.trainable = True
            lr = recompile_for_fine_tuning(model, plan, step)
            if echo:
                echo(f"epoch {step.epoch}: unfroze {', '.join(layer.name for layer in layers)}; learning rate {lr:g}")


def fit(model, loaded: LoadedRecipe, splits, run_logger, folder, resume_from: dict | None = None,
        stored_through: int = -1, extra_callbacks=(), echo=print, on_saved=None) -> Fitted:
    """Train `model` on the splits, recording each epoch in the run and checkpointing it in `folder`
    (a `pipeline.checkpoint.location.RunFolder`); `resume_from` (a checkpoint read back) continues
    after its last epoch; epochs up to `stored_through` are in the store already (not logged again);
    `on_saved(epochs)` hears of each checkpoint written."""
    from pipeline.model.training import build_callbacks
    from pipeline.checkpoint.callback_keras import EpochCheckpoint
    from pipeline.checkpoint.training_state import stateful_objects
    from pipeline.data.feed_keras import TrainingFeed
    from pipeline.data.training_data import fit_data  # arrays or the training feed (mix, oversampling)
    from pipeline.diagnostics.monitors import attach  # explosion guard by default, probe batches
    from pipeline.metrics_logger_keras import MetricsLogger
    from pipeline.signals_keras import StopOnSignal

    plan, train = loaded.plan, loaded.plan.recipe.train
    data = fit_data(plan, splits, classes=model.output_shape[-1], seed=plan.recipe.seed)
    if data.params:
        run_logger.log_params(data.params)
    metrics = MetricsLogger(run_logger, train.epochs, folder.resume)
    metrics.stored_through = stored_through
    callbacks = attach(build_callbacks(plan, metrics), plan, splits.x_train, splits.y_train)
    for callback in callbacks:
        if callable(getattr(callback, "set_run", None)):
            callback.set_run(run_logger, folder)
    callbacks = [*callbacks, *extra_callbacks, StopOnSignal()]
    feed = data.train["x"] if isinstance(data.train.get("x"), TrainingFeed) else None
    stateful, without = stateful_objects(callbacks, feed)
    start, stopped, notes = 0, False, []
    if resume_from is not None:
        start, stopped = resume_from["epochs_done"], resume_from["stop_training"] and not resume_from.get("extended")
        if without:
            notes.append(f"callbacks without saved state restart at epoch {start + 1}: {', '.join(without)}")
    checkpoint = [EpochCheckpoint(folder.resume, train.checkpoint_every, stateful,
                                  {"run_id": run_logger.run_id, "epochs": train.epochs}, resume_from, on_saved)
                  ] if processes.records() else []  # several processes: process 0 writes it, once
    started = time.perf_counter()
    with signals.batch_boundaries():
        try:
            fit_in_stages(model, plan, echo=echo, start_epoch=start, stopped=stopped, **data.train,
                          validation_data=data.validation_data(), epochs=train.epochs, verbose=train.verbose,
                          callbacks=[*callbacks, *checkpoint])
        except Exception as exc:  # several processes: a peer gone is said so, not as a backend error
            lost = processes.peer_lost(exc)
            if lost is None:
                raise
            raise lost from exc
    run_logger.flush()  # the last epochs are in the store before anything else is logged
    seconds = time.perf_counter() - started + (resume_from or {}).get("fit_seconds", 0.0)
    return Fitted(data, metrics.history, seconds, notes)


def steps_per_epoch(loaded: LoadedRecipe, splits) -> int:
    """Batches per epoch: data parallel feeds whole global batches only (`training_data._sharded`)."""
    batches = len(splits.x_train) / loaded.plan.recipe.train.batch_size
    return max(1, math.floor(batches)) if loaded.plan.recipe.distribution is not None else math.ceil(batches)
