"""Per-layer activation statistics (the course's Xavier experiment table) from one probe batch.

mean and std of a layer's output; for tanh/sigmoid the fraction *saturated* (|a| > 0.99 for tanh,
a < 0.01 or > 0.99 for sigmoid: local gradient ~0); for ReLU the fraction of *dead* units (zero for
every probe example and position: they pass no gradient at all). A std that shrinks layer after
layer (N(0, 0.01^2) weights) or saturation everywhere (N(0, 1)) means gradients vanish.
"""

from __future__ import annotations

import numpy as np

from pipeline.diagnostics.plots import _plt

SATURATED = 0.99


def activation_kind(layer) -> str | None:
    """'tanh', 'sigmoid', 'relu', 'linear', ... of what a layer outputs (its last sublayer's for a
    small Sequential such as dense + norm + activation); None when it has no activation."""
    inner = getattr(layer, "layers", None)
    if inner:
        return activation_kind(inner[-1])
    if type(layer).__name__ == "ReLU":
        return "relu"
    fn = getattr(layer, "activation", None)
    return getattr(fn, "__name__", None) if fn is not None else None


def layer_stats(a: np.ndarray, kind: str | None) -> dict[str, float]:
    a = np.asarray(a, dtype=np.float64)
    out = {"mean": float(a.mean()), "std": float(a.std()), "saturated": float("nan"), "dead": float("nan")}
    if kind == "tanh":
        out["saturated"] = float(np.mean(np.abs(a) > SATURATED))
    elif kind in ("sigmoid", "hard_sigmoid"):
        out["saturated"] = float(np.mean((a < 1 - SATURATED) | (a > SATURATED)))
    elif kind in ("relu", "relu6"):
        units = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a.reshape(-1, 1)
        out["dead"] = float(np.mean(np.all(units == 0, axis=0)))
    return out


def _cell(value, fmt: str) -> str:
    """`value` formatted, or a right-aligned '-' when missing (no such statistic for this layer)."""
    width = int("".join(c for c in fmt.split(".")[0] if c.isdigit()) or 0)
    return format(value, fmt) if value is not None and np.isfinite(value) else "-".rjust(width)


def format_table(rows: list[dict]) -> str:
    """The course's printout: one line per layer and recorded epoch."""
    lines = [f"{'epoch':>5} {'layer':<24} {'kind':<8} {'mean':>10} {'std':>10} {'saturated':>9} {'dead':>6}"
             f" {'grad norm':>10} {'update/w':>9}"]
    for r in rows:
        lines.append(f"{r['epoch']:>5} {r['layer']:<24} {r['kind']!s:<8} {_cell(r['mean'], '10.3g')} "
                     f"{_cell(r['std'], '10.3g')} {_cell(r['saturated'], '9.1%')} {_cell(r['dead'], '6.1%')} "
                     f"{_cell(r.get('grad_norm'), '10.3g')} {_cell(r.get('update_ratio'), '9.2g')}")
    return "\n".join(lines) + "\n"


def histograms(samples: dict[str, np.ndarray], title: str):
    """One histogram per layer, as the course plots the layers of its tanh network."""
    plt = _plt()
    n = len(samples)
    cols = min(n, 5)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.2 * rows), squeeze=False)
    for ax, (name, values) in zip(axes.flat, samples.items()):
        values = np.asarray(values).reshape(-1)
        ax.hist(values, bins=40)
        ax.set_title(f"{name}\nmean {values.mean():.2g} std {values.std():.2g}", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
