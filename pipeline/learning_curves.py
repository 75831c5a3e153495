"""Learning curves: training vs validation per metric, the first plot to read for bias/variance."""

from __future__ import annotations


def learning_curves(history: dict[str, list[float]]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in history if not k.startswith("val_") and k != "learning_rate"]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = range(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], label=f"train {name}")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], label=f"validation {name}")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def overlaid_curves(histories: list[dict[str, list[float]]], labels: list[str]):
    """Several runs' curves on shared axes, one colour per run (labelled by what differs between
    them): training dashed, validation solid, one panel per metric."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({k for h in histories for k in h if not k.startswith("val_") and k != "learning_rate"},
                   key=lambda k: (k != "loss", k))
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(5.5 * max(len(names), 1), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        for i, (history, label) in enumerate(zip(histories, labels)):
            colour = f"C{i % 10}"
            for key, style, part in ((name, "--", "train"), (f"val_{name}", "-", "val")):
                if history.get(key):
                    ax.plot(range(1, len(history[key]) + 1), history[key], style, color=colour,
                            label=f"{label} ({part})")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
