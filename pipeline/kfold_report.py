"""The cross-validation parent's page: the folds' learning curves overlaid (one figure) and the
summary table (one row per fold, then mean and standard deviation), beside the `cv_*` metrics."""

from __future__ import annotations


def overlaid_curves(histories: list[dict[str, list[float]]]):
    """One panel per metric; per fold one colour, training dashed, validation solid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({k for h in histories for k in h if not k.startswith("val_")})
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(5 * max(len(names), 1), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        for fold, history in enumerate(histories):
            colour = f"C{fold % 10}"
            for key, style, kind in ((name, "--", "train"), (f"val_{name}", "-", "validation")):
                if history.get(key):
                    ax.plot(range(1, len(history[key]) + 1), history[key], style, color=colour, lw=1,
                            label=f"fold {fold} {kind}")
        ax.set(xlabel="epoch", title=f"{name}: {len(histories)} folds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def summary_table(run_ids: list[str], fold_metrics: list[dict[str, float]], summary: dict[str, float]) -> dict:
    """{column: values}: a row per fold (its run id, its metrics), then the mean and the std rows."""
    names = sorted({m for metrics in fold_metrics for m in metrics})
    rows = [{"fold": str(fold), "run_id": run_id, **metrics}
            for fold, (run_id, metrics) in enumerate(zip(run_ids, fold_metrics))]
    rows += [{"fold": stat, "run_id": "", **{m: summary[f"{m}_{stat}"] for m in names}} for stat in ("mean", "std")]
    return {column: [row.get(column) for row in rows] for column in ["fold", "run_id", *names]}
