"""Whole-recipe validation against the schema, the registries and the factories' signatures.

Runs without importing a deep-learning framework, so `pipeline validate` stays instant.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline import registries
from pipeline.components import Checked, _hints, check, check_value, parameters
from pipeline.errors import Path, Problem
from pipeline.recipe.schema import Recipe

INPUT = "input"  # the name by which graph layers refer to the model input
LAYER_KEYS = ("inputs",)  # builder keys in a layer spec that are not factory arguments
_SPEC_MEMBERS = ("str", "dict[str,any]")  # pydantic names the `Spec` union member it tried


@dataclass
class LayerPlan:
    """One node of the model graph: its name, the nodes it reads and its checked layer spec."""

    name: str
    inputs: list[str]
    layer: Checked
    path: Path


@dataclass
class Plan:
    """Everything checked: the typed recipe and each component ready to build."""

    recipe: Recipe
    source: Checked
    preprocess: list[Checked]
    layers: list[LayerPlan]
    outputs: list[str]
    optimizer: Checked
    schedule: Checked | None
    loss: Checked
    metrics: list[Checked]
    callbacks: list[Checked]
    providers: set = field(default_factory=set)


def _schema_problems(exc: ValidationError) -> list[Problem]:
    problems: dict[Path, Problem] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        if loc and loc[-1] in _SPEC_MEMBERS:
            loc = loc[:-1]
            message = (f"expected a component name or a mapping with a 'type' key. "
                       f"Received: {err['input']!r}")
        elif err["type"] == "extra_forbidden":
            fields = _fields_at(loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), fields, n=2, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "."
            message = f"unknown key '{loc[-1]}'{hint} Expected one of: {', '.join(fields)}"
        elif err["type"] == "missing":
            message = "missing required key"
        else:
            msg = err["msg"].removeprefix("Value error, ").rstrip(".")
            got = "" if isinstance(err["input"], dict) or "Received" in msg else f" Received: {err['input']!r}"
            message = f"{msg[0].lower()}{msg[1:]}.{got}"
        problems.setdefault(loc, Problem(loc, message))
    return list(problems.values())


def _fields_at(loc: Path) -> list[str]:
    """The keys allowed by the schema section at `loc` (for close-match hints)."""
    import typing

    model: Any = Recipe
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation
        candidates = [annotation, *typing.get_args(annotation)]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return []
    return list(model.model_fields)


def plan_recipe(data: dict) -> tuple[Plan | None, list[Problem]]:
    """Validate a resolved recipe; return the build plan and every problem found (not just the first)."""
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        return None, _schema_problems(exc)
    problems: list[Problem] = []
    R = registries
    source = check(R.datasets, recipe.data.source, ("data", "source"), problems)
    preprocess = [check(R.preprocessors, s, ("data", "preprocess", i), problems)
                  for i, s in enumerate(recipe.data.preprocess)]
    layers, outputs = _plan_model(recipe, problems)
    t = recipe.train
    optimizer = check(R.optimizers, t.optimizer, ("train", "optimizer"), problems)
    schedule = check(R.schedules, t.schedule, ("train", "schedule"), problems) if t.schedule else None
    loss = check(R.losses, t.loss, ("train", "loss"), problems)
    metrics = [check(R.metrics, s, ("train", "metrics", i), problems) for i, s in enumerate(t.metrics)]
    callbacks = [check(R.callbacks, s, ("train", "callbacks", i), problems)
                 for i, s in enumerate(t.callbacks)]
    if problems:
        return None, problems
    plan = Plan(recipe, source, preprocess, layers, outputs, optimizer, schedule, loss, metrics, callbacks)
    plan.providers = {c.entry.provider for c in _all_checked(plan)}
    return plan, []


def _all_checked(plan: Plan):
    stack = [plan.source, *plan.preprocess, *(lp.layer for lp in plan.layers), plan.optimizer,
             plan.schedule, plan.loss, *plan.metrics, *plan.callbacks]
    while stack:
        item = stack.pop()
        if isinstance(item, Checked):
            yield item
            stack.extend(item.kwargs.values())


def _plan_model(recipe: Recipe, problems: list[Problem]) -> tuple[list[LayerPlan], list[str]]:
    model = recipe.model
    plans: list[LayerPlan] = []
    known = [INPUT]
    used_defaults: set[str] = set()
    reported: set[tuple] = set()
    for i, spec in enumerate(model.layers):
        path = ("model", "layers", i)
        checked = check(registries.layers, spec, path, problems, reserved=LAYER_KEYS)
        name = spec.get("name") if isinstance(spec.get("name"), str) else f"layer_{i}"
        if name in known:
            problems.append(Problem(path + ("name",), f"duplicate layer name '{name}'"))
        inputs = spec.get("inputs", [known[-1]])
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(n, str) for n in inputs):
            problems.append(Problem(path + ("inputs",), f"expected a list of layer names. Received: {inputs!r}"))
            inputs = []
        for j, ref in enumerate(inputs):
            if ref not in known:
                close = difflib.get_close_matches(ref, known, n=2, cutoff=0.6)
                hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "."
                problems.append(Problem(path + ("inputs", j), f"unknown input '{ref}' (a layer can read "
                                        f"only '{INPUT}' or earlier named layers){hint} Known: {', '.join(known)}"))
        known.append(name)
        if checked is None:
            continue
        for key, value in model.defaults.items():
            if key in parameters(checked.entry) and key not in spec:
                used_defaults.add(key)
                found: list[Problem] = []
                checked.kwargs[key] = check_value(_hints(checked.entry.factory).get(key, Any), value,
                                                  ("model", "defaults", key), found)
                for p in found:
                    if (p.path, p.message) not in reported:
                        reported.add((p.path, p.message))
                        problems.append(p)
        plans.append(LayerPlan(name, inputs, checked, path))
    for key in model.defaults:
        if key not in used_defaults and not any(key in s for s in model.layers):
            problems.append(Problem(("model", "defaults", key),
                                    f"no layer in this model accepts '{key}', so the default would be ignored"))
    outputs = model.outputs or [known[-1]]
    for j, ref in enumerate(outputs):
        if ref not in known[1:]:
            problems.append(Problem(("model", "outputs", j), f"unknown layer '{ref}'. Known: {', '.join(known[1:])}"))
    return plans, outputs

