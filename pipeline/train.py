"""One `pipeline run`: data -> model -> `model.fit` -> test evaluation, all recorded in one MLflow run."""

from __future__ import annotations

import contextlib
import math
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from pipeline import backend as backends
from pipeline import tracking
from pipeline.components import build
from pipeline.data.checks import load_source
from pipeline.data.preprocess import fit_preprocessing, log_preprocessing
from pipeline.data.split import Splits, class_balance, split_dataset
from pipeline.data.targets import fit_target_scaling
from pipeline.keras_compat import save_model, set_seed
from pipeline.performance import execution_scope
from pipeline.recipe import LoadedRecipe
from pipeline.recipe.hashing import stable_hash


@dataclass
class RunResult:
    run_id: str
    test_metrics: dict[str, float]
    history: dict[str, list[float]]
    fit_seconds: float


def prepare_data(loaded: LoadedRecipe):
    """Build the source, split it, fit preprocessing on the training split only."""
    plan = loaded.plan
    data = load_source(loaded)  # labels as the task reads them, checked: bad data stops here as a recipe error
    split_cfg = plan.recipe.data.split
    splits = split_dataset(data, val=split_cfg.val, test=split_cfg.test, stratify=split_cfg.stratify,
                           seed=plan.recipe.seed if split_cfg.seed is None else split_cfg.seed,
                           kfold=split_cfg.kfold, fold=split_cfg.fold)
    from pipeline.data.training_data import make_long_tailed

    make_long_tailed(splits, plan.recipe.data.imbalance_ratio, plan.recipe.seed)  # demo data only
    fit_preprocessing(splits, [build(p) for p in plan.preprocess])  # training split only
    fit_target_scaling(splits, plan.recipe.data.standardize_targets)  # regression: training targets' mean, std
    return data, splits


def build_compiled_model(loaded: LoadedRecipe, input_shape, steps_per_epoch: int, target_scaling=None):
    from pipeline.build.model import build_model
    from pipeline.build.training import compile_model

    plan = loaded.plan
    model = build_model(plan.layers, plan.outputs, input_shape, name=plan.recipe.name, target_scaling=target_scaling)
    compile_model(model, plan, steps_per_epoch)
    return model


def run(loaded: LoadedRecipe, tracking_uri: str | None = None, echo=print,
        parent_run_id: str | None = None, run_name: str | None = None,
        extra_callbacks: tuple = (), evaluate_test: bool = True) -> RunResult:
    """Train and evaluate `loaded`; the MLflow run ends FINISHED, or FAILED with the error recorded.

    `parent_run_id` makes it a nested run of that run (a fold, a search trial), shown under it in
    the MLflow UI; it works across processes since it is only the `mlflow.parentRunId` tag.
    `evaluate_test=False` (search trials) leaves the test split unread: a trial is chosen on
    validation, and the chosen recipe gets its one test evaluation when it is run on its own.
    `extra_callbacks` are Keras callbacks added after the recipe's (a search's trial abort, backup).
    """
    recipe = loaded.plan.recipe
    backends.activate(loaded.resolved["backend"])
    import mlflow
    import yaml

    uri = tracking.tracking_uri(tracking_uri)
    experiment_id = tracking.connect(uri, recipe.track.experiment)
    tags = {"recipe.hash": loaded.hash, "recipe.file": loaded.file, "backend": loaded.resolved["backend"],
            **tracking.versions(), **recipe.track.tags,
            "plugins": ", ".join(sorted(str(p) for p in loaded.plan.providers))}
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name or recipe.track.run_name or recipe.name,
                          tags=tags, nested=parent_run_id is not None) as active, contextlib.ExitStack() as scopes:
        run_id = active.info.run_id
        model = None
        from pipeline.metrics_logger import MLflowMetricsLogger

        logger = MLflowMetricsLogger(run_id)
        try:
            tracking.log_params(tracking.flatten({k: v for k, v in loaded.resolved.items()
                                                  if k not in ("name", "description", "search")}))
            mlflow.log_text(yaml.safe_dump(loaded.resolved, sort_keys=False), "recipe.yaml")
            set_seed(recipe.seed)
            data, splits = prepare_data(loaded)
            fingerprint = data.fingerprint()
            mlflow.set_tags({"data.fingerprint": fingerprint,
                             "recipe.id": stable_hash(loaded.hash, fingerprint)})
            balanced = splits.sizes() if recipe.task == "classification" else {}  # regression: no classes
            mlflow.log_params({f"data.size.{k}": v for k, v in splits.sizes().items()}
                              | {f"data.balance.{k}": class_balance(getattr(splits, f"y_{k}")) for k in balanced}
                              | {f"data.{k}": v for k, v in data.info.items()})
            log_preprocessing(splits.preprocessors)
            steps_per_epoch = math.ceil(len(splits.x_train) / recipe.train.batch_size)
            scopes.enter_context(execution_scope(loaded.plan, steps_per_epoch, echo))  # precision, device, parallel
            model = build_compiled_model(loaded, splits.x_train.shape[1:], steps_per_epoch, splits.target_scaling)
            from pipeline.build.data_init import finish_initialization  # constant-kernel warning, LSUV

            finish_initialization(model, splits.x_train, seed=recipe.seed)
            from pipeline import transfer  # init_from, freeze (after LSUV: loaded weights win)

            mlflow.log_params(transfer.prepare(model, loaded.plan, steps_per_epoch))
            mlflow.log_param("model.parameters", model.count_params())
            if recipe.train.scale_lr_with_batch:  # the rate actually used, next to the recipe's
                from pipeline.build.training import learning_rate_used

                mlflow.log_param("train.optimizer.learning_rate_used", learning_rate_used(loaded.plan))
            if recipe.train.preflight:  # the `pipeline diagnose` checks; a failed one fails the run
                from pipeline.diagnostics.preflight import run_preflight

                run_preflight(loaded, (data, splits), echo)
            result = _fit_and_evaluate(model, loaded, splits, logger, extra_callbacks, evaluate_test, echo)
            from pipeline.data.preprocess_keras import with_preprocessing  # model.keras takes raw inputs

            _log_artifacts(with_preprocessing(model, splits.preprocessors, splits.raw_shape, splits.raw_dtype),
                           result.history, recipe.track.log_model)
            from pipeline.diagnostics.report import after_training  # verdict, curve readings, report

            after_training(model, loaded, splits, result.history, echo)
            echo(("test: " + "  ".join(f"{k}={v:.4f}" for k, v in result.test_metrics.items())
                  if result.test_metrics else "test split not evaluated (k-fold fold or search trial)")
                 + f"  (training took {result.fit_seconds:.1f} s)")
            echo(f"MLflow run id: {run_id} (experiment '{recipe.track.experiment}', {uri})")
            return result
        except BaseException as exc:
            logger.flush()  # the epochs before the failure stay on record
            _record_failure(exc, model)
            raise


def _fit_and_evaluate(model, loaded: LoadedRecipe, splits: Splits, logger, extra_callbacks=(),
                      evaluate_test: bool = True, echo=print) -> RunResult:
    import mlflow

    from pipeline.build.training import build_callbacks, log_test_reports
    from pipeline.diagnostics.monitors import attach  # explosion guard by default, probe batches

    train = loaded.plan.recipe.train
    from pipeline.data.training_data import fit_data  # arrays or the training feed (mix, oversampling)

    data = fit_data(loaded.plan, splits, classes=model.output_shape[-1], seed=loaded.plan.recipe.seed)
    if data.params:
        mlflow.log_params(data.params)
    # The logger goes first (after callbacks that only add to the logs, e.g. the learning rate) so an
    # epoch's metrics are recorded even if a later callback stops the run.
    started = time.perf_counter()
    callbacks = attach(build_callbacks(loaded.plan, logger), loaded.plan, splits.x_train, splits.y_train)
    from pipeline.transfer import fit_in_stages  # one model.fit, or phases at train.unfreeze epochs

    fit_in_stages(model, loaded.plan, echo=echo, **data.train, validation_data=data.validation,
                  epochs=train.epochs, verbose=train.verbose, callbacks=[*callbacks, *extra_callbacks])
    fit_seconds = time.perf_counter() - started
    test_metrics = {}
    if evaluate_test and len(splits.x_test):  # k-fold folds and search trials leave the test split alone
        # The test split is read here, once, after training and model selection are over.
        scores = model.evaluate(splits.x_test, data.y_test, batch_size=train.batch_size, verbose=0,
                                return_dict=True)
        test_metrics = {f"test_{k}": float(v) for k, v in scores.items()}
        if train.tta is not None:  # logged beside, never instead of, the plain test metrics
            from pipeline.tta import evaluate_tta

            test_metrics |= evaluate_tta(model, loaded.plan, splits.x_test, data.y_test, train.batch_size)
        # end-of-run reports on the test split (e.g. the confusion matrix), logged as artifacts
        log_test_reports(model, loaded.plan, splits.x_test, splits.y_test, train.batch_size)
    else:  # the model as kept (best weights, if restored) on its validation split / held-out fold
        x_val, y_val = data.validation
        scores = model.evaluate(x_val, y_val, batch_size=train.batch_size, verbose=0, return_dict=True)
        mlflow.log_metrics({f"final_val_{k}": float(v) for k, v in scores.items()})
    mlflow.log_metrics({**test_metrics, "fit_time_s": fit_seconds})
    return RunResult(logger.run_id, test_metrics, logger.history, fit_seconds)


def _log_artifacts(model, history: dict, log_model: bool) -> None:
    import mlflow

    from pipeline.plots import learning_curves

    if history:
        fig = learning_curves(history)
        mlflow.log_figure(fig, "plots/learning_curves.png")
        import matplotlib.pyplot as plt

        plt.close(fig)
    if log_model:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.keras"
            save_model(model, path)
            mlflow.log_artifact(str(path), "model")


def _record_failure(exc: BaseException, model) -> None:
    """Mark the run FAILED with the reason, and keep the model as it was when training stopped."""
    import mlflow

    reason = "interrupted by the user" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
    mlflow.set_tag("error", reason[:5000])
    mlflow.log_text("".join(traceback.format_exception(exc)), "error.txt")
    if model is not None:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "last.keras"
                save_model(model, path)
                mlflow.log_artifact(str(path), "checkpoints")
        except Exception as save_error:  # the original failure matters more than a lost checkpoint
            print(f"warning: could not save the model after the failure: {save_error}", file=sys.stderr)
    mlflow.end_run(status="KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
