"""KerasTuner underneath: its oracles pick the values, each trial is a recipe trained by `pipeline.train.run`.

A `Job` is everything a process needs to run the trials of one search stage; it is plain data (JSON)
so chief and workers (`pipeline.search.worker`) share it. The tuner subclasses KerasTuner's
`BaseTuner` and overrides only `run_trial`, so trial state, resume and chief/worker mode are its own.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from pipeline import repeats, tracking
from pipeline.diagnostics.explosion import LossExplosion
from pipeline.recipe import RecipeError, load_recipe
from pipeline.search.space import Dimension, apply_values, parse_space
from pipeline.tracking.runs import curves
from pipeline.train import run

TRIAL_TAG = "search.trial_id"


@dataclass
class Job:
    """One search stage, as data."""

    file: str  # the recipe the search came from
    base: dict  # the resolved recipe without its `search:` section
    space: dict  # the stage's space (narrowed after the first stage)
    tuner: str
    objective: str
    goal: str  # max | min
    max_trials: int
    epochs: int
    seed: int
    executions: int = 1
    abort_factor: float = 3.0
    hyperband_factor: int = 3
    stage: int = 0
    directory: str = "tuning"
    project: str = "stage0"
    parent_run_id: str | None = None
    tracking_uri: str | None = None
    rerun: bool = False  # train a trial even if a FINISHED run has its recipe.id

    @property
    def dims(self) -> list[Dimension]:
        dims, problems = parse_space(self.space)
        assert not problems, problems
        return sorted(dims, key=lambda d: d.when is not None)  # a condition's choice is declared first

    @property
    def project_dir(self) -> Path:
        return Path(self.directory) / self.project

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Job:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def hyperparameters(dims: list[Dimension]):
    """The space as KerasTuner HyperParameters: log sampling, steps, conditional scopes."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    for d in dims:
        cond = {"parent_name": d.when[0], "parent_values": list(d.when[1])} if d.when else {}
        if d.kind == "log_uniform":
            hp.Float(d.name, d.low, d.high, sampling="log", **cond)
        elif d.kind == "uniform":
            hp.Float(d.name, d.low, d.high, step=d.step, **cond)
        elif d.kind == "int":
            hp.Int(d.name, d.low, d.high, step=d.step or 1, **cond)
        else:
            hp.Choice(d.name, list(d.values), **cond)
    return hp


def make_oracle(job: Job):
    import keras_tuner as kt

    common = {"objective": kt.Objective(job.objective, job.goal), "seed": job.seed,
              "hyperparameters": hyperparameters(job.dims), "allow_new_entries": False,
              "tune_new_entries": False,
              # an aborted trial is a result, not a reason to end the search
              "max_consecutive_failed_trials": job.max_trials + 1}
    if job.tuner == "hyperband":
        return kt.oracles.HyperbandOracle(max_epochs=job.epochs, factor=job.hyperband_factor, **common)
    oracle = {"random": kt.oracles.RandomSearchOracle, "grid": kt.oracles.GridSearchOracle,
              "bayesian": kt.oracles.BayesianOptimizationOracle}[job.tuner]
    return oracle(max_trials=job.max_trials, **common)


def trial_recipe(job: Job, values: dict, execution: int = 0) -> dict:
    """The base recipe with the trial's values applied: a complete recipe `pipeline run` accepts."""
    tree = apply_values(job.base, job.dims, values)
    train = tree.setdefault("train", {})
    train["epochs"] = int(values.get("tuner/epochs", job.epochs))
    train["verbose"] = 0
    train["checkpoint_every"] = 0  # an interrupted trial continues from its BackupAndRestore folder
    track = tree.setdefault("track", {})
    track["log_model"] = False
    # one guard per trial: the run's own loss-explosion guard, at the search's factor
    tree["diagnostics"] = {**(tree.get("diagnostics") or {}), "explosion_factor": job.abort_factor}
    if execution:  # another initialization and shuffling, the same split
        tree.setdefault("data", {}).setdefault("split", {}).setdefault("seed", tree.get("seed", 42))
        tree["seed"] = tree.get("seed", 42) + execution
    return tree


def best_epoch_metrics(history: dict, objective: str, goal: str) -> dict[str, float]:
    """Every metric at the epoch where the objective is best (what KerasTuner does with a History)."""
    import keras_tuner as kt

    if objective not in history:
        raise kt.errors.FatalError(f"objective '{objective}' is not a metric the runs log. "
                                   f"Logged: {', '.join(sorted(history))}")
    curve = history[objective]
    worst = math.inf if goal == "min" else -math.inf
    best = (min if goal == "min" else max)(range(len(curve)),
                                             key=lambda i: curve[i] if math.isfinite(curve[i]) else worst)
    return {k: v[best] for k, v in history.items() if len(v) > best}


def short_reason(message: str | None) -> str:
    lines = [line for line in (message or "").strip().splitlines() if line.strip()]
    return lines[-1].split(": ", 1)[-1][:200] if lines else ""


def run_one_trial(job: Job, trial_id: str, values: dict) -> dict[str, float]:
    """Train the trial's recipe `executions` times (nested MLflow runs); mean of the best-epoch metrics.

    A trial recipe that a FINISHED run of the experiment already trained (same `recipe.id`: the same
    values, stage, trial and execution of the same search, e.g. a search started again from scratch)
    is not trained again: that run's logged curves score it, unless `job.rerun`.
    """
    import keras
    import keras_tuner as kt

    from pipeline.search.interrupt_keras import InterruptCheck

    trial_dir = job.project_dir / f"trial_{trial_id}"
    trial_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for execution in range(job.executions):
        tree = trial_recipe(job, values, execution)
        tree["track"]["tags"] = {**(tree["track"].get("tags") or {}), TRIAL_TAG: trial_id,
                                 "search.stage": str(job.stage), "search.execution": str(execution),
                                 "search.worker": os.environ.get("KERASTUNER_TUNER_ID", "tuner0")}
        file = trial_dir / (f"recipe_{execution}.yaml" if execution else "recipe.yaml")
        file.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
        try:
            loaded = load_recipe(file)
        except RecipeError as exc:
            raise kt.errors.FailedTrialError(f"invalid trial recipe: {exc}") from None
        earlier = None if job.rerun else repeats.earlier_run(loaded, tracking.tracking_uri(job.tracking_uri), nested=True)
        if earlier is not None:
            runs.append(best_epoch_metrics(curves(tracking.tracking_uri(job.tracking_uri), earlier), job.objective,
                                           job.goal))
            continue
        # per-trial backup: a trial interrupted mid-way resumes from its last finished epoch
        backup = keras.callbacks.BackupAndRestore(str(trial_dir / f"backup_{execution}"), double_checkpoint=True)
        name = f"stage {job.stage} trial {trial_id}" + (f" #{execution}" if job.executions > 1 else "")
        try:
            result = run(loaded, tracking_uri=job.tracking_uri, echo=lambda *a, **k: None,
                         parent_run_id=job.parent_run_id, run_name=name, evaluate_test=False,
                         extra_callbacks=(InterruptCheck(), backup))
        except (LossExplosion, kt.errors.FailedTrialError) as exc:  # the run's guard stopped an exploding trial
            end = getattr(exc, "run_end", None)  # the trial's run, FAILED: its id goes in the live table
            reason = str(exc) if isinstance(exc, kt.errors.FailedTrialError) else f"aborted: {str(exc).split('. ')[0]}"
            raise kt.errors.FailedTrialError(reason + (f" (MLflow run {end.run_id})" if end else "")) from None
        runs.append(best_epoch_metrics(result.history, job.objective, job.goal))
    keys = set.intersection(*(set(r) for r in runs))
    return {k: sum(r[k] for r in runs) / len(runs) for k in keys}


def row(job: Job, trial, seconds: float | None = None) -> str:
    """One line of the live table: trial, status, objective, values."""
    score = trial.score if trial.status == "COMPLETED" else None
    values = "  ".join(f"{k}={_fmt(v)}" for k, v in trial.hyperparameters.values.items())
    reason = f"  ({short_reason(trial.message)})" if trial.status != "COMPLETED" and trial.message else ""
    took = f"{seconds:6.1f}s" if seconds is not None else ""
    return f"{job.stage:>5} {trial.trial_id:>5}  {trial.status:<9} {_fmt(score):>10} {took}  {values}{reason}"


def header(job: Job) -> str:
    return f"{'stage':>5} {'trial':>5}  {'status':<9} {job.objective:>10} {'time':>7}  values"


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def tuner_class():
    """Defined on demand: importing KerasTuner imports Keras, which `pipeline validate` must not."""
    from keras_tuner.engine.base_tuner import BaseTuner

    class RecipeTuner(BaseTuner):
        def __init__(self, job: Job, oracle=None, echo=print):
            self.job = job
            self.echo = echo
            self._started = 0.0
            super().__init__(oracle or make_oracle(job), directory=job.directory, project_name=job.project,
                             overwrite=False)

        def run_trial(self, trial, *args, **kwargs):
            return run_one_trial(self.job, trial.trial_id, dict(trial.hyperparameters.values))

        def on_trial_begin(self, trial):
            self._started = time.perf_counter()

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            done = self.oracle.get_trial(trial.trial_id)
            self.echo(row(self.job, done, time.perf_counter() - self._started), flush=True)

        def save_model(self, trial_id, model, step=0):  # runs log their own models to MLflow
            pass

    return RecipeTuner
