"""The cross-validation parent's summary table (one row per fold, then mean and standard deviation),
beside the `cv_*` metrics."""

from __future__ import annotations


def summary_table(run_ids: list[str], fold_metrics: list[dict[str, float]], summary: dict[str, float]) -> dict:
    """{column: values}: a row per fold (its run id, its metrics), then the mean and the std rows."""
    names = sorted({m for metrics in fold_metrics for m in metrics})
    rows = [{"fold": str(fold), "run_id": run_id, **metrics}
            for fold, (run_id, metrics) in enumerate(zip(run_ids, fold_metrics))]
    rows += [{"fold": stat, "run_id": "", **{m: summary[f"{m}_{stat}"] for m in names}} for stat in ("mean", "std")]
    return {column: [row.get(column) for row in rows] for column in ["fold", "run_id", *names]}
