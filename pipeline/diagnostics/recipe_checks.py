"""Recipe lint that `pipeline diagnose` adds to the validator's (no framework import): output layer vs
loss, output units vs classes (regression: vs targets), batch norm right after dropout. (An L2
penalty together with decoupled weight decay is already refused by `pipeline.recipe.lint`.)"""

from __future__ import annotations

from pipeline.components import Checked
from pipeline.errors import format_path
from pipeline.recipe.lint import argument

#: losses that read one score per class (integer or one-hot labels)
PER_CLASS_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "hinge", "focal")
DROPOUTS = ("dropout", "spatial_dropout1d", "spatial_dropout2d")
NORMS_AFTER_DROPOUT = ("batch_norm",)


def _output_layers(plan):
    return [lp for lp in plan.layers if lp.name in plan.outputs]


def output_activation(layer_plan) -> str | None:
    """'softmax', 'sigmoid', 'linear', ... of an output layer (None when it cannot be told)."""
    checked = layer_plan.layer
    value = checked.kwargs.get("fn") if checked.name == "activation" else argument(checked, "activation", None)
    if value is None:
        return "linear" if "activation" in checked.entry.signature.parameters else None
    return value.name if isinstance(value, Checked) else str(value)


def check_output_vs_loss(plan) -> list[tuple[str, str, str]]:
    """(status, where, message): a softmax/sigmoid output fed to a loss told `from_logits: true` is
    squashed twice; a linear output fed to a loss expecting probabilities is not squashed at all."""
    if "from_logits" not in plan.loss.entry.signature.parameters:
        return []
    from_logits = bool(argument(plan.loss, "from_logits", False))
    out = []
    for lp in _output_layers(plan):
        act = output_activation(lp)
        where = format_path(lp.path)
        if from_logits and act in ("softmax", "sigmoid"):
            out.append(("fail", where, f"the output applies {act} and the loss has from_logits: true, which applies "
                        f"it again (gradients shrink, the initial loss is off): use a linear output "
                        f"(activation: linear) or from_logits: false"))
        elif not from_logits and act == "linear":
            out.append(("fail", where, "the output is linear (logits) but the loss expects probabilities "
                        "(from_logits: false): set from_logits: true on the loss"))
    return out


def _units_other_than(plan, expected: int, what: str) -> list[tuple[str, str, str]]:
    """An output layer whose `units` differ from `expected` ("N output units but the data has `what`")."""
    out = []
    for lp in _output_layers(plan):
        units = lp.layer.kwargs.get("units")
        if isinstance(units, int) and units != expected:
            out.append(("fail", format_path(lp.path + ("units",)),
                        f"{units} output units but the data has {what}: set units: {expected}"))
    return out


def check_output_units(plan, num_classes: int | None) -> list[tuple[str, str, str]]:
    """A per-class loss needs exactly one output unit per class."""
    if not num_classes or plan.loss.name not in PER_CLASS_LOSSES:
        return []
    return _units_other_than(plan, num_classes, f"{num_classes} classes ({plan.loss.name} reads one score per class)")


def check_output_targets(plan, targets: int | None) -> list[tuple[str, str, str]]:
    """A regression model needs one output unit per target (a label column each)."""
    return _units_other_than(plan, targets, f"{targets} target(s) (one value each)") if targets else []


def check_batch_norm_after_dropout(plan) -> list[tuple[str, str, str]]:
    """Batch norm reading dropout's output learns statistics of the dropped-out training activations,
    which differ from the inference ones (the "variance shift", Li et al. 2019): put dropout after it."""
    by_name = {lp.name: lp for lp in plan.layers}
    out = []
    for lp in plan.layers:
        if lp.layer.name in NORMS_AFTER_DROPOUT and len(lp.inputs) == 1:
            before = by_name.get(lp.inputs[0])
            if before is not None and before.layer.name in DROPOUTS:
                out.append(("warn", format_path(lp.path), f"batch norm directly after {before.layer.name} "
                            f"({format_path(before.path)}): its statistics are learned on dropped-out activations "
                            f"and differ at inference (variance shift); place dropout after the last batch norm"))
    return out


def recipe_findings(plan, num_classes: int | None, targets: int | None = None) -> list[tuple[str, str, str]]:
    """`num_classes` (classification) or `targets` (regression: values per example) of the data."""
    return [*check_output_vs_loss(plan), *check_output_units(plan, num_classes), *check_output_targets(plan, targets),
            *check_batch_norm_after_dropout(plan)]
