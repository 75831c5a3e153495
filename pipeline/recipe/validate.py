"""Whole-recipe validation against the schema, the registries and the factories' signatures.

Runs without importing a deep-learning framework, so `pipeline validate` stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline import registries
from pipeline.components import Checked, _hints, check, check_value, parameters
from pipeline.errors import KeyPath, Problem, did_you_mean, printable, unknown_key
from pipeline.recipe.lint import lint
from pipeline.recipe.schema import Recipe
from pipeline.recipe.slots import SLOTS
from pipeline.search.space import search_problems
from pipeline.values import Expected

GRAPH = ("model", "layers")  # the slot planned as a graph (`_plan_model`), not one spec at a time
INPUT = "input"  # the name by which graph layers refer to the model input
LAYER_KEYS = ("inputs",)  # builder keys in a layer spec that are not factory arguments
_SPEC_MEMBERS = ("str", "dict[str,any]")  # pydantic names the `Spec` union member it tried


@dataclass
class LayerPlan:
    """One node of the model graph: its name, the nodes it reads and its checked layer spec."""

    name: str
    inputs: list[str]
    layer: Checked
    path: KeyPath


@dataclass
class Plan:
    """Everything checked: the typed recipe and each component ready to build.

    Each component slot of the schema (`pipeline.recipe.slots`) is an attribute by its field name:
    `plan.optimizer` (a `Checked` or None), `plan.metrics` (a list); `plan.layers` is the model graph.
    """

    recipe: Recipe
    layers: list[LayerPlan]
    outputs: list[str]
    components: dict[str, Any]  # slot name -> Checked | None, or a list of Checked for a list slot
    providers: set = field(default_factory=set)

    def __getattr__(self, name: str) -> Any:
        components = self.__dict__.get("components", {})
        if name in components:
            return components[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def _schema_problems(exc: ValidationError, data: Any) -> list[Problem]:
    problems: dict[KeyPath, Problem] = {}
    errors = exc.errors()
    located = [(err, _data_loc(tuple(err["loc"]), data, err["type"])) for err in errors]
    # Of a union's members, report the one the value was meant for (a mapping is never 'all'), and one
    # error when none fits.
    wrong = [len(loc) < len(err["loc"]) and _wrong_member(err) for err, loc in located]
    meant = {loc for (err, loc), w in zip(located, wrong) if not w}
    for (err, loc), w in zip(located, wrong):
        raw_loc = tuple(err["loc"])
        if w and any(m[:len(loc)] == loc for m in meant):
            continue
        if raw_loc and raw_loc[-1] in _SPEC_MEMBERS:
            message = (f"expected a component name or a mapping with a 'type' key. "
                       f"Received: {_shown(err['input'])}")
        elif err["type"] == "extra_forbidden":
            message = unknown_key(loc[-1], _fields_at(loc[:-1]))
        elif err["type"] == "missing":
            message = "missing required key"
        elif err["msg"].startswith("Keys should be strings"):
            message = f"expected a name as a key. Received: {_shown(err['input'])}"
        elif err["type"] in ("model_type", "dict_type"):
            message = f"expected a mapping. Received: {_shown(err['input'])}"
        elif isinstance(err.get("ctx", {}).get("error"), Expected):  # a range of pipeline.values
            message = f"expected {err['ctx']['error']}. Received: {_shown(err['input'])}"
        else:
            msg = err["msg"].removeprefix("Value error, ").rstrip(".")
            got = "" if isinstance(err["input"], dict) or "Received" in msg else f". Received: {_shown(err['input'])}"
            message = f"{msg[0].lower()}{msg[1:]}{got}"
        problems.setdefault(loc, Problem(loc, message))
    return list(problems.values())


def _shown(value: Any) -> str:
    return printable(repr(value))


def _listed(names: list[str], limit: int = 20) -> str:
    """'a, b, c' for messages, cut after `limit` names (a model may have thousands of layers)."""
    shown = ", ".join(printable(n, 40) for n in names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def _data_loc(loc: KeyPath, data: Any, error_type: str) -> KeyPath:
    """pydantic's error location as a path into the recipe: union members' names
    (`function-after[_one_rule(), Freeze]`, `literal['all']`) are not keys, so they are left out."""
    out: list = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif not (i == len(loc) - 1 and error_type == "missing"):
            continue
        out.append(part)
    return tuple(out)


def _wrong_member(err: dict) -> bool:
    """An error of a union member of another kind than the value: a literal for a mapping or a
    list, a section (a model) for a string or a number."""
    value = err["input"]
    return (err["type"] == "literal_error" and isinstance(value, (dict, list))) or \
        (err["type"] in ("model_type", "dict_type") and not isinstance(value, dict))


def _fields_at(loc: KeyPath) -> list[str]:
    """The keys allowed by the schema section at `loc` (for close-match hints)."""
    import typing

    model: Any = Recipe
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return []
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return []
    return list(model.model_fields)


def _section(tree: Any, *keys: str) -> Any:
    """`tree[k1][k2]…` or None: component checks read the raw tree, so they run even when the
    schema found problems elsewhere and every problem is reported in one go."""
    for key in keys:
        tree = tree.get(key) if isinstance(tree, dict) else None
    return tree


def _items(value: Any) -> list:
    return value if isinstance(value, list) else []


def plan_recipe(data: dict, *, run_lint: bool = True) -> tuple[Plan | None, list[Problem]]:
    """Validate a resolved recipe; return the build plan and every problem found (not just the first).

    `run_lint=False` skips the rules across components (`pipeline.recipe.lint`), for testing them alone.
    """
    problems: list[Problem] = []
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        recipe = None
        problems.extend(_schema_problems(exc, data))
    n_schema = len(problems)
    schema_paths = {p.path for p in problems}

    components: dict[str, Any] = {}
    for slot in SLOTS:
        registry = registries.ALL[slot.kind]
        if slot.path == GRAPH:  # layers name and read each other, and share model.defaults
            model = _section(data, "model")
            layers, outputs = _plan_model(model if isinstance(model, dict) else {}, problems)
        elif slot.many:
            components[slot.name] = [check(registry, spec, (*slot.path, i), problems)
                                     for i, spec in enumerate(_items(_section(data, *slot.path)))]
        else:
            spec = _section(data, *slot.path)
            spec = slot.default if spec is None else spec
            components[slot.name] = check(registry, spec, slot.path, problems) if spec is not None else None
    problems.extend(search_problems(data, plan_recipe))  # the space of `pipeline tune`, when there is one
    if problems:
        unique: dict[tuple, Problem] = {}
        for i, problem in enumerate(problems):
            # the schema and a component check may both see one bad value: keep the schema's word
            if i >= n_schema and problem.path in schema_paths:
                continue
            unique.setdefault((problem.path, problem.message), problem)
        return None, list(unique.values())
    plan = Plan(recipe, layers, outputs, components)
    plan.providers = {c.entry.provider for c in _all_checked(plan)}
    problems = lint(plan) if run_lint else []  # rules across components (weight decay twice, …)
    return (None, problems) if problems else (plan, [])


def _all_checked(plan: Plan):
    """Every checked component of the plan, nested arguments included."""
    stack = [lp.layer for lp in plan.layers]
    for value in plan.components.values():
        stack.extend(value if isinstance(value, list) else [value])
    while stack:
        item = stack.pop()
        if isinstance(item, Checked):
            yield item
            stack.extend(item.kwargs.values())


def _plan_model(model: dict, problems: list[Problem]) -> tuple[list[LayerPlan], list[str]]:
    defaults = model.get("defaults") if isinstance(model.get("defaults"), dict) else {}
    layer_specs = [s if isinstance(s, dict) else {} for s in _items(model.get("layers"))]
    plans: list[LayerPlan] = []
    known = [INPUT]
    known_set = {INPUT}  # `known` in order for messages, this for lookups (recipes may have many layers)
    used_defaults: set[str] = set()
    reported: set[tuple] = set()
    for i, spec in enumerate(layer_specs):
        path = ("model", "layers", i)
        checked = check(registries.layers, spec, path, problems, reserved=LAYER_KEYS)
        name = spec.get("name") if isinstance(spec.get("name"), str) else f"layer_{i}"
        if name in known_set:
            problems.append(Problem(path + ("name",), f"duplicate layer name '{printable(name)}'"))
            name = f"{name}#{i}"  # keep checking the rest without listing the name twice
        inputs = spec.get("inputs", [known[-1]])
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(n, str) for n in inputs):
            problems.append(Problem(path + ("inputs",), f"expected a list of layer names. Received: {inputs!r}"))
            inputs = []
        for j, ref in enumerate(inputs):
            if ref not in known_set:
                hint = did_you_mean(ref, known)
                problems.append(Problem(path + ("inputs", j), f"unknown input '{printable(ref)}' (a layer can read "
                                        f"only '{INPUT}' or earlier named layers){hint} Known: {_listed(known)}"))
        known.append(name)
        known_set.add(name)
        if checked is None:
            continue
        accepts = parameters(checked.entry)
        for key, value in defaults.items():
            if key in accepts and key not in spec:
                used_defaults.add(key)
                found: list[Problem] = []
                checked.kwargs[key] = check_value(_hints(checked.entry.factory).get(key, Any), value,
                                                  ("model", "defaults", key), found)
                for p in found:
                    if (p.path, p.message) not in reported:
                        reported.add((p.path, p.message))
                        problems.append(p)
        plans.append(LayerPlan(name, inputs, checked, path))
    accepted = sorted({arg for plan in plans for arg in parameters(plan.layer.entry)} - {"name"})
    for key in defaults if plans and len(plans) == len(_items(model.get("layers"))) else ():  # else moot
        if key not in used_defaults and not any(key in s for s in layer_specs):
            hint = did_you_mean(key, accepted, otherwise="")
            problems.append(Problem(("model", "defaults", key), f"no layer in this model accepts "
                                    f"'{key}', so the default would be ignored{hint}"))
    outputs = model.get("outputs") if isinstance(model.get("outputs"), list) else known[-1:] if len(known) > 1 else []
    for j, ref in enumerate(outputs):
        if not isinstance(ref, str) or ref not in known_set or ref == INPUT:
            problems.append(Problem(("model", "outputs", j), f"unknown layer '{printable(str(ref))}'. "
                                                             f"Known: {_listed(known[1:])}"))
    return plans, outputs

