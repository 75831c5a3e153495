"""The LR range test (Smith 2017, `pipeline lr-find RECIPE`): raise the learning rate exponentially over a
few hundred steps from a fresh model, record the loss, and suggest the rate where the (smoothed) loss
falls fastest against log(LR), before it turns up and diverges."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from pipeline import backend as backends
from pipeline.assemble import prepare_data
from pipeline.components import build
from pipeline.diagnostics.plots import _plt
from pipeline.keras_compat import set_seed
from pipeline.model.data_init import finish_initialization
from pipeline.model.network import build_model

#: the test stops once the smoothed loss exceeds this many times its best (divergence)
DIVERGED = 4.0


@dataclass
class LRFind:
    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float | None
    min_loss_lr: float | None

    def summary(self) -> str:
        if self.suggestion is None:
            return (f"no suggestion: the loss never fell over {len(self.lrs)} steps "
                    f"({self.lrs[0]:.2g} .. {self.lrs[-1]:.2g}); widen --min-lr/--max-lr or check the model")
        return (f"suggested learning rate: {self.suggestion:.3g} (steepest descent of the loss; lowest loss at "
                f"{self.min_loss_lr:.3g}, {len(self.lrs)} steps from {self.lrs[0]:.2g} to {self.lrs[-1]:.2g})")

    def plot(self):
        plt = _plt()
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        ax.plot(self.lrs, self.losses, alpha=0.3, label="loss")
        ax.plot(self.lrs, self.smoothed, label="smoothed")
        if self.suggestion is not None:
            ax.axvline(self.suggestion, color="tab:red", ls="--", label=f"suggestion {self.suggestion:.2g}")
        ax.set_xscale("log")
        finite = [v for v in self.smoothed if math.isfinite(v)]
        raw = [v for v in self.losses if math.isfinite(v)]
        if finite:
            ax.set_ylim(min(raw + finite) * 0.9, min(max(finite), DIVERGED * min(finite)) * 1.05)
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        ax.set_title("LR range test")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
        fig.tight_layout()
        return fig

    def write_override(self, path: str, recipe: str) -> None:
        """A recipe that extends `recipe` with the suggested learning rate."""
        import os
        from pathlib import Path

        parent = os.path.relpath(Path(recipe).resolve(), Path(path).resolve().parent)
        if parent.startswith(".."):  # a path that climbs out of the folder reads better absolute
            parent = str(Path(recipe).resolve())
        Path(path).write_text(f"# written by `pipeline lr-find {recipe}`: LR range test suggestion\n"
                              f"extends: {parent}\ntrain:\n  optimizer:\n    learning_rate: {self.suggestion:.3g}\n",
                              encoding="utf-8")


def smooth(losses: list[float], beta: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction (the first values are not pulled to 0)."""
    out, avg = [], 0.0
    for i, v in enumerate(losses):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def suggest(lrs: list[float], smoothed: list[float], skip: float = 0.1) -> tuple[float | None, float | None]:
    """(steepest-descent LR, lowest-loss LR). The slope d loss / d log10(LR) is taken over a window of
    1/10 of a decade on each side, from the first `skip` of the steps (where the average is still
    settling) up to the lowest loss."""
    lr, loss = np.asarray(lrs, dtype=float), np.asarray(smoothed, dtype=float)
    finite = np.isfinite(loss)
    if finite.sum() < 5:
        return None, None
    best = int(np.nanargmin(np.where(finite, loss, np.nan)))
    start = int(len(loss) * skip)
    if best - start < 3:
        return None, float(lr[best])
    log = np.log10(lr)
    slopes = []
    for i in range(start, best):
        lo, hi = np.searchsorted(log, log[i] - 0.1), min(np.searchsorted(log, log[i] + 0.1, side="right") - 1, best)
        slopes.append((loss[hi] - loss[lo]) / (log[hi] - log[lo]) if hi > lo else 0.0)
    steepest = start + int(np.argmin(slopes))
    return (float(lr[steepest]) if slopes[steepest - start] < 0 else None), float(lr[best])


def lr_range_test(model, x, y, steps: int = 200, min_lr: float = 1e-6, max_lr: float = 10.0,
                  batch_size: int = 32, seed: int = 0) -> LRFind:
    """Run the test on a compiled `model` (its optimizer with a plain learning rate), in place."""
    rng = np.random.default_rng(seed)
    lrs = [min_lr * (max_lr / min_lr) ** (i / max(steps - 1, 1)) for i in range(steps)]
    order = rng.permutation(len(x))
    losses: list[float] = []
    pos = 0
    for lr in lrs:
        if pos + batch_size > len(order):
            order, pos = rng.permutation(len(x)), 0
        idx = order[pos:pos + batch_size]
        pos += batch_size
        model.optimizer.learning_rate = lr
        loss = float(np.asarray(model.train_on_batch(x[idx], y[idx])))
        losses.append(loss if math.isfinite(loss) else float("inf"))
        smoothed = smooth(losses)
        if not math.isfinite(loss) or smoothed[-1] > DIVERGED * min(smoothed):
            break
    smoothed = smooth(losses)
    lrs = lrs[:len(losses)]
    suggestion, at_min = suggest(lrs, smoothed)
    return LRFind(lrs, losses, smoothed, suggestion, at_min)


def lr_find_recipe(loaded, steps: int = 200, min_lr: float = 1e-6, max_lr: float = 10.0,
                   plot: str | None = "lr_find.png") -> LRFind:
    """The range test on a recipe: its data (training split), model and optimizer (no schedule)."""
    backends.activate(loaded.resolved["backend"])
    from pipeline.model.target_scaling_keras import standardized_loss

    plan = loaded.plan
    set_seed(plan.recipe.seed)
    _, splits = prepare_data(loaded)
    model = build_model(plan.layers, plan.outputs, splits.x_train.shape[1:], name=plan.recipe.name,
                        target_scaling=splits.target_scaling)
    params = plan.optimizer.entry.signature.parameters
    kwargs = {**plan.optimizer.kwargs, **({"learning_rate": min_lr} if "learning_rate" in params else {})}
    model.compile(optimizer=build(dataclasses.replace(plan.optimizer, kwargs=kwargs)),
                  loss=standardized_loss(build(plan.loss), model))  # the loss training minimizes
    finish_initialization(model, splits.x_train, seed=plan.recipe.seed)
    found = lr_range_test(model, splits.x_train, splits.y_train, steps, min_lr, max_lr,
                          plan.recipe.train.batch_size, plan.recipe.seed)
    if plot:
        import matplotlib.pyplot as plt

        fig = found.plot()
        fig.savefig(plot, dpi=110)
        plt.close(fig)
    return found
