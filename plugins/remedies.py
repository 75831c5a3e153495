"""The built-in remedies of `pipeline improve`: the course's basic recipe, one change each.

High (avoidable) bias, in order: widen the declared hidden layers, add a block, train longer, the
learning rate an LR range test suggests. High variance, in order: augmentation (sequences and
images only), dropout, L2, early stopping. Each edits a resolved recipe tree and returns what it
did, or None when it does not apply to this recipe.
"""

from __future__ import annotations

import copy

from pipeline.registries import remedies
from pipeline.remedy import Context, Remedy
from pipeline.values import PositiveFloat, PositiveInt, Rate

#: layer types that end the part of a network a block may be copied from
_ENDS_BLOCKS = ("flatten", "global_average_pooling1d", "global_average_pooling2d", "global_max_pooling1d",
                "global_max_pooling2d")
_SIZES = ("units", "filters")


def _layers(tree: dict) -> list | None:
    """The recipe's sequential layer list, or None (graph models with `inputs:` are left alone)."""
    layers = (tree.get("model") or {}).get("layers")
    if not isinstance(layers, list) or len(layers) < 2 or not all(isinstance(x, dict) for x in layers):
        return None
    return None if any("inputs" in x for x in layers) else layers


def _hidden(layers: list) -> list[int]:
    """Indices of the hidden layers with a size (units, filters): every sized layer but the output."""
    return [i for i, x in enumerate(layers[:-1]) if any(isinstance(x.get(k), int) for k in _SIZES)]


@remedies.register("widen")
def widen(factor: PositiveFloat = 2.0) -> Remedy:
    """Bias, 1st: multiply the units / filters of every hidden layer by `factor`."""

    def change(tree: dict, context: Context) -> str | None:
        layers = _layers(tree)
        hidden = _hidden(layers) if layers else []
        if not hidden:
            return None
        done = []
        for i in hidden:
            key = next(k for k in _SIZES if isinstance(layers[i].get(k), int))
            before = layers[i][key]
            layers[i][key] = max(before + 1, round(before * factor))
            done.append(f"{before}->{layers[i][key]}")
        return f"widen hidden layers x{factor:g} ({', '.join(done)})"

    return Remedy("widen", "bias", 10, change)


@remedies.register("add_block")
def add_block() -> Remedy:
    """Bias, 2nd: repeat the last hidden block (its sized layer and the layers after it) before the output."""

    def change(tree: dict, context: Context) -> str | None:
        layers = _layers(tree)
        hidden = _hidden(layers) if layers else []
        if not hidden:
            return None
        start = end = hidden[-1]
        while end + 1 < len(layers) - 1 and str(layers[end + 1].get("type")) not in _ENDS_BLOCKS:
            end += 1
        block = [{k: v for k, v in copy.deepcopy(x).items() if k != "name"} for x in layers[start:end + 1]]
        layers[end + 1:end + 1] = block
        return f"add a block ({' + '.join(str(x.get('type')) for x in block)}) before the output"

    return Remedy("add_block", "bias", 20, change)


@remedies.register("train_longer")
def train_longer(factor: PositiveFloat = 2.0) -> Remedy:
    """Bias, 3rd: train `factor` times as many epochs."""

    def change(tree: dict, context: Context) -> str | None:
        train = tree.setdefault("train", {})
        before = int(train.get("epochs", 1))
        train["epochs"] = max(before + 1, round(before * factor))
        return f"train longer (epochs {before}->{train['epochs']})"

    return Remedy("train_longer", "bias", 30, change)


@remedies.register("lr_find")
def lr_find(min_change: PositiveFloat = 1.25) -> Remedy:
    """Bias, 4th: the learning rate an LR range test suggests (skipped within a factor `min_change` of the current one)."""

    def change(tree: dict, context: Context) -> str | None:
        train = tree.setdefault("train", {})
        optimizer = train.get("optimizer", "adam")
        optimizer = {"type": optimizer} if isinstance(optimizer, str) else optimizer
        before = optimizer.get("learning_rate")
        suggested = context.suggest_learning_rate(tree)
        if suggested is None or (isinstance(before, (int, float)) and
                                 1 / min_change < suggested / before < min_change):
            return None
        optimizer["learning_rate"] = float(f"{suggested:.3g}")
        train["optimizer"] = optimizer
        return f"learning rate from lr-find ({before if before is not None else 'default'}->{optimizer['learning_rate']:g})"

    return Remedy("lr_find", "bias", 40, change)


@remedies.register("augment")
def augment(shift: Rate = 0.1, translation: Rate = 0.1) -> Remedy:
    """Variance, 1st: data augmentation as a first layer: random shifts of sequences (up to `shift` of their length) or translations of images."""

    def change(tree: dict, context: Context) -> str | None:
        layers = _layers(tree)
        if not layers or str(layers[0].get("type", "")).startswith(("random_", "cutout")):
            return None
        if len(context.input_shape) == 2:  # (steps, channels)
            layer = {"type": "random_shift", "max_shift": max(1, int(context.input_shape[0] * shift))}
        elif len(context.input_shape) == 3:  # (height, width, channels)
            layer = {"type": "random_translation", "height_factor": translation, "width_factor": translation}
        else:  # a table (or a flat sequence): no augmentation that keeps its meaning
            return None
        layers.insert(0, layer)
        return f"augment: {layer['type']} first"

    return Remedy("augment", "variance", 10, change)


@remedies.register("dropout")
def dropout(step: Rate = 0.1, start: Rate = 0.2, cap: Rate = 0.5) -> Remedy:
    """Variance, 2nd: raise every dropout rate by `step` (up to `cap`), or add one of rate `start` before the output."""

    def change(tree: dict, context: Context) -> str | None:
        layers = _layers(tree)
        if not layers:
            return None
        found = [x for x in layers if x.get("type") == "dropout"]
        if not found:
            layers.insert(len(layers) - 1, {"type": "dropout", "rate": start})
            return f"add dropout {start:g} before the output"
        if all(float(x.get("rate", 0)) >= cap for x in found):
            return None
        rates = []
        for x in found:
            before = float(x.get("rate", 0))
            x["rate"] = round(min(cap, before + step), 4)
            rates.append(f"{before:g}->{x['rate']:g}")
        return f"raise dropout ({', '.join(rates)})"

    return Remedy("dropout", "variance", 20, change)


@remedies.register("l2")
def l2(factor: PositiveFloat = 10.0, start: PositiveFloat = 1e-4, cap: PositiveFloat = 1e-2) -> Remedy:
    """Variance, 3rd: the default kernel L2 factor times `factor` (up to `cap`), or L2 of `start` where there is none."""

    def change(tree: dict, context: Context) -> str | None:
        defaults = tree.setdefault("model", {}).setdefault("defaults", {})
        current = defaults.get("kernel_regularizer")
        if current is None:
            defaults["kernel_regularizer"] = {"type": "l2", "factor": start}
            return f"add L2 {start:g}"
        if not isinstance(current, dict) or current.get("type") != "l2":
            return None
        before = float(current.get("factor", 0.01))
        if before >= cap:
            return None
        current["factor"] = float(f"{min(cap, before * factor):.3g}")
        return f"raise L2 ({before:g}->{current['factor']:g})"

    return Remedy("l2", "variance", 30, change)


@remedies.register("early_stopping")
def early_stopping(patience: PositiveInt = 10) -> Remedy:
    """Variance, 4th: stop on the validation loss and keep the best epoch's weights (when no early stopping is set)."""

    def change(tree: dict, context: Context) -> str | None:
        train = tree.setdefault("train", {})
        callbacks = list(train.get("callbacks") or [])
        named = [c if isinstance(c, str) else c.get("type") for c in callbacks]
        if "early_stopping" in named:
            return None
        train["callbacks"] = callbacks + [{"type": "early_stopping", "monitor": "val_loss", "patience": patience}]
        return f"early stopping on val_loss (patience {patience})"

    return Remedy("early_stopping", "variance", 40, change)
