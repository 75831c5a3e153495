"""`pipeline tune RECIPE`: the stages of a search, the parent MLflow run, the report and the best recipe."""

from __future__ import annotations

import json
import shutil
from contextlib import nullcontext
from pathlib import Path

import yaml

from pipeline import backend, tracking
from pipeline.errors import Problem
from pipeline.recipe import RecipeError, load_recipe
from pipeline.search import report
from pipeline.search.space import Stage, apply_values, parse_search, parse_space
from pipeline.search.stages import narrow
from pipeline.search.tuner import Job, header, tuner_class
from pipeline.search.workers import mlflow_server, run_parallel
from pipeline.tracking.run_logger import RunLogger


def _stages(settings, base: dict) -> list[Stage]:
    return settings.stages or [Stage(epochs=base["train"]["epochs"], max_trials=settings.max_trials)]


def _param(path: str) -> str:
    """'model.layers[3].rate' -> 'model.layers.3.rate', as trial runs name the param."""
    return path.replace("[", ".").replace("]", "")


def run_stage(job: Job, workers: int):
    """Run one stage's trials in this process, or in `workers` processes; return its oracle."""
    if workers > 1:
        return run_parallel(job, workers, job.tracking_uri)

    tuner = tuner_class()(job)
    tuner.search(verbose=0)
    return tuner.oracle


def tune(recipe: str, overrides=(), tracking_uri: str | None = None, resume: bool = False, workers: int = 1,
         directory: str | None = None, output: str | None = None, echo=print) -> dict:
    """Run the recipe's search; return {'best': row, 'recipe': path of the best recipe, 'parent_run_id': id}."""
    loaded = load_recipe(recipe, overrides)
    data = loaded.resolved
    if not data.get("search"):
        raise RecipeError([Problem(("search",), "no 'search:' section: `pipeline tune` needs one "
                                   "(README, 'Hyperparameter search')", loaded.marks.get(()))])

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
    stages = _stages(settings, base)
    seed = base.get("seed", 42) if settings.seed is None else settings.seed
    with server as log_uri:  # the trials' store: a local server for workers, else the store itself
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
                parent.log_params({f"search.{k}": v for k, v in settings.model_dump(exclude={"space", "stages"}).items()}
                                  | {"search.stages": len(stages), "search.workers": workers})
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
                          tracking_uri=log_uri)
                parent.log_dict(space, f"search/space_stage{i}.yaml")
                echo(f"stage {i}: {settings.tuner} search, up to {job.max_trials} trials of {job.epochs} epochs"
                     + (f", {workers} workers" if workers > 1 else ""))
                for dim_name, entry in space.items():
                    echo(f"  {dim_name}: {json.dumps(entry)}")
                echo(header(job), flush=True)
                oracle = run_stage(job, workers)
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
