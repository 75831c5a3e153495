"""No accidental repeats: the FINISHED run that already trained this exact recipe on this exact data.

Runs are deterministic on one machine, so a run with the same `recipe.id` (the resolved recipe with
its plugin versions, `recipe.hash`, plus the data fingerprint) would only repeat an earlier one.
The store is asked first for runs with the same `recipe.hash` (no data read, no framework import);
only when there is one is the data source built to compare fingerprints, since a file the recipe
names may have changed since. Lightning #14739, hydra #1136 and sacred #736 asked for this.
"""

from __future__ import annotations

from pipeline.recipe.hashing import recipe_id
from pipeline.tracking.runs import RunRecord

#: tag of a run trained with `--rerun`: the run it repeats
RERUN_TAG = "rerun.of"
#: the metrics that summarize a run in the "already trained" line, the first found wins
SUMMARY = ("test_accuracy", "test_mae", "test_rmse", "test_r2", "test_loss")


def earlier_run(loaded, uri: str, nested: bool = False, fingerprint: str | None = None) -> RunRecord | None:
    """The newest FINISHED run of `loaded`'s experiment with the same `recipe.id`, or None.

    Top-level runs (and nested runs that read the test split) stand for a `pipeline run`; with
    `nested=True` (a fold, a search trial) any FINISHED run with that id does, since such a run is
    only read for its validation numbers. `fingerprint`: the data's, when the caller has it.
    """
    from pipeline.tracking import runs, store

    db = store.sqlite_path(uri)
    if db is not None and not db.exists():  # a new store holds no run (and is not made here)
        return None
    store.check(uri)  # a damaged or read-only local store: StoreError (exit 2), as training would say
    try:
        found = runs.finished_with_hash(uri, loaded.plan.recipe.track.experiment, loaded.hash)
    except Exception:  # a store MLflow cannot open: the run's own connection reports it (exit 2)
        return None
    found = [r for r in found if nested or not r.parent_run_id or any(k.startswith("test_") for k in r.metrics)]
    if not found:
        return None
    if fingerprint is None and getattr(loaded.plan.source.entry.factory, "from_arguments", False):
        # the same source arguments: the same data, so the same recipe.hash is the same recipe.id
        return next((r for r in found if "recipe.id" in r.tags), None)
    if fingerprint is None:
        from pipeline.data.checks import load_source

        fingerprint = load_source(loaded).fingerprint()
    wanted = recipe_id(loaded.hash, fingerprint)
    return next((r for r in found if r.tags.get("recipe.id") == wanted), None)


def summary(run: RunRecord) -> str:
    """'test_accuracy=0.975' (or the cross-validation mean, or the final validation numbers)."""
    for key in SUMMARY:
        if key in run.metrics:
            return f"{key}={run.metrics[key]:.4g}"
    cv = sorted(k for k in run.metrics if k.startswith("cv_") and k.endswith("_mean") and "loss" not in k)
    for key in cv[:1] or sorted(k for k in run.metrics if k.startswith("final_val_") and "loss" not in k)[:1]:
        return f"{key}={run.metrics[key]:.4g}"
    return "(no end-of-run metrics)"


def already_trained(run: RunRecord) -> str:
    return f"already trained: {run.run_id} {summary(run)}; --rerun to train again"
