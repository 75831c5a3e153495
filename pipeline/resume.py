"""`pipeline run RECIPE --resume RUN_ID|last`: which run, whether it may go on, and from where.

A run continues under its own MLflow run id from its last epoch checkpoint, with exactly the recipe
it started with: any change to the resolved recipe is refused with the list of changed keys, except
a larger `train.epochs`, which extends a finished or stopped run (and `train.verbose` /
`train.checkpoint_every`, which change no number). Search trials are continued by `pipeline tune
--resume`; a k-fold run is resumed through its parent run (`pipeline/kfold.py`: finished folds are
kept, an interrupted fold continues from its checkpoint, the missing ones are trained).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from pipeline import heartbeat
from pipeline.errors import Problem, RecipeError
from pipeline.recipe import LoadedRecipe, locate

LAST = "last"
HARMLESS = {("train", "verbose"), ("train", "checkpoint_every")}  # change how a run looks, not its numbers
EPOCHS = ("train", "epochs")
UNFINISHED = ("KILLED", "FAILED", "died")


class ResumeError(RecipeError):
    """The run cannot be resumed with this recipe (exit 2, one line per reason)."""

    title = "cannot resume"
    located = True  # its problems carry their locations already


def _refuse(message: str) -> ResumeError:
    return ResumeError([Problem((), message)])


def kind(run) -> str:
    """plain | kfold (a cross-validation's parent) | fold | search (a search's parent or trial)."""
    tags = run.tags
    if "search.trial_id" in tags or tags.get("search.role") == "parent":
        return "search"
    if "kfold" in tags:
        return "kfold"
    if run.parent_run_id and "data.split.fold" in run.params:
        return "fold"
    return "plain"


def command(loaded: LoadedRecipe, uri: str, run_id: str) -> str:
    """The command that continues run `run_id` of `loaded` (same recipe file, overrides and store)."""
    from pipeline.tracking import DEFAULT_URI

    parts = ["pipeline", "run", loaded.file]
    for assignment in loaded.overrides:
        parts += ["--set", assignment]
    if uri != DEFAULT_URI:
        parts += ["--tracking-uri", uri]
    backend = os.environ.get("KERAS_BACKEND")
    env = f"KERAS_BACKEND={shlex.quote(backend)} " if backend else ""
    return env + shlex.join([*parts, "--resume", run_id])


def _same_file(a: str | None, b: str) -> bool:
    return a is not None and Path(a).resolve() == Path(b).resolve()


def choose(loaded: LoadedRecipe, uri: str, wanted: str, want_kind: str):
    """The run `wanted` names (an id, or `last`: the newest unfinished run of this recipe file in
    the recipe's experiment), checked to be of the kind this recipe trains. Returns a RunRecord."""
    from pipeline.tracking import runs

    experiment = loaded.plan.recipe.track.experiment
    if wanted == LAST:
        candidates = [r for r in runs.list_runs(uri, experiment, limit=500)
                      if heartbeat.state(r.status, r.tags) in UNFINISHED and kind(r) == want_kind
                      and _same_file(r.tags.get("recipe.file"), loaded.file)]
        if not candidates:
            raise _refuse(f"no unfinished run of {loaded.file} in experiment '{experiment}' of {uri} "
                          f"(`pipeline runs --experiment {experiment}` lists its runs)")
        return candidates[0]
    try:
        run = runs.get_run(uri, wanted)
    except LookupError as exc:
        raise _refuse(str(exc)) from None
    found = kind(run)
    if found == "search":
        raise _refuse(f"run {wanted} belongs to a hyperparameter search: continue the search with "
                      f"`pipeline tune RECIPE --resume` (an interrupted trial continues from its last epoch)")
    if found == "fold":
        raise _refuse(f"run {wanted} is one fold of a cross-validation: resume the cross-validation with its "
                      f"parent run, `--resume {run.parent_run_id}`")
    if found != want_kind:
        what = {"kfold": "a cross-validation (data.split.kfold)", "plain": "a single training run"}
        raise _refuse(f"run {wanted} is {what[found]}, but {loaded.file} trains {what[want_kind]}")
    return run


def _leaves(tree, path=()) -> dict[tuple, object]:
    """{key path: value} of the scalars in `tree` (an empty mapping or list holds none)."""
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _leaves(value, (*path, key)).items()}
    if isinstance(tree, list):
        return {k: v for i, value in enumerate(tree) for k, v in _leaves(value, (*path, i)).items()}
    return {path: tree}


def recipe_changes(logged: dict, current: dict) -> tuple[list[tuple[tuple, object, object]], int | None]:
    """([(key path, logged value, current value)] that forbid resuming, the logged epochs when a
    larger `train.epochs` extends the run). `description` is free text and not compared."""
    old = {k: v for k, v in _leaves(logged).items() if k[:1] != ("description",)}
    new = {k: v for k, v in _leaves(current).items() if k[:1] != ("description",)}
    missing = object()
    changes, extended_from = [], None
    for path in sorted(set(old) | set(new), key=lambda p: tuple(map(str, p))):
        before, after = old.get(path, missing), new.get(path, missing)
        if before == after or path in HARMLESS:
            continue
        if path == EPOCHS and isinstance(before, int) and isinstance(after, int) and after > before:
            extended_from = before
            continue
        changes.append((path, "(absent)" if before is missing else before, "(absent)" if after is missing else after))
    return changes, extended_from


@dataclass
class Resumption:
    run: object  # the RunRecord being continued
    extended_from: int | None  # its train.epochs, when a larger one extends it


def check(loaded: LoadedRecipe, uri: str, run) -> Resumption:
    """Refuse (ResumeError) a run that still runs, a finished one not being extended, or a changed recipe."""
    import yaml

    from pipeline.tracking import runs

    state = heartbeat.state(run.status, run.tags)
    if state == "RUNNING":
        raise _refuse(f"run {run.run_id} is still running ({heartbeat.describe(run.tags)}): stop it first "
                      f"(SIGTERM writes its checkpoint and marks it KILLED)")
    text = runs.load_text(uri, run.run_id, "recipe.yaml")
    logged = yaml.safe_load(text) if text else None
    changes, extended_from = recipe_changes(logged, loaded.resolved) if logged else ([], None)
    if changes:
        raise ResumeError([locate(Problem(path, f"changed since run {run.run_id} started: {before!r} -> {after!r}"),
                                  loaded.marks) for path, before, after in changes]
                          + [Problem((), "a run continues with the recipe it started with; only a larger "
                                         "train.epochs extends it (start a new run for anything else)")])
    if state == "FINISHED" and extended_from is None:
        epochs = loaded.plan.recipe.train.epochs
        raise _refuse(f"run {run.run_id} finished its {epochs} epochs: nothing to resume (to train it longer, "
                      f"raise train.epochs, e.g. --set train.epochs={2 * epochs})")
    return Resumption(run, extended_from)


def sync_journal(run_logger, folder) -> tuple[int, int]:
    """Write the epochs the run's journal holds but the store lacks (the process died before its
    queued store write). Returns (the last epoch the store holds, metric points written): a resumed
    run does not log that epoch again (epochs after its checkpoint may be there already, recorded
    before the process died)."""
    from pipeline.checkpoint import files

    journal = files.read_journal(folder.resume)
    stored_through, written = max(journal, default=-1), 0
    for key in {k for metrics in journal.values() for k in metrics} | {"loss"}:
        steps = {step for step, _ in run_logger.metric_history(key)}
        for epoch, metrics in sorted(journal.items()):
            if epoch not in steps and key in metrics:
                run_logger.log_metrics({key: metrics[key]}, step=epoch)
                written += 1
        stored_through = max([stored_through, *steps])
    return stored_through, written


def read_checkpoint(run_logger, folder, resumption: Resumption) -> tuple[dict | None, int]:
    """(the run's latest epoch checkpoint, or None when it wrote none and starts afresh; the last
    epoch the store holds), after bringing the store up to date from the run's journal. A remote
    run's checkpoint is fetched from its artifacts first."""
    from pipeline.checkpoint import files, location

    location.fetch(run_logger, folder)
    state = files.read(folder.resume)
    stored_through, _ = sync_journal(run_logger, folder)
    if state is not None:
        state["extended"] = resumption.extended_from is not None
    return state, stored_through


def replay_journal(uri: str, run) -> int:
    """For `pipeline report`: write a died run's journaled epochs into the store; returns how many
    metric points were missing."""
    from pipeline.checkpoint import location
    from pipeline.tracking.run_logger import RunLogger

    logger = RunLogger(uri, run.run_id, run.experiment_id)
    return sync_journal(logger, location.run_folder(logger))[1]
