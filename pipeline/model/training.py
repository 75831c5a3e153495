"""Optimizer (with its schedule), loss, metrics and callbacks from a validated plan."""

from __future__ import annotations

import dataclasses
from typing import Any

from pipeline import speed
from pipeline.components import build
from pipeline.data.batches import keras_inputs
from pipeline.model.binary import accuracy_for_logits
from pipeline.model.classification_report import automatic_reports
from pipeline.model.learning_rate import learning_rate_used
from pipeline.model.regression_report import regression_reports
from pipeline.model.soft_labels import dense_loss, dense_metrics
from pipeline.recipe.lint import argument
from pipeline.recipe.validate import Plan


def build_optimizer(plan: Plan, steps_per_epoch: int):
    """The optimizer; a recipe schedule takes the (scaled) learning rate as its peak."""
    optimizer = plan.optimizer
    lr = learning_rate_used(plan)
    if plan.schedule is not None:
        make = build(plan.schedule)
        lr = make(lr, steps_per_epoch, plan.recipe.train.epochs)
    if plan.schedule is not None or plan.recipe.train.scale_lr_with_batch:
        optimizer = dataclasses.replace(optimizer, kwargs={**optimizer.kwargs, "learning_rate": lr})
    return build(optimizer)


def from_logits(plan: Plan) -> bool | None:
    """Whether the recipe's loss reads logits (its `from_logits`, else the factory's default); None
    for a loss without that argument (e.g. the hinge loss reads raw scores)."""
    if "from_logits" not in plan.loss.entry.signature.parameters:
        return None
    return bool(argument(plan.loss, "from_logits", False))


def is_test_split_report(obj: Any) -> bool:
    """A metric entry whose object is not compiled into the model but computed once, on the test
    split's predictions, at the end of the run (e.g. `confusion_matrix`): it has a method
    `test_split_report(y_true, y_pred) -> {artifact path: matplotlib figure | dict | str}`."""
    return callable(getattr(obj, "test_split_report", None))


def build_metrics(plan: Plan) -> tuple[list, list]:
    """(metrics for `model.compile`, end-of-run test-split reports)."""
    built = [build(m) for m in plan.metrics]
    return ([m for m in built if not is_test_split_report(m)],
            [m for m in built if is_test_split_report(m)])


def compile_model(model, plan: Plan, steps_per_epoch: int, optimizer=None) -> None:
    """Compile with the recipe's loss, metrics and speed settings; `optimizer` replaces the
    recipe's (fine-tuning phases recompile with a fresh one at a lower rate)."""
    import keras

    from pipeline.model.target_scaling_keras import standardized_loss

    metrics, _ = build_metrics(plan)
    loss = standardized_loss(build(plan.loss), model)  # standardized targets: the loss in their units
    if plan.mix is not None:  # batch mixing trains on soft labels
        loss, metrics = dense_loss(loss), dense_metrics(metrics)
    metrics = accuracy_for_logits(metrics, model, from_logits(plan))  # one logit output: accuracy at P = 0.5
    train = plan.recipe.train
    model.compile(optimizer=optimizer or build_optimizer(plan, steps_per_epoch), loss=loss, metrics=metrics,
                  steps_per_execution=speed.steps_per_execution(train.steps_per_execution, steps_per_epoch,
                                                                      keras.config.backend()),
                  jit_compile=train.jit_compile)  # auto: Keras' choice (XLA on JAX and TensorFlow)


def build_callbacks(plan: Plan, logger=None) -> list:
    """The recipe's callbacks, with `logger` (the MLflow metrics logger) placed after those that
    only add values to an epoch's logs (`adds_logs = True`, e.g. `lr_logger`) and before the rest,
    so it records those values and still records an epoch that a later callback stops."""
    built = [build(c) for c in plan.callbacks]
    if logger is None:
        return built
    first = [c for c in built if getattr(c, "adds_logs", False)]
    return [*first, logger, *(c for c in built if not getattr(c, "adds_logs", False))]


def test_reports(model, plan: Plan, x_test, y_test, batch_size: int) -> tuple[dict[str, float], dict]:
    """The recipe's test-split reports (if any) and the automatic ones, from one prediction pass over
    the test split: (metrics, {artifact path: figure | dict | text}) for the run to log."""
    _, reports = build_metrics(plan)
    reports = [*reports, *automatic_reports(y_test, from_logits(plan)), *regression_reports(plan)]
    metrics, artifacts = {}, {}
    if not reports:
        return metrics, artifacts
    y_pred = model.predict(**keras_inputs(x_test, None, batch_size), verbose=0)
    for report in reports:
        if hasattr(report, "test_split_metrics"):  # numbers, logged as the run's test metrics
            metrics.update(report.test_split_metrics(y_test, y_pred))
        artifacts.update(report.test_split_report(y_test, y_pred))
    return metrics, artifacts
