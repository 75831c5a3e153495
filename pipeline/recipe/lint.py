"""Checks across components that no single signature can express (run on a validated plan).

Each check takes the `Plan` and returns `Problem`s at the recipe paths a user has to change; no
framework import. `lint(plan)` runs them all.
"""

from __future__ import annotations

from typing import Any, Iterator

from pipeline import registries
from pipeline.components import Checked
from pipeline.errors import KeyPath, Problem
from pipeline.tasks import task_of

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


def layer_arguments(plan) -> Iterator[tuple[KeyPath, str, Any]]:
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


def _walk(path: KeyPath, key: str, value: Any) -> Iterator[tuple[KeyPath, str, Any]]:
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
    problems: dict[KeyPath, Problem] = {}
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
    problems: dict[KeyPath, Problem] = {}
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


def _spec_path(path: KeyPath, spec: Any) -> KeyPath:
    """Where a component's name is written: its `type` key, or the bare name."""
    return path + ("type",) if isinstance(spec, dict) else path


def _task_mismatch(checked: Checked, path: KeyPath, spec: Any, task: str, what: str) -> Problem | None:
    made_for = task_of(checked.entry)
    if made_for is None or made_for == task:
        return None
    registry = registries.ALL[checked.entry.kind]
    fitting = sorted(e.name for e in registry.entries() if task_of(e) in (None, task))
    default = " (the default)" if task == "classification" else ""
    return Problem(_spec_path(path, spec), (
        f"{what} '{checked.name}' is for {made_for}, but the recipe's task is {task}{default}. "
        f"Expected a {task} {what}: {', '.join(fitting)}; or set task: {made_for} at the top of the recipe"))


#: Settings that only mean something for class labels, and why.
CLASS_LABEL_SETTINGS = {
    ("data", "imbalance", "class_weight"): "class weights count examples per class",
    ("data", "imbalance", "oversample"): "oversampling draws every class equally often",
    ("data", "imbalance_ratio"): "a long-tailed subset keeps fewer examples of some classes",
    ("data", "mix"): "batch mixing blends class labels into soft labels",
}


def check_task(plan) -> list[Problem]:
    """`task:` decides the loss, the metrics and the data settings that make sense: a regression loss
    or metric on a classification task (and the reverse) is refused, and so are class-label
    settings in a regression and target settings in a classification."""
    recipe = plan.recipe
    task = recipe.task
    train = recipe.train
    problems = [_task_mismatch(plan.loss, ("train", "loss"), train.loss, task, "loss")]
    problems += [_task_mismatch(m, ("train", "metrics", i), train.metrics[i], task, "metric")
                 for i, m in enumerate(plan.metrics)]
    if task == "regression":
        imbalance = recipe.data.imbalance
        values = {("data", "imbalance", "class_weight"): imbalance.class_weight,
                  ("data", "imbalance", "oversample"): imbalance.oversample,
                  ("data", "imbalance_ratio"): recipe.data.imbalance_ratio, ("data", "mix"): recipe.data.mix}
        problems += [Problem(path, f"{why}, and task: regression has no classes. Expected it unset (or set "
                                   f"task: classification)")
                     for path, why in CLASS_LABEL_SETTINGS.items() if values[path] not in (None, False)]
        if recipe.data.standardize_targets and len(plan.outputs) > 1:
            problems.append(Problem(("data", "standardize_targets"), (
                f"standardized targets are mapped back on the model's one output. Expected one output. "
                f"Received: model.outputs={plan.outputs}")))
    else:
        if recipe.data.standardize_targets:
            problems.append(Problem(("data", "standardize_targets"), (
                "standardizing targets is for regression; class labels are not scaled. Expected it unset "
                "(or set task: regression)")))
        if recipe.diagnostics.target_r2 is not None:
            problems.append(Problem(("diagnostics", "target_r2"), (
                "R² reads regression errors; a classification verdict reads the error rate. Expected "
                "diagnostics.target_error (a fraction) instead")))
        if recipe.diagnostics.target_error >= 1:
            problems.append(Problem(("diagnostics", "target_error"), (
                f"a classification error is a fraction. Expected a value below 1. "
                f"Received: {recipe.diagnostics.target_error!r}")))
    if task == "regression" and recipe.diagnostics.target_r2 is not None and recipe.diagnostics.target_error:
        problems.append(Problem(("diagnostics", "target_r2"), (
            "target_error and target_r2 both set the best error the verdict compares with. Expected one")))
    return [p for p in problems if p is not None]


CHECKS = (check_weight_decay, check_normalizers, check_soft_labels, check_task)


def lint(plan) -> list[Problem]:
    """Every cross-component problem of a validated plan."""
    return [problem for check in CHECKS for problem in check(plan)]
