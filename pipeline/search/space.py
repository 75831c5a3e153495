"""The space of a recipe's `search:` section, keyed by recipe paths, and its checks (the settings are
in `pipeline/search/settings.py`).

Pure Python (no framework import): `pipeline validate` checks the space with the rest of the recipe.
Every value a dimension can take is applied to the recipe and the result checked by `plan_recipe`,
so a trial is always a complete, valid recipe.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import ValidationError

from pipeline.errors import KeyPath, Problem, did_you_mean, format_path, parse_key_path, printable, unknown_key
from pipeline.search.settings import SearchSettings

DISTRIBUTIONS = ("log_uniform", "uniform", "int", "choice")
SPACE = ("search", "space")
MAX_PROBES = 256  # values `validate` checks by planning the recipe they give (~2-10 ms each)...
MAX_PROBE_WORK = 50_000  # ...and probes x recipe values: about 3 s of planning at most


def _size(tree: Any) -> int:
    """Values in a recipe tree (keys, items, scalars), what planning it costs in proportion to."""
    if isinstance(tree, dict):
        return 1 + sum(1 + _size(v) for v in tree.values())
    if isinstance(tree, list):
        return 1 + sum(_size(v) for v in tree)
    return 1


@dataclass(frozen=True)
class Dimension:
    """One searched value: a recipe path (also its KerasTuner name), a distribution, an optional condition."""

    name: str  # as written: 'model.layers[3].rate'
    keys: KeyPath  # ('model', 'layers', 3, 'rate')
    kind: str  # log_uniform | uniform | int | choice
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    values: tuple = ()
    when: tuple[str, tuple] | None = None  # (name of a choice dimension, the values that enable this one)

    @property
    def continuous(self) -> bool:
        return self.kind != "choice"

    def probes(self) -> list:
        """Values that exercise the extremes of the dimension, to validate the recipes they give."""
        return list(self.values) if self.kind == "choice" else [self.low, self.high]

    def spec(self) -> dict:
        """The dimension written back as a space entry (for logging and for later stages)."""
        out: dict[str, Any] = {self.kind: list(self.values) if self.kind == "choice" else [self.low, self.high]}
        if self.step is not None:
            out["step"] = self.step
        if self.when:
            out["when"] = {self.when[0]: list(self.when[1])}
        return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_dimension(name: str, entry: Any, problems: list[Problem]) -> Dimension | None:
    """One space entry -> a Dimension, or problems (wrong shape, inverted range, log bound <= 0)."""
    at = (*SPACE, name)
    try:
        keys = parse_key_path(name)
    except ValueError:
        problems.append(Problem(at, "expected a recipe path like 'train.optimizer.learning_rate' or "
                                    "'model.layers[3].rate'"))
        return None
    if not isinstance(entry, dict):
        problems.append(Problem(at, f"expected a mapping with one of {', '.join(DISTRIBUTIONS)}. "
                                    f"Received: {entry!r}"))
        return None
    kinds = [k for k in entry if k in DISTRIBUTIONS]
    unknown = [k for k in entry if k not in (*DISTRIBUTIONS, "step", "when")]
    for key in unknown:
        problems.append(Problem((*at, key), unknown_key(key, [*DISTRIBUTIONS, "step", "when"])))
    if len(kinds) != 1:
        if not unknown:
            problems.append(Problem(at, f"expected exactly one of {', '.join(DISTRIBUTIONS)}. "
                                        f"Received: {', '.join(map(str, entry)) or 'nothing'}"))
        return None
    kind = kinds[0]
    arg = entry[kind]
    count = len(problems)
    low = high = step = None
    values: tuple = ()
    if kind == "choice":
        if not isinstance(arg, list) or not arg:
            problems.append(Problem((*at, kind), f"expected a non-empty list of values. Received: {arg!r}"))
        elif len({type(v) for v in arg}) != 1 or not isinstance(arg[0], (str, int, float, bool)):
            problems.append(Problem((*at, kind), "expected values of one type (all names, all integers, "
                                                 f"all numbers or all booleans). Received: {arg!r}"))
        elif len(set(arg)) != len(arg):
            problems.append(Problem((*at, kind), f"duplicate values. Received: {arg!r}"))
        else:
            values = tuple(arg)
        if "step" in entry:
            problems.append(Problem((*at, "step"), "'step' applies to uniform and int ranges only"))
    else:
        if not isinstance(arg, list) or len(arg) != 2 or not all(_number(v) for v in arg):
            problems.append(Problem((*at, kind), f"expected [low, high], two numbers. Received: {arg!r}"))
        else:
            low, high = arg
            if kind == "int" and not all(isinstance(v, int) for v in arg):
                problems.append(Problem((*at, kind), f"expected two integers. Received: {arg!r}"))
            elif low >= high:
                problems.append(Problem((*at, kind), f"inverted or empty range: low must be < high. "
                                                     f"Received: [{low}, {high}]"))
            elif kind == "log_uniform" and low <= 0:
                problems.append(Problem((*at, kind), f"log_uniform bounds must be > 0 (sampled in log "
                                                     f"space). Received: [{low}, {high}]"))
        step = entry.get("step")
        if step is not None:
            if kind == "log_uniform":
                problems.append(Problem((*at, "step"), "'step' applies to uniform and int ranges only"))
            elif not _number(step) or step <= 0 or (kind == "int" and not isinstance(step, int)):
                problems.append(Problem((*at, "step"), f"expected a positive {'integer' if kind == 'int' else 'number'}. "
                                                       f"Received: {step!r}"))
    when = None
    if "when" in entry:
        cond = entry["when"]
        if not isinstance(cond, dict) or len(cond) != 1:
            problems.append(Problem((*at, "when"), f"expected {{choice path: value or [values]}}. Received: {cond!r}"))
        else:
            (parent, allowed), = cond.items()
            when = (str(parent), tuple(allowed) if isinstance(allowed, list) else (allowed,))
    if len(problems) > count:
        return None
    return Dimension(name, keys, kind, low, high, step, values, when)


def _unknown_path(tree: Any, keys: KeyPath) -> Problem | None:
    """Every container above the last key must exist in the recipe (the last key may be new)."""
    node = tree
    for i, key in enumerate(keys[:-1]):
        in_dict = isinstance(node, dict) and key in node and isinstance(node[key], (dict, list))
        in_list = isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node)
        if in_dict or in_list:
            node = node[key]
        else:
            where = format_path(keys[:i]) or "the recipe"
            if isinstance(node, list):
                return Problem((), f"unknown path: {where} has {len(node)} items, no [{key}]")
            known = [k for k in node if isinstance(node.get(k), (dict, list))] if isinstance(node, dict) else []
            hint = did_you_mean(key, known, otherwise="")
            return Problem((), f"unknown path: no '{key}' in {where}{hint}")
    last = keys[-1]
    if isinstance(node, list) and not (isinstance(last, int) and -len(node) <= last < len(node)):
        return Problem((), f"unknown path: {format_path(keys[:-1])} has {len(node)} items, no [{last}]")
    if isinstance(node, dict) and isinstance(last, int):
        return Problem((), f"unknown path: {format_path(keys[:-1])} is a mapping, not a list")
    return None


def apply_values(tree: dict, dims: list[Dimension], values: dict[str, Any]) -> dict:
    """A copy of `tree` with each sampled value written at its dimension's path."""
    out = copy.deepcopy(tree)
    by_name = {d.name: d for d in dims}
    for name, value in values.items():
        dim = by_name.get(name)
        if dim is None:
            continue  # a tuner's own bookkeeping value (e.g. hyperband's 'tuner/epochs')
        node = out
        for key in dim.keys[:-1]:
            node = node[key]
        node[dim.keys[-1]] = value.item() if hasattr(value, "item") else value
    return out


def parse_space(space: dict) -> tuple[list[Dimension], list[Problem]]:
    problems: list[Problem] = []
    dims = [d for name, entry in space.items() if (d := parse_dimension(str(name), entry, problems))]
    by_name = {d.name: d for d in dims}
    for dim in dims:
        if dim.when is None:
            continue
        parent = by_name.get(dim.when[0])
        at = (*SPACE, dim.name, "when", dim.when[0])
        if parent is None or parent.kind != "choice":
            problems.append(Problem(at, f"a condition must name a 'choice' entry of the space. "
                                        f"Choices: {', '.join(d.name for d in dims if d.kind == 'choice') or 'none'}"))
        elif not all(value in parent.values for value in dim.when[1]):  # values may be unhashable
            problems.append(Problem(at, f"{printable(repr(list(dim.when[1])))} are not all among the choices "
                                        f"{printable(repr(list(parent.values)))}"))
        elif parent.when is not None:
            problems.append(Problem(at, "conditions can be one level deep only"))
    return dims, problems


def search_problems(data: dict, plan_recipe: Callable[[dict], tuple[Any, list[Problem]]]) -> list[Problem]:
    """Every problem in `data['search']` (none when absent), each at its path under `search`; each
    value the space can take is checked by planning the recipe with it (`plan_recipe`, handed in by
    the recipe validator that calls this)."""
    tree = data.get("search")
    if tree is None:
        return []
    problems: list[Problem] = []
    try:
        settings = SearchSettings.model_validate(tree)
    except ValidationError:  # reported by the schema
        settings = None
    if data.get("task") == "regression" and isinstance(tree, dict) and "objective" not in tree:
        default = SearchSettings.model_fields["objective"].default
        problems.append(Problem(("search",), f"the default objective {default} is a classification metric. Expected "
                                             f"search.objective for a regression, e.g. val_loss or val_mae"))
    if not isinstance(tree, dict) or not isinstance(tree.get("space"), dict):
        return problems
    dims, space_problems = parse_space(tree["space"])
    problems += space_problems
    if settings and settings.tuner == "grid":
        for dim in dims:
            if dim.kind in ("uniform", "log_uniform") and dim.step is None:
                problems.append(Problem((*SPACE, dim.name), "a grid needs a finite set of values: give "
                                        "uniform ranges a 'step', or use choice"))
    base = {k: v for k, v in data.items() if k != "search"}
    probes, size = sum(len(d.probes()) for d in dims), _size(base)
    if probes > MAX_PROBES or probes * size > MAX_PROBE_WORK:  # each probe plans the whole recipe
        return problems + [Problem(SPACE, f"expected at most {min(MAX_PROBES, MAX_PROBE_WORK // size)} values to "
                                          f"check for this recipe of {size} values (each choice, and the two ends "
                                          f"of each range). Received: {probes} in {len(dims)} dimensions")]
    by_name = {d.name: d for d in dims}
    for dim in dims:
        missing = _unknown_path(base, dim.keys)
        if missing:
            problems.append(Problem((*SPACE, dim.name), missing.message))
            continue
        for value in dim.probes():
            values = {dim.name: value}
            if dim.when and dim.when[0] in by_name:
                values[dim.when[0]] = dim.when[1][0]
            _, found = plan_recipe(apply_values(base, dims, values))
            if found:
                first = found[0]
                problems.append(Problem((*SPACE, dim.name), f"{dim.name}={value!r} gives an invalid recipe: "
                                        f"{format_path(first.path)}: {first.message}"))
                break
    return problems


def parse_search(data: dict) -> tuple[SearchSettings, list[Dimension]]:
    """Settings and dimensions of a recipe already checked by `search_problems`."""
    settings = SearchSettings.model_validate(data["search"])
    dims, _ = parse_space(data["search"]["space"])
    return settings, dims
