"""k-fold cross-validation: one nested MLflow run per fold under a parent run with mean ± std.

Each fold is an ordinary `pipeline.train.run` of the recipe with `data.split.fold` set (so a fold's
logged recipe re-runs exactly that fold). The folds hold out the same test split but never
evaluate on it: cross-validation estimates how well the recipe generalizes, to choose between
recipes; the chosen recipe is then trained once without `kfold`, which reads the test split once.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from pipeline.recipe import LoadedRecipe, replanned
from pipeline.recipe.hashing import recipe_id


@dataclass
class KFoldResult:
    run_id: str  # the parent run
    fold_run_ids: list[str]
    fold_metrics: list[dict[str, float]]  # each fold's final model evaluated on its held-out fold
    summary: dict[str, float]  # <metric>_mean and <metric>_std over the folds


def fold_recipe(loaded: LoadedRecipe, fold: int) -> LoadedRecipe:
    """`loaded` with `data.split.fold = fold`: re-planned and re-hashed like any recipe."""
    resolved = copy.deepcopy(loaded.resolved)
    resolved["data"].setdefault("split", {})["fold"] = fold
    return replanned(loaded, resolved)


def summarize(fold_metrics: list[dict[str, float]]) -> dict[str, float]:
    """Mean and standard deviation (ddof=0, as scikit-learn's cross-validation reports) per metric."""
    summary = {}
    for name in sorted(set().union(*fold_metrics)):
        values = np.array([m[name] for m in fold_metrics if name in m], dtype=np.float64)
        summary[f"{name}_mean"], summary[f"{name}_std"] = float(values.mean()), float(values.std())
    return summary


def run_kfold(loaded: LoadedRecipe, tracking_uri: str | None = None, echo=print,
              resume: str | None = None, rerun: bool = False, parent_tags: dict[str, str] | None = None) -> KFoldResult:
    """Train every fold of `loaded` (which sets `data.split.kfold`) as a nested run of one parent.

    `resume` (the parent's run id, or `last`) continues an interrupted cross-validation: finished
    folds are kept, an interrupted fold continues from its epoch checkpoint, missing folds are
    trained; a larger `train.epochs` extends every fold. A fold that a FINISHED run of the
    experiment already trained (same `recipe.id`, e.g. in an interrupted cross-validation started
    again without `--resume`) is kept, not trained again, unless `rerun`. `parent_tags`: more tags
    for a new parent run (`rerun.of`).
    """
    from pipeline import backend as backends
    from pipeline import heartbeat, signals, tracking
    from pipeline import repeats
    from pipeline import resume as resuming
    from pipeline.tracking import runs
    from pipeline.tracking.run_logger import RunLogger

    recipe = loaded.plan.recipe
    k = recipe.data.split.kfold
    if not k or recipe.data.split.fold is not None:
        raise ValueError(f"Expected a recipe with data.split.kfold and no fold. Received: "
                         f"kfold={k}, fold={recipe.data.split.fold}")
    backends.activate(loaded.resolved["backend"])
    import yaml

    from pipeline.train import run

    uri = tracking.tracking_uri(tracking_uri)
    experiment_id = tracking.connect(uri, recipe.track.experiment)
    name = recipe.track.run_name or recipe.name or "recipe"
    earlier = {}  # fold -> its run, in a resumed cross-validation
    if resume is not None:
        record = resuming.choose(loaded, uri, resume, "kfold")
        resumption = resuming.check(loaded, uri, record)
        parent = RunLogger.reopen(uri, record.run_id)
        parent.delete_tag("error")
        earlier = {int(r.params["data.split.fold"]): r for r in runs.children(uri, record.run_id, experiment_id)
                   if "data.split.fold" in r.params}
        extended = resumption.extended_from is not None
    else:
        from pipeline.recipe.params import run_params
        from pipeline.tracking import labels

        tags = {"recipe.hash": loaded.hash, "recipe.file": loaded.file, "backend": loaded.resolved["backend"],
                "kfold": str(k), **tracking.versions(), **recipe.track.tags, **(parent_tags or {}),
                **labels.tags(loaded.overrides, recipe.description, loaded.file)}
        parent = RunLogger.start(uri, experiment_id, labels.run_name(f"{name}-cv{k}", loaded.overrides), tags)
        parent.log_params(run_params(loaded.plan))  # the folds' params, less data.split.fold
        extended = False
    parent_id = parent.run_id
    parent.set_tags({**heartbeat.identity(), "resume.command": resuming.command(loaded, uri, parent_id)})
    parent.log_text(yaml.safe_dump(loaded.resolved, sort_keys=False), "recipe.yaml")
    with signals.graceful_stop(), parent.until_done():  # FINISHED, or KILLED / FAILED with the reason
        try:
            run_ids, fold_metrics = [], []
            for fold in range(k):
                echo(f"fold {fold + 1}/{k}")
                before, this_fold = earlier.get(fold), fold_recipe(loaded, fold)
                if before is None and not (rerun or extended):  # trained before, outside this cross-validation
                    before = repeats.earlier_run(this_fold, uri, nested=True)
                if before is not None and before.status == "FINISHED" and not extended:
                    echo(f"fold {fold + 1} finished before (run {before.run_id}): kept")
                    run_id, metrics = before.run_id, before.metrics
                else:
                    result = run(this_fold, tracking_uri=uri, echo=echo, parent_run_id=parent_id,
                                 run_name=f"{name}-fold{fold}", resume=None if before is None else before.run_id)
                    run_id, metrics = result.run_id, result.metrics
                run_ids.append(run_id)
                # the fold's model as kept (early stopping may have restored its best epoch) on its fold
                fold_metrics.append({m.removeprefix("final_"): v for m, v in metrics.items()
                                     if m.startswith("final_val_")})
            fingerprint = runs.get_run(uri, run_ids[0]).tags.get("data.fingerprint", "")
            summary = summarize(fold_metrics)
            parent.set_tags({"data.fingerprint": fingerprint, "recipe.id": recipe_id(loaded.hash, fingerprint)})
            parent.log_metrics({f"cv_{m}": v for m, v in summary.items()})
            for fold, metrics in enumerate(fold_metrics):  # one point per fold, to plot the spread
                parent.log_metrics({f"fold_{m}": v for m, v in metrics.items()}, step=fold)
            from pipeline.kfold_report import summary_table
            from pipeline.learning_curves import overlaid_curves

            parent.log_table(summary_table(run_ids, fold_metrics, summary), "cv_summary.json")
            parent.log_figure(overlaid_curves([runs.curves(uri, r) for r in run_ids],
                                              [f"fold {fold}" for fold in range(len(run_ids))]), "plots/fold_curves.png")
        except BaseException as exc:
            end = getattr(exc, "run_end", None)
            if end is not None:  # the fold's run: the run to resume is the parent
                end.run_id = f"{parent_id} (fold {len(run_ids) + 1}: {end.run_id})"
                end.resume_command = resuming.command(loaded, uri, parent_id)
            raise
        parent.delete_tag("resume.command")
    for metric in sorted({m for metrics in fold_metrics for m in metrics}):
        echo(f"cross-validation {metric}: {summary[metric + '_mean']:.4f} ± {summary[metric + '_std']:.4f} "
             f"over {k} folds")
    echo(f"MLflow parent run id: {parent_id} (experiment '{recipe.track.experiment}', {uri})")
    return KFoldResult(parent_id, run_ids, fold_metrics, summary)
