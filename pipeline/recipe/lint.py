"""Checks across components that no single signature can express (run on a validated plan).

Each check takes the `Plan` and returns `Problem`s at the recipe paths a user has to change; no
framework import. `lint(plan)` runs them all.
"""

from __future__ import annotations

from typing import Any, Iterator

from pipeline.components import Checked
from pipeline.errors import Path, Problem

#: Regularizers that add an L2 penalty, and the argument holding its coefficient.
L2_PENALTIES = {"l2": "factor", "elastic": "l2"}
#: The argument by which a regularizer declares it is meant to add to the optimizer's weight decay.
OPT_IN = "with_weight_decay"


def argument(checked: Checked, name: str, default: Any = None) -> Any:
    """The value a component will be built with: the recipe's, else its factory's default."""
    if name in checked.kwargs:
        return checked.kwargs[name]
    param = checked.entry.signature.parameters.get(name)
    return default if param is None or param.default is param.empty else param.default


def layer_arguments(plan) -> Iterator[tuple[Path, str, Any]]:
    """(path, name, value) of every layer argument, nested component arguments included.

    An argument filled in from `model.defaults` is reported at `model.defaults.<key>`, where the
    user wrote it.
    """
    raw_layers = plan.recipe.model.layers
    for layer in plan.layers:
        raw = raw_layers[layer.path[-1]] if isinstance(layer.path[-1], int) else {}
        for key, value in layer.layer.kwargs.items():
            path = layer.path + (key,) if key in raw else ("model", "defaults", key)
            yield from _walk(path, key, value)


def _walk(path: Path, key: str, value: Any) -> Iterator[tuple[Path, str, Any]]:
    yield path, key, value
    if isinstance(value, Checked):
        for k, v in value.kwargs.items():
            yield from _walk(path + (k,), k, v)


def check_weight_decay(plan) -> list[Problem]:
    """An L2 penalty in the loss and the optimizer's decoupled `weight_decay` shrink the same weights
    twice (with Adam they are not even equivalent): refuse the pair unless the regularizer opts in."""
    decay = argument(plan.optimizer, "weight_decay")
    if not decay:
        return []
    problems: dict[Path, Problem] = {}
    for path, _, value in layer_arguments(plan):
        if not (isinstance(value, Checked) and value.entry.kind == "regularizers"
                and value.name in L2_PENALTIES):
            continue
        coefficient = argument(value, L2_PENALTIES[value.name])
        if not coefficient or argument(value, OPT_IN, False):
            continue
        problems.setdefault(path, Problem(path, (
            f"an L2 penalty ({value.name}, {L2_PENALTIES[value.name]}={coefficient}) and the optimizer's "
            f"decoupled weight decay (train.optimizer.weight_decay={decay}) both shrink the weights. "
            f"Expected one of them: drop this regularizer (decoupled decay is the right one with "
            f"Adam), drop weight_decay, or set '{OPT_IN}: true' on the regularizer to keep both")))
    return list(problems.values())


def check_normalizers(plan) -> list[Problem]:
    """A `normalizer:` argument must name a normalization layer (a factory marked `is_normalizer`)."""
    from pipeline import registries

    problems: dict[Path, Problem] = {}
    for path, key, value in layer_arguments(plan):
        if key == "normalizer" and isinstance(value, Checked) and value.entry.kind == "layers" \
                and not getattr(value.entry.factory, "is_normalizer", False):
            known = [e.name for e in registries.layers.entries() if getattr(e.factory, "is_normalizer", False)]
            problems.setdefault(path, Problem(path, (
                f"expected a normalization layer. Received: '{value.name}'. "
                f"Known: {', '.join(known) or '(none)'}")))
    return list(problems.values())


#: Losses that take rows of class probabilities (sparse cross-entropy is switched to its dense form).
#: A plugin's loss qualifies when its factory has `accepts_soft_labels = True`.
SOFT_LABEL_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "focal")


def check_soft_labels(plan) -> list[Problem]:
    """Batch mixing (`data.mix`) makes soft labels: the loss must accept them."""
    loss = plan.loss
    if plan.mix is None or loss is None:
        return []
    if getattr(loss.entry.factory, "accepts_soft_labels", loss.name in SOFT_LABEL_LOSSES):
        return []
    return [Problem(("train", "loss"), (
        f"data.mix ({plan.mix.name}) trains on soft labels, which loss '{loss.name}' does not take. "
        f"Expected one of: {', '.join(SOFT_LABEL_LOSSES)}"))]


CHECKS = (check_weight_decay, check_normalizers, check_soft_labels)


def lint(plan) -> list[Problem]:
    """Every cross-component problem of a validated plan."""
    return [problem for check in CHECKS for problem in check(plan)]
