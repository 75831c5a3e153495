"""What a search leaves behind: the results table, objective-vs-hyperparameter plots, the best recipe."""

from __future__ import annotations

import csv
import io
import math

from pipeline.search.space import Dimension
from pipeline.search.tuner import short_reason


def results(stage_trials: list[tuple[int, list]]) -> list[dict]:
    """One row per trial of every stage: stage, trial, status, score, values, reason."""
    rows = []
    for stage, trials in stage_trials:
        for t in sorted(trials, key=lambda t: t.trial_id):
            rows.append({"stage": stage, "trial": t.trial_id, "status": t.status,
                         "score": t.score if t.status == "COMPLETED" else None,
                         "values": dict(t.hyperparameters.values),
                         "reason": "" if t.status == "COMPLETED" else short_reason(t.message)})
    return rows


def best_row(rows: list[dict], goal: str) -> dict | None:
    done = [r for r in rows if r["score"] is not None and math.isfinite(r["score"])]
    if not done:
        return None
    # the last stage trains longest: its trials are the ones to compare, earlier stages only guide it
    last = max(r["stage"] for r in done)
    done = [r for r in done if r["stage"] == last]
    return (max if goal == "max" else min)(done, key=lambda r: r["score"])


def to_csv(rows: list[dict], names: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["stage", "trial", "status", "score", *names, "reason"])
    for r in rows:
        writer.writerow([r["stage"], r["trial"], r["status"], "" if r["score"] is None else r["score"],
                         *(r["values"].get(n, "") for n in names), r["reason"]])
    return out.getvalue()


def plot(rows: list[dict], dims: list[Dimension], objective: str):
    """Objective vs each hyperparameter (log x axis for log ranges, categories for choices), by stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(dims), 1)
    cols = min(n, 3)
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(4.2 * cols, 3.4 * ((n + cols - 1) // cols)),
                             squeeze=False)
    done = [r for r in rows if r["score"] is not None]
    for ax, dim in zip(axes.flat, dims):
        for stage in sorted({r["stage"] for r in done}):
            points = [(r["values"][dim.name], r["score"]) for r in done
                      if r["stage"] == stage and dim.name in r["values"]]
            if not points:
                continue
            xs, ys = zip(*points)
            if dim.kind == "choice":
                xs = [list(dim.values).index(x) if x in dim.values else -1 for x in xs]
            ax.scatter(xs, ys, label=f"stage {stage}", alpha=0.8)
        if dim.kind == "log_uniform":
            ax.set_xscale("log")
        if dim.kind == "choice":
            ax.set_xticks(range(len(dim.values)), [str(v) for v in dim.values])
        ax.set_xlabel(dim.name)
        ax.set_ylabel(objective)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(dims):]:
        ax.set_visible(False)
    if done:
        axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return fig
