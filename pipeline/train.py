"""One `pipeline run`, start to end: the run's lifecycle.

Open the MLflow run (or reopen it, `--resume`), assemble data and model (`pipeline/assemble.py`),
fit with an epoch checkpoint after every epoch (`pipeline/fit.py`), evaluate once
(`pipeline/evaluation.py`), log the model and the reports, and end the run FINISHED. Whatever
stops it instead ends it FAILED (an error) or KILLED (SIGTERM, SIGINT), with the reason, the model
as it was (`checkpoints/last.keras`) and the command that resumes it (tag `resume.command`).
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from dataclasses import dataclass, field

from pipeline import backend as backends
from pipeline import distribution, heartbeat, processes, signals, tracking
from pipeline.recipe import LoadedRecipe, Problem
from pipeline.recipe.hashing import recipe_id


@dataclass
class RunResult:
    run_id: str
    test_metrics: dict[str, float]
    history: dict[str, list[float]]
    fit_seconds: float
    metrics: dict[str, float] = field(default_factory=dict)  # every end-of-run metric logged (final_val_*, ...)


@dataclass
class RunEnd:
    """How a run that did not finish ended, attached to the exception as `run_end` for the CLI."""

    run_id: str
    status: str  # FAILED | KILLED
    epochs_done: int  # epochs the run's checkpoint holds
    resume_command: str


def run(loaded: LoadedRecipe, tracking_uri: str | None = None, echo=print,
        parent_run_id: str | None = None, run_name: str | None = None,
        extra_callbacks: tuple = (), evaluate_test: bool = True, resume: str | None = None,
        tags: dict[str, str] | None = None) -> RunResult:
    """Train and evaluate `loaded`; the MLflow run ends FINISHED, or FAILED/KILLED with the reason.

    `parent_run_id` makes it a nested run of that run (a fold, a search trial), shown under it in
    the MLflow UI; it works across processes since it is only the `mlflow.parentRunId` tag.
    `evaluate_test=False` (search trials) leaves the test split unread: a trial is chosen on
    validation, and the chosen recipe gets its one test evaluation when it is run on its own.
    `extra_callbacks` are Keras callbacks added after the recipe's (a search's trial abort, backup).
    `resume`: a run id (or `last`) to continue from its last epoch checkpoint (`pipeline/resume.py`).
    `tags`: more tags for a new run (e.g. `rerun.of`: the run it repeats on purpose).
    """
    from pipeline import resume as resuming
    from pipeline.tracking import runs

    recipe = loaded.plan.recipe
    backends.activate(loaded.resolved["backend"])
    uri = tracking.tracking_uri(tracking_uri)
    # several processes training one model: process 0 records the run, the others open no store
    experiment_id = tracking.connect(uri, recipe.track.experiment) if processes.records() else None
    resumption = None
    if resume is not None:  # a fold of a resumed cross-validation is chosen by its parent (kfold.py)
        record = runs.get_run(uri, resume) if parent_run_id else resuming.choose(loaded, uri, resume, "plain")
        resumption = resuming.check(loaded, uri, record)
    with signals.graceful_stop():
        session = _Session(loaded, uri, echo)
        try:
            session.open(experiment_id, parent_run_id, run_name, resumption, tags or {})
            return session.train(resumption, extra_callbacks, evaluate_test)
        except BaseException as exc:
            try:
                session.end(exc, resumption)
            except Exception as problem:  # e.g. the store went away: the first error is the one to see
                print(f"warning: could not record how run {getattr(session.logger, 'run_id', '?')} ended: "
                      f"{type(problem).__name__}: {problem}", file=sys.stderr)
            raise


class _Session:
    """One run being trained: what its failure path needs to know (the run, the model, the folder)."""

    def __init__(self, loaded: LoadedRecipe, uri: str, echo):
        self.loaded, self.uri, self.echo = loaded, uri, echo
        self.logger = self.folder = self.model = None
        self.epochs_done = 0  # epochs the newest epoch checkpoint holds
        self.nested = False

    def open(self, experiment_id: str, parent_run_id, run_name, resumption, extra_tags: dict) -> None:
        from pipeline import resume as resuming
        from pipeline.checkpoint.location import run_folder
        from pipeline.tracking.run_logger import RunLogger

        loaded, recipe = self.loaded, self.loaded.plan.recipe
        self.nested = bool(parent_run_id)
        if not processes.records():  # process 0 records the run; this one trains its part
            from pipeline.tracking.silent_logger import SilentRunLogger

            self.logger = SilentRunLogger(processes.index())
            self.folder = run_folder(self.logger)
            return
        if resumption is not None:
            self.logger = RunLogger.reopen(self.uri, resumption.run.run_id)
        else:
            from pipeline.tracking import labels  # the overrides in the name and as a tag, description, git

            tags = {"recipe.hash": loaded.hash, "recipe.file": loaded.file, "backend": loaded.resolved["backend"],
                    **tracking.versions(), **recipe.track.tags,
                    "plugins": ", ".join(sorted(str(p) for p in loaded.plan.providers)),
                    **labels.tags(loaded.overrides, recipe.description, loaded.file), **extra_tags}
            name = labels.run_name(run_name or recipe.track.run_name or recipe.name, loaded.overrides, loaded.file)
            self.logger = RunLogger.start(self.uri, experiment_id, name, tags, parent_run_id)
        if recipe.track.system_metrics:
            self.logger.monitor_system()
        self.folder = run_folder(self.logger)
        self.logger.set_tags(heartbeat.identity())
        if not self.nested:  # a nested run (fold, trial) is resumed through its parent
            self.logger.set_tags({"resume.command": resuming.command(loaded, self.uri, self.logger.run_id)})

    def train(self, resumption, extra_callbacks, evaluate_test: bool) -> RunResult:
        import yaml

        from pipeline import fit
        from pipeline.keras_compat import set_seed
        from pipeline.recipe.params import run_params
        from pipeline.speed import execution_scope

        loaded, logger, echo = self.loaded, self.logger, self.echo
        recipe = loaded.plan.recipe
        checkpoint, stored_through = self._resume_point(resumption)
        logger.log_params(run_params(loaded.plan))  # the recipe as it runs, defaults included
        logger.log_text(yaml.safe_dump(loaded.resolved, sort_keys=False), "recipe.yaml")
        set_seed(recipe.seed)
        data, splits = self._data(resumption)
        steps_per_epoch = fit.steps_per_epoch(loaded, splits)
        with execution_scope(loaded.plan, steps_per_epoch, echo) as used:  # precision, device, parallel
            logger.log_params(used)
            self.model = model = self._model(splits, steps_per_epoch, copy_weights=checkpoint is None)
            if recipe.train.preflight and resumption is None:  # `pipeline diagnose`; a failed check fails the run
                from pipeline.diagnostics.preflight import run_preflight

                run_preflight(loaded, (data, splits), logger, echo)
            if resumption is not None:
                echo(f"resuming run {logger.run_id} " + (f"after epoch {self.epochs_done} of {recipe.train.epochs}"
                                                         if checkpoint else "from epoch 1 (it saved no checkpoint)"))
            fitted = fit.fit(model, loaded, splits, logger, self.folder, checkpoint, stored_through,
                             extra_callbacks, echo, on_saved=self._saved)
            for note in fitted.notes:
                echo(f"note: {note}")
            if processes.count() > 1:  # process 0 evaluates and records on its own copy; the others leave
                from pipeline.saving import copy_on_this_process

                copy = copy_on_this_process(model, keep=processes.records())  # saving takes every process
                if copy is None:
                    self._close("FINISHED")
                    echo(f"process {processes.index()} of {processes.count()}: trained its part of every batch; "
                         f"process 0 evaluates and records the run")
                    return RunResult(logger.run_id, {}, fitted.history, fitted.seconds)
                self.model = model = copy
            # evaluated, saved and logged as one process's model: any batch size, raw inputs
            with distribution.without() if recipe.distribution is not None else contextlib.nullcontext():
                result = self._record(model, fitted, data, splits, evaluate_test)
        self._close("FINISHED")
        echo(f"MLflow run id: {logger.run_id} (experiment '{recipe.track.experiment}', {self.uri})")
        return RunResult(logger.run_id, result.test_metrics, fitted.history, fitted.seconds, result.metrics)

    def _record(self, model, fitted, data, splits, evaluate_test: bool):
        """After training: evaluate once, log the metrics, the model and the reports."""
        from pipeline.evaluation import evaluate

        loaded, logger, echo = self.loaded, self.logger, self.echo
        result = evaluate(model, loaded.plan, splits, fitted.data, evaluate_test)
        # one step past the last epoch's: the metrics the logged model is linked to (Model.log)
        end_step = max((len(v) for v in fitted.history.values()), default=0)
        logger.log_metrics({**result.metrics, "fit_time_s": fitted.seconds}, step=end_step)
        for path, artifact in result.artifacts.items():
            logger.log_output(path, artifact)
        from pipeline.data.preprocess_keras import with_preprocessing  # model.keras takes raw inputs

        self._log_model(with_preprocessing(model, splits.preprocessors, splits.raw_shape, splits.raw_dtype),
                        fitted.history, data, splits, end_step)
        from pipeline.diagnostics.report import after_training  # verdict, curve readings, report

        after_training(model, loaded, splits, fitted.history, logger, echo)
        echo(("test: " + "  ".join(f"{k}={v:.4f}" for k, v in result.test_metrics.items())
              if result.test_metrics else "test split not evaluated (k-fold fold or search trial)")
             + f"  (training took {fitted.seconds:.1f} s)")
        return result

    def _resume_point(self, resumption) -> tuple[dict | None, int]:
        """(the checkpoint a resumed run continues from, or None; the last epoch the store holds)."""
        if resumption is None:
            return None, -1
        from pipeline.resume import read_checkpoint

        checkpoint, stored_through = read_checkpoint(self.logger, self.folder, resumption)
        self.epochs_done = checkpoint["epochs_done"] if checkpoint else 0
        extended = resumption.extended_from
        self.logger.set_tags({"resume.at_epoch": self.epochs_done} | (
            {"train.epochs.extended": f"{extended} -> {self.loaded.plan.recipe.train.epochs}"} if extended else {}))
        return checkpoint, stored_through

    def _data(self, resumption):
        """The data and its splits, recorded in the run; a resumed run's data must be the same."""
        from pipeline.assemble import prepare_data
        from pipeline.data.preprocess import preprocessing_artifacts
        from pipeline.data.split import class_balance
        from pipeline.resume import ResumeError

        loaded, logger = self.loaded, self.logger
        data, splits = prepare_data(loaded)
        fingerprint = data.fingerprint()
        if resumption is not None:
            before = resumption.run.tags.get("data.fingerprint", fingerprint)
            if before != fingerprint:
                raise ResumeError([Problem(("data",), f"the data changed since run {logger.run_id} started "
                                                      f"(fingerprint {before} then, {fingerprint} now): start a new run")])
            logger.delete_tag("error")  # no longer failed; its recipe may have grown (train.epochs)
            logger.set_tags({"recipe.hash": loaded.hash})
            (self.folder.path / "last.keras").unlink(missing_ok=True)  # the interrupted model: stale now
        logger.set_tags({"data.fingerprint": fingerprint, "recipe.id": recipe_id(loaded.hash, fingerprint)})
        balanced = splits.sizes() if loaded.plan.recipe.task == "classification" else {}  # regression: no classes
        logger.log_params({f"data.size.{k}": v for k, v in splits.sizes().items()}
                          | {f"data.balance.{k}": class_balance(getattr(splits, f"y_{k}")) for k in balanced}
                          | {f"data.{k}": v for k, v in data.info.items()})
        for path, content in preprocessing_artifacts(splits.preprocessors).items():
            logger.log_bytes(content, path)
        from pipeline.tracking.datasets import split_datasets

        logger.log_inputs(split_datasets(loaded, data.name, fingerprint, splits))  # the run page's "Datasets"
        return data, splits

    def _model(self, splits, steps_per_epoch: int, copy_weights: bool):
        """The compiled model, initialized (LSUV, init_from: not for a resumed run, whose checkpoint
        holds the weights) and frozen as the recipe says; its params recorded."""
        from pipeline import transfer
        from pipeline.assemble import build_compiled_model
        from pipeline.model.data_init import finish_initialization  # constant-kernel warning, LSUV

        loaded, recipe = self.loaded, self.loaded.plan.recipe
        model = build_compiled_model(loaded, splits.x_train.shape[1:], steps_per_epoch, splits.target_scaling)
        finish_initialization(model, splits.x_train, seed=recipe.seed)
        # init_from and freeze come after LSUV: loaded weights win
        params = transfer.prepare(model, loaded.plan, steps_per_epoch, copy_weights, self.uri)
        params["model.parameters"] = model.count_params()
        params["train.jit_compile_used"] = model.jit_compile  # `auto` as Keras resolved it
        if recipe.train.scale_lr_with_batch:  # the rate actually used, next to the recipe's
            from pipeline.model.training import learning_rate_used

            params["train.optimizer.learning_rate_used"] = learning_rate_used(loaded.plan)
        self.logger.log_params(params)
        return model

    def _saved(self, epochs_done: int) -> None:
        self.epochs_done = epochs_done

    def _log_model(self, model, history: dict, data, splits, step: int) -> None:
        """The model (taking raw inputs) as `model/model.keras` and as the run's MLflow model
        (`pipeline/tracking/logged_model.py`), linked to the metrics logged at `step`."""
        import tempfile
        from pathlib import Path

        import numpy as np

        from pipeline.keras_compat import save_model
        from pipeline.learning_curves import learning_curves
        from pipeline.model.training import from_logits
        from pipeline.tracking import logged_model

        if history:
            self.logger.log_figure(learning_curves(history), "plots/learning_curves.png")
        plan = self.loaded.plan
        track = plan.recipe.track
        if not track.log_model:
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.keras"
            save_model(model, path)
            self.logger.log_artifact(path, "model")
            backend = self.loaded.resolved["backend"]
            config = {"task": plan.recipe.task, "class_names": data.class_names, "backend": backend,
                      "from_logits": from_logits(plan) if plan.recipe.task == "classification" else None,
                      "input_dtype": splits.raw_dtype, "batch_size": plan.recipe.train.batch_size}
            plugins = {p.distribution: p.version for p in plan.providers if p.distribution}
            example = np.asarray(data.x[:3], splits.raw_dtype)  # raw inputs, as the model takes them
            uri = logged_model.log_model(self.logger.run_id, path, example, config, step,
                                         logged_model.requirements(backend, plugins),
                                         register=None if self.nested else track.register)  # not folds
        self.logger.set_tags({"model.uri": uri})

    def _close(self, status: str) -> None:
        from pipeline.checkpoint import files

        if status == "FINISHED":
            files.drop_previous(self.folder.resume)
            self.logger.delete_tag("resume.command")
        if self.folder is not None:
            self.folder.publish(self.logger)
        self.logger.end(status)
        if callable(getattr(self.logger, "cleanup", None)):  # a silent process's temporary folder
            self.logger.cleanup()

    # -- the failure path --------------------------------------------------------------------------
    def end(self, exc: BaseException, resumption) -> None:
        """Mark the run FAILED or KILLED (never leave it RUNNING) and keep what it had: the epochs'
        metrics, the model as it was, the checkpoints; attach `RunEnd` to `exc` for the CLI."""
        from pipeline.resume import ResumeError

        if self.logger is None:
            return
        if isinstance(exc, ResumeError):  # refused after reopening (the data changed): put it back as it was
            if resumption.run.status != "RUNNING":
                self.logger.end(resumption.run.status)
            return
        from pipeline.tracking.run_logger import outcome

        status, reason = outcome(exc)
        for step in (self.logger.flush, self._keep_model, lambda: self._log_last_loss(exc)):  # each may fail alone
            try:
                step()
            except Exception as problem:
                print(f"warning: {problem}", file=sys.stderr)
        try:
            self.logger.set_tags({"error": reason[:5000]})
            self.logger.log_text("".join(traceback.format_exception(exc)), "error.txt")
        finally:
            self._close(status)
        if not processes.records():  # process 0 holds the run and says how it ended
            return
        from pipeline.resume import command

        exc.run_end = RunEnd(self.logger.run_id, status, self.epochs_done,
                             "" if self.nested else command(self.loaded, self.uri, self.logger.run_id))

    def _log_last_loss(self, exc: BaseException) -> None:
        """The loss that stopped the run (an explosion's NaN or runaway value; no epoch ended with it,
        so the `loss` curve lacks it) as the metric `loss_at_failure`, at the epoch it happened in."""
        loss = getattr(exc, "loss", None)
        if loss is not None:
            self.logger.log_metrics({"loss_at_failure": loss}, step=getattr(exc, "epoch", None) or 0)

    def _keep_model(self) -> None:
        """`checkpoints/last.keras`: the model as training left it, else (its variables lost, e.g. a
        second Ctrl-C inside a step, or a peer process gone mid-step) the model of the last epoch
        checkpoint. Several processes: this process's replica, saved without the others."""
        from pipeline.checkpoint import files
        from pipeline.checkpoint.training_state import restore_model
        from pipeline.keras_compat import save_model
        from pipeline.saving import clone_on_this_process, replica_of_this_process

        if self.model is None:
            return
        path = self.folder.path / "last.keras"
        path.parent.mkdir(parents=True, exist_ok=True)
        several = processes.count() > 1
        try:
            save_model(replica_of_this_process(self.model) if several else self.model, path)
            return
        except Exception as exc:
            lost = exc
        state = files.read(self.folder.resume)
        if state is None:
            raise RuntimeError(f"could not save the model after the failure ({lost}), and the run "
                               f"has no epoch checkpoint to take it from") from lost
        model = clone_on_this_process(self.model) if several else self.model
        restore_model(model, state)
        save_model(model, path)
        print(f"note: the model's state was lost ({str(lost).splitlines()[0][:300]}); checkpoints/last.keras "
              f"holds the model after epoch {state['epochs_done']} (the last epoch checkpoint)", file=sys.stderr)
