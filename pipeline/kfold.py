"""k-fold cross-validation: one nested MLflow run per fold under a parent run with mean ± std.

Each fold is an ordinary `pipeline.train.run` of the recipe with `data.split.fold` set (so a fold's
logged recipe re-runs exactly that fold). The folds hold out the same test split but never
evaluate on it: cross-validation estimates how well the recipe generalizes, to choose between
recipes; the chosen recipe is then trained once without `kfold`, which reads the test split once.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np

from pipeline.recipe import LoadedRecipe, RecipeError
from pipeline.recipe.hashing import stable_hash
from pipeline.recipe.validate import plan_recipe


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
    plan, problems = plan_recipe(resolved)
    if problems:
        raise RecipeError(problems)
    versions = sorted({(p.plugin, p.distribution, p.version) for p in plan.providers}, key=str)
    return replace(loaded, resolved=resolved, plan=plan, hash=stable_hash(resolved, versions))


def summarize(fold_metrics: list[dict[str, float]]) -> dict[str, float]:
    """Mean and standard deviation (ddof=0, as scikit-learn's cross-validation reports) per metric."""
    summary = {}
    for name in sorted(set().union(*fold_metrics)):
        values = np.array([m[name] for m in fold_metrics if name in m], dtype=np.float64)
        summary[f"{name}_mean"], summary[f"{name}_std"] = float(values.mean()), float(values.std())
    return summary


def run_kfold(loaded: LoadedRecipe, tracking_uri: str | None = None, echo=print) -> KFoldResult:
    """Train every fold of `loaded` (which sets `data.split.kfold`) as a nested run of one parent."""
    from pipeline import backend as backends
    from pipeline import tracking

    recipe = loaded.plan.recipe
    k = recipe.data.split.kfold
    if not k or recipe.data.split.fold is not None:
        raise ValueError(f"Expected a recipe with data.split.kfold and no fold. Received: "
                         f"kfold={k}, fold={recipe.data.split.fold}")
    backends.activate(loaded.resolved["backend"])
    import mlflow
    import yaml

    from pipeline.train import run

    uri = tracking.tracking_uri(tracking_uri)
    experiment_id = tracking.connect(uri, recipe.track.experiment)
    name = recipe.track.run_name or recipe.name or "recipe"
    tags = {"recipe.hash": loaded.hash, "recipe.file": loaded.file, "backend": loaded.resolved["backend"],
            "kfold": str(k), **tracking.versions(), **recipe.track.tags}
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{name}-cv{k}", tags=tags) as parent:
        parent_id = parent.info.run_id
        tracking.log_params(tracking.flatten({key: v for key, v in loaded.resolved.items()
                                              if key not in ("name", "description")}))
        mlflow.log_text(yaml.safe_dump(loaded.resolved, sort_keys=False), "recipe.yaml")
        run_ids, fold_metrics = [], []
        for fold in range(k):
            echo(f"fold {fold + 1}/{k}")
            result = run(fold_recipe(loaded, fold), tracking_uri=uri, echo=echo,
                         parent_run_id=parent_id, run_name=f"{name}-fold{fold}")
            run_ids.append(result.run_id)
            # the fold's model as kept (early stopping may have restored its best epoch) on its fold
            metrics = mlflow.get_run(result.run_id).data.metrics
            fold_metrics.append({m.removeprefix("final_"): v for m, v in metrics.items()
                                 if m.startswith("final_val_")})
        fingerprint = mlflow.get_run(run_ids[0]).data.tags.get("data.fingerprint", "")
        summary = summarize(fold_metrics)
        mlflow.set_tags({"data.fingerprint": fingerprint, "recipe.id": stable_hash(loaded.hash, fingerprint)})
        mlflow.log_metrics({f"cv_{m}": v for m, v in summary.items()})
        for fold, metrics in enumerate(fold_metrics):  # one point per fold, to plot the spread
            mlflow.log_metrics({f"fold_{m}": v for m, v in metrics.items()}, step=fold)
    for metric in sorted({m for metrics in fold_metrics for m in metrics}):
        echo(f"cross-validation {metric}: {summary[metric + '_mean']:.4f} ± {summary[metric + '_std']:.4f} "
             f"over {k} folds")
    echo(f"MLflow parent run id: {parent_id} (experiment '{recipe.track.experiment}', {uri})")
    return KFoldResult(parent_id, run_ids, fold_metrics, summary)
