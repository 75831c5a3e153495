"""The regression and binary recipes beside scikit-learn baselines trained on exactly the same split.

For each seed, each recipe runs as `pipeline run` would (with `seed=<seed>`, which also seeds its
split), then the baseline is fitted on the very same arrays: the pipeline's split and the
preprocessing fitted on its training split (`pipeline.train.prepare_data`), the training split
only (the network uses the validation split only to stop early), and scored on the same test split.

- `recipes/diabetes-regression.yaml`: test MAE of the network vs `Ridge(alpha=1)`;
- `recipes/breast-cancer-binary.yaml`: test ROC-AUC of the network vs `LogisticRegression()`.

    python bench/tabular_baselines.py --seeds 42 1 2 [--tracking-uri sqlite:////tmp/tab/mlflow.db]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")

RECIPES = {"recipes/diabetes-regression.yaml": "mae", "recipes/breast-cancer-binary.yaml": "roc_auc"}


def baseline_score(loaded) -> tuple[str, float]:
    """(model, test score) of the scikit-learn baseline on the recipe's own split."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import mean_absolute_error, roc_auc_score

    from pipeline.assemble import prepare_data

    _, s = prepare_data(loaded)
    flat = [np.asarray(x).reshape(len(x), -1) for x in (s.x_train, s.x_test)]
    if loaded.plan.recipe.task == "regression":
        ridge = Ridge(alpha=1.0).fit(flat[0], s.y_train)
        return "Ridge(alpha=1)", float(mean_absolute_error(s.y_test, ridge.predict(flat[1])))
    logistic = LogisticRegression(max_iter=5000).fit(flat[0], s.y_train)
    return "LogisticRegression", float(roc_auc_score(s.y_test, logistic.predict_proba(flat[1])[:, 1]))


def pipeline_score(loaded, metric: str, tracking_uri: str) -> float:
    """The recipe's test metric, trained and tracked like `pipeline run` (quietly)."""
    from pipeline.train import run

    result = run(loaded, tracking_uri=tracking_uri, echo=lambda *a, **k: None)
    return result.test_metrics[f"test_{metric}"]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--tracking-uri", help="MLflow store (default: a temporary SQLite store)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="an override for both recipes, e.g. train.epochs=2")
    parser.add_argument("--recipe", action="append", choices=sorted(RECIPES),
                        help="run only this recipe (repeatable; default: both)")
    args = parser.parse_args(argv)
    from pipeline.recipe import load_recipe

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        uri = args.tracking_uri or f"sqlite:///{tmp}/mlflow.db"
        for recipe, metric in RECIPES.items():
            if args.recipe and recipe not in args.recipe:
                continue
            for seed in args.seeds:
                loaded = load_recipe(recipe, [f"seed={seed}", *args.overrides])
                ours = pipeline_score(loaded, metric, uri)
                name, theirs = baseline_score(loaded)
                rows.append({"recipe": recipe, "seed": seed, "metric": f"test {metric}", "pipeline": ours,
                             "baseline": name, "baseline_score": theirs})
                print(f"{recipe:<36} seed {seed:>3}  test {metric:<7} pipeline {ours:.4f}  {name} {theirs:.4f}",
                      flush=True)
    for recipe in RECIPES:
        mine = [r for r in rows if r["recipe"] == recipe]
        if len(mine) > 1:
            ours = [r["pipeline"] for r in mine]
            theirs = [r["baseline_score"] for r in mine]
            print(f"{recipe:<36} mean over {len(mine)} seeds: pipeline {statistics.mean(ours):.4f} "
                  f"± {statistics.pstdev(ours):.4f}, {mine[0]['baseline']} {statistics.mean(theirs):.4f} "
                  f"± {statistics.pstdev(theirs):.4f}")
    return rows


if __name__ == "__main__":
    main()
