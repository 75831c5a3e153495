"""Diagnostics plots (matplotlib, Agg): learning rate over time, activation histograms, LR range test."""

from __future__ import annotations


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_rate_plot(rates: list[float]):
    """The learning rate of each epoch (log scale when it spans more than a factor of 10)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(range(1, len(rates) + 1), rates, marker="o" if len(rates) < 30 else None)
    positive = [r for r in rates if r > 0]
    if positive and max(positive) / min(positive) > 10:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title("learning rate")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
