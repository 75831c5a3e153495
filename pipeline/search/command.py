"""`pipeline tune RECIPE`: the stages of a search, the parent MLflow run, the report and the best recipe."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import nullcontext
from pathlib import Path

import yaml

from pipeline import backend, tracking
from pipeline.errors import Problem, parse_key_path
from pipeline.recipe import RecipeError, load_recipe
from pipeline.search import report
from pipeline.search.settings import Stage
from pipeline.search.space import apply_values, parse_search, parse_space
from pipeline.search.stages import narrow
from pipeline.search.tuner import Job, header, tuner_class
from pipeline.search.workers import mlflow_server, run_parallel
from pipeline.tracking.run_logger import RunLogger


#: `--set` keys that a recipe's `search.stages` would otherwise override stage by stage
STAGE_KEYS = {("train", "epochs"): "epochs", ("search", "max_trials"): "max_trials"}


def _stages(settings, base: dict, overrides=()) -> tuple[list[Stage], list[str]]:
    """The search's stages, and a note per `--set` that changed them.

    The command line wins: `--set train.epochs=1` or `--set search.max_trials=2` replaces the
    epochs or trial count of every stage the recipe's `search.stages` lists (a quick try of a
    staged search), and says so; `--set search.stages[0].epochs=...` edits one stage as usual.
    """
    if not settings.stages:
        return [Stage(epochs=base["train"]["epochs"], max_trials=settings.max_trials)], []
    stages, notes = list(settings.stages), []
    for assignment in overrides:
        key = assignment.partition("=")[0].strip()
        field = STAGE_KEYS.get(parse_key_path(key)) if key else None
        if field is not None:
            value = base["train"]["epochs"] if field == "epochs" else settings.max_trials
            was = ", ".join(str(getattr(s, field) or settings.max_trials) for s in stages)
            stages = [s.model_copy(update={field: value}) for s in stages]
            notes.append(f"--set {key}={value} applies to every stage of search.stages ({field} {was} -> {value})")
    return stages, notes


def _param(path: str) -> str:
    """'model.layers[3].rate' -> 'model.layers.3.rate', as trial runs name the param."""
    return path.replace("[", ".").replace("]", "")


def run_stage(job: Job, workers: int, chief=None):
    """Run one stage's trials in this process, in `workers` processes, or on the chief's workers; return its oracle."""
    if chief is not None:
        return chief.run_stage(job)
    if workers > 1:
        return run_parallel(job, workers, job.tracking_uri)

    tuner = tuner_class()(job)
    tuner.search(verbose=0)
    return tuner.oracle


def _lost(uri: str, experiment_id: str, job: Job, trial_id: str, reason: str) -> None:
    """Mark KILLED the runs a lost worker left RUNNING for this trial (its process could not)."""
    from pipeline.search.tuner import TRIAL_TAG
    from pipeline.tracking.run_logger import RunLogger
    from pipeline.tracking.runs import children

    for run in children(uri, job.parent_run_id, experiment_id):
        if (run.status == "RUNNING" and run.tags.get(TRIAL_TAG) == trial_id
                and run.tags.get("search.stage") == str(job.stage)):
            RunLogger(uri, run.run_id, experiment_id).fail(f"{reason}: the trial went to another worker",
                                                           status="KILLED")


def work(recipe: str, overrides=(), chief: str = "127.0.0.1:8000", tracking_uri: str | None = None,
         directory: str | None = None, echo=print) -> int:
    """`pipeline tune RECIPE --worker --chief HOST:PORT`: run the chief's trials until its search is done."""
    loaded = load_recipe(recipe, overrides)  # the chief checks it is the recipe it searches
    from pipeline import backend

    backend.activate(loaded.resolved["backend"])  # before KerasTuner imports Keras
    from pipeline.plugins import load_plugins
    from pipeline.search.remote_worker import tuner_id, work as take_trials

    load_plugins()
    name = loaded.resolved.get("name") or Path(recipe).stem
    folder = Path(directory or Path("tuning") / f"{name}-workers" / tuner_id())
    folder.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")  # else the chief's
    return take_trials(chief, loaded.hash, str(folder), uri, echo=echo)


def tune(recipe: str, overrides=(), tracking_uri: str | None = None, resume: bool = False, workers: int = 1,
         directory: str | None = None, output: str | None = None, chief: tuple[str, int] | None = None,
         worker_timeout: float = 60.0, echo=print, rerun: bool = False) -> dict:
    """Run the recipe's search; return {'best': row, 'recipe': path of the best recipe, 'parent_run_id': id}.

    With `chief` (host, port) the trials run on workers that ask this process for them (`work`);
    `rerun` trains every trial, even one a FINISHED run already trained."""
    loaded = load_recipe(recipe, overrides)
    data = loaded.resolved
    if not data.get("search"):
        raise RecipeError([Problem(("search",), "no 'search:' section: `pipeline tune` needs one "
                                   "(docs/search.md)", loaded.marks.get(()))])

    backend.activate(data["backend"])  # before KerasTuner imports Keras

    settings, _ = parse_search(data)
    base = {k: v for k, v in data.items() if k != "search"}
    name = base.get("name") or Path(recipe).stem
    folder = Path(directory or Path("tuning") / name)
    if not resume and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state_file = folder / "search.json"
    state = json.loads(state_file.read_text()) if resume and state_file.exists() else {}

    uri = tracking.tracking_uri(tracking_uri)
    experiment_id = tracking.connect(uri, loaded.plan.recipe.track.experiment)  # created once, here
    server = nullcontext(uri)
    if workers > 1 and uri.startswith("sqlite:"):
        server = mlflow_server(uri)
    stages, notes = _stages(settings, base, loaded.overrides)
    for note in notes:
        echo(f"note: {note}")
    seed = base.get("seed", 42) if settings.seed is None else settings.seed
    hosts = nullcontext()
    if chief is not None:
        from pipeline.search.chief import Chief

        hosts = Chief(chief, loaded.hash, worker_timeout, echo=echo,
                      on_lost=lambda job, trial_id, reason: _lost(uri, experiment_id, job, trial_id, reason))
    # the trials' store (a local server for workers, else the store itself); the chief serving workers
    with server as log_uri, hosts:
        # the parent run is written to the store itself, never while workers log
        tags = {"search.role": "parent", "recipe.file": str(recipe), "recipe.hash": loaded.hash}
        if state.get("parent_run_id"):
            parent = RunLogger.reopen(uri, state["parent_run_id"])
            parent.set_tags(tags)
        else:
            parent = RunLogger.start(uri, experiment_id, f"search {name}", tags)
        with parent.until_done():
            parent_id = parent.run_id
            state_file.write_text(json.dumps({"parent_run_id": parent_id}))
            if "parent_run_id" not in state:
                used = settings.model_dump(exclude={"space", "stages"}) | {"seed": seed, "direction": settings.goal}
                parent.log_params({f"search.{k}": v for k, v in used.items()}  # values used, never 'None'
                                  | {"search.stages": len(stages), "search.workers": workers}
                                  | ({"search.chief": f"{chief[0]}:{chief[1]}"} if chief else {}))
                parent.log_params({f"space.{_param(k)}": json.dumps(v)[:500] for k, v in settings.space.items()})
                parent.log_text(yaml.safe_dump(data, sort_keys=False), "recipe.yaml")
            space = settings.space
            stage_trials = []
            job = None
            for i, stage in enumerate(stages):
                job = Job(file=str(recipe), base=base, space=space, tuner=settings.tuner,
                          objective=settings.objective, goal=settings.goal,
                          max_trials=stage.max_trials or settings.max_trials, epochs=stage.epochs,
                          seed=seed + i, executions=settings.executions_per_trial,
                          abort_factor=settings.abort_factor, hyperband_factor=settings.hyperband_factor,
                          stage=i, directory=str(folder), project=f"stage{i}", parent_run_id=parent_id,
                          tracking_uri=log_uri, rerun=rerun)
                parent.log_dict(space, f"search/space_stage{i}.yaml")
                echo(f"stage {i}: {settings.tuner} search, up to {job.max_trials} trials of {job.epochs} epochs"
                     + (f", {workers} workers" if workers > 1 else "")
                     + (" on the workers that ask this chief" if chief else ""))
                for dim_name, entry in space.items():
                    echo(f"  {dim_name}: {json.dumps(entry)}")
                echo(header(job), flush=True)
                oracle = run_stage(job, workers, chief=hosts if chief else None)
                stage_trials.append((i, list(oracle.trials.values())))
                if i + 1 < len(stages):
                    top = [dict(t.hyperparameters.values) for t in oracle.get_best_trials(stage.top_k)]
                    if top:
                        space = narrow(job.dims, top)
            rows = report.results(stage_trials)
            dims, _ = parse_space(settings.space)
            names = [d.name for d in dims]
            table = report.to_csv(rows, names)
            (folder / "results.csv").write_text(table, encoding="utf-8")
            parent.log_text(table, "search/results.csv")
            parent.log_figure(report.plot(rows, dims, settings.objective), "search/objective_vs_hyperparameters.png")
            counts = {s: sum(r["status"] == s for r in rows) for s in ("COMPLETED", "FAILED", "INVALID")}
            parent.log_metrics({f"trials_{k.lower()}": v for k, v in counts.items()})
            best = report.best_row(rows, settings.goal)
            if best is None:
                echo("no trial completed: no best recipe written")
                return {"best": None, "recipe": None, "parent_run_id": parent_id, "rows": rows}
            tree = apply_values(base, job.dims, best["values"])
            tree["train"]["epochs"] = int(best["values"].get("tuner/epochs", job.epochs))
            out = Path(output or folder / "best.yaml")
            out.parent.mkdir(parents=True, exist_ok=True)
            text = (f"# best trial of `pipeline tune {recipe}`: stage {best['stage']} trial {best['trial']}, "
                    f"{settings.objective}={best['score']:.4f}\n" + yaml.safe_dump(tree, sort_keys=False))
            out.write_text(text, encoding="utf-8")
            parent.log_text(text, "search/best_recipe.yaml")
            parent.set_tags({"search.best_trial": f"stage{best['stage']}/{best['trial']}",
                             "search.best_values": json.dumps(best["values"])[:5000]})
            parent.log_metrics({f"best_{settings.objective}": best["score"]})
    echo(f"{counts['COMPLETED']} trials completed, {counts['FAILED'] + counts['INVALID']} failed")
    echo(f"best: stage {best['stage']} trial {best['trial']}  {settings.objective}={best['score']:.4f}  "
         + "  ".join(f"{k}={v}" for k, v in best["values"].items()))
    echo(f"best recipe: {out}  (train it: pipeline run {out})")
    echo(f"MLflow parent run id: {parent_id}")
    return {"best": best, "recipe": str(out), "parent_run_id": parent_id, "rows": rows}
