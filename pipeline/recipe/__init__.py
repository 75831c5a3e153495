"""Recipes: load (safe YAML with marks), resolve (`extends:`, `--set`), validate, hash."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Iterable

from pipeline.errors import Location, Problem, RecipeError, format_path
from pipeline.recipe.hashing import stable_hash
from pipeline.recipe.loader import Marks
from pipeline.recipe.resolve import apply_override, load_with_extends
from pipeline.recipe.validate import Plan, plan_recipe

__all__ = ["LoadedRecipe", "Location", "Problem", "RecipeError", "format_path", "load_recipe",
           "replanned", "resolve_recipe"]


@dataclass
class LoadedRecipe:
    """A recipe ready to run: the resolved tree (what gets logged), its build plan and its hash."""

    file: str
    resolved: dict
    plan: Plan
    marks: Marks
    hash: str
    overrides: tuple[str, ...] = ()  # the `--set` assignments, to say how to run it again


def locate(problem: Problem, marks: Marks) -> Problem:
    """Attach the location of the nearest key that was written in a file or an override."""
    path = problem.path
    while path not in marks and path:
        path = path[:-1]
    return Problem(problem.path, problem.message, problem.location or marks.get(path))


def resolve_recipe(file: str | FilePath, overrides: Iterable[str] = ()) -> tuple[dict, Marks]:
    """Merge `extends:` parents, apply `--set` overrides and fill in the backend."""
    from pipeline import backend

    data, marks = load_with_extends(FilePath(file))
    for assignment in overrides:
        apply_override(data, marks, assignment)
    if isinstance(data.get("backend"), (str, type(None))):
        data["backend"] = backend.resolve(data.get("backend"))
    return data, marks


def load_recipe(file: str | FilePath, overrides: Iterable[str] = ()) -> LoadedRecipe:
    """Resolve and validate a recipe against the registries; raise `RecipeError` listing every problem."""
    from pipeline.plugins import load_plugins

    plugins = load_plugins()
    data, marks = resolve_recipe(file, overrides)
    plan, problems = plan_recipe(data)
    if problems:
        raise RecipeError([locate(_explain_plugin(p, plugins.failed), marks) for p in problems])
    versions = sorted({(p.plugin, p.distribution, p.version) for p in plan.providers}, key=str)
    return LoadedRecipe(str(file), data, plan, marks, stable_hash(data, versions), tuple(overrides))


def replanned(loaded: LoadedRecipe, resolved: dict) -> LoadedRecipe:
    """`loaded` with another resolved tree (a fold, a remedy's change): re-planned and re-hashed
    like any recipe; `RecipeError` if the tree is not a valid recipe."""
    from dataclasses import replace

    plan, problems = plan_recipe(resolved)
    if problems:
        raise RecipeError(problems)
    versions = sorted({(p.plugin, p.distribution, p.version) for p in plan.providers}, key=str)
    return replace(loaded, resolved=resolved, plan=plan, hash=stable_hash(resolved, versions))


def _explain_plugin(problem: Problem, failed: dict[str, str]) -> Problem:
    """An unknown `ns.name` often means plugin `ns` failed to load or autoload is off: say so."""
    from pipeline.plugins import DISABLE_ENV, autoload_disabled

    for name, reason in failed.items():
        if f"'{name}." in problem.message:
            return Problem(problem.path, f"{problem.message} -- plugin '{name}' failed to load: {reason}",
                           problem.location)
    if autoload_disabled() and problem.message.startswith("unknown") and "." in problem.message.split("'")[1]:
        return Problem(problem.path, f"{problem.message} -- third-party plugins are not loaded because "
                                     f"{DISABLE_ENV} is set", problem.location)
    return problem
