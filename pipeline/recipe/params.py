"""The params a run logs: the recipe as it ran, every default filled in.

A recipe says only what differs from the defaults; a run compared in the MLflow UI must show what
ran. So the params are the validated recipe with the schema's defaults (`data.split.stratify`,
`diagnostics.explosion_factor`, `train.precision`, ...) and each component written out whole: its
registered name as `type` and every argument of its factory, the signature's defaults included
(Adam's `beta_1`, batch norm's `momentum`). `data.split.seed` is the seed the split used.

Left out, the same way for runs, k-fold folds and search trials, so their params compare key for
key: what does not change the numbers (`track.*`, `train.verbose`, `train.checkpoint_every`, the
name and description, the `search:` section); values that are None are not logged at all
(`RunLogger.log_params`: the key is absent, never the string "None"). The resolved recipe as written stays the `recipe.yaml`
artifact.
"""

from __future__ import annotations

import inspect
from typing import Any

from pipeline.components import Checked, parameters
from pipeline.recipe.validate import Plan

NOT_PARAMS = ("name", "description", "search", "track")
BOOKKEEPING = ("verbose", "checkpoint_every")  # train settings that change how a run reports, not its numbers


def component(checked: Checked) -> dict[str, Any]:
    """{type: registered name, every factory argument: value}, nested components written out too."""
    args = {name: p.default for name, p in parameters(checked.entry).items() if p.default is not inspect.Parameter.empty}
    args.update(checked.kwargs)
    return {"type": checked.entry.name, **{k: _written(v) for k, v in args.items()}}


def _written(value: Any) -> Any:
    if isinstance(value, Checked):
        return component(value)
    if isinstance(value, (list, tuple)):
        return [_written(v) for v in value]
    if isinstance(value, dict):
        return {k: _written(v) for k, v in value.items()}
    return value


def as_run(plan: Plan) -> dict[str, Any]:
    """The recipe tree that ran: schema defaults in, components written out (see the module doc)."""
    recipe = plan.recipe
    tree = recipe.model_dump(mode="python", exclude=set(NOT_PARAMS))
    data, model, train = tree["data"], tree["model"], tree["train"]
    data["source"] = component(plan.source)
    data["preprocess"] = [component(c) for c in plan.preprocess]
    data["mix"] = component(plan.mix) if plan.mix is not None else None
    if data["split"]["seed"] is None:
        data["split"]["seed"] = recipe.seed
    model["layers"] = [{**component(lp.layer), **({"inputs": lp.inputs} if "inputs" in spec else {})}
                       for lp, spec in zip(plan.layers, recipe.model.layers)]
    train["optimizer"] = component(plan.optimizer)
    train["schedule"] = component(plan.schedule) if plan.schedule is not None else None
    train["loss"] = component(plan.loss)
    train["metrics"] = [component(c) for c in plan.metrics]
    train["callbacks"] = [component(c) for c in plan.callbacks]
    for key in BOOKKEEPING:
        train.pop(key)
    return tree


def flatten(tree: Any, prefix: str = "", item: str = "{}.{}") -> dict[str, Any]:
    """{'train': {'optimizer': {'type': 'adam'}}} -> {'train.optimizer.type': 'adam'}; an empty list
    or mapping stays a value ('[]' / '{}' once logged). `item` names a list's element from the list's
    key and the index: 'model.layers.0' as a param, `"{}[{}]"` for `--set` paths ('model.layers[0]')."""
    out: dict[str, Any] = {}
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key), item))
    elif isinstance(tree, (list, tuple)) and tree:
        for i, value in enumerate(tree):
            out.update(flatten(value, item.format(prefix, i), item))
    else:
        out[prefix] = list(tree) if isinstance(tree, tuple) else tree
    return out


def run_params(plan: Plan) -> dict[str, Any]:
    """The params of a run of `plan`: `as_run`, flattened."""
    return flatten(as_run(plan))
