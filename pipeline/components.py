"""Turning a component spec (`name` or `{type: name, **kwargs}`) into a checked call, then an object.

Checking and building share one path: `check` validates names and arguments against the
registry and the factory's signature (no framework import needed), `build` calls the factories.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from pipeline import registries
from pipeline.errors import KeyPath, Problem, RecipeError, did_you_mean
from pipeline.registry import Entry, Registry, RegistryError, split_spec

_NO_VALUE = object()


@dataclass
class Checked:
    """A validated spec: the entry and its coerced arguments (nested specs already checked)."""

    entry: Entry
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.entry.name


def _ref_kind(annotation: Any) -> tuple[str | None, bool]:
    """The registry kind an argument refers to (if any), and whether None is allowed."""
    if typing.get_origin(annotation) is typing.Annotated:
        refs = [m for m in annotation.__metadata__ if isinstance(m, registries.Ref)]
        return (refs[0].kind if refs else None), False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        optional = type(None) in args
        for arg in args:
            kind, _ = _ref_kind(arg)
            if kind:
                return kind, optional
    return None, False


@functools.lru_cache(maxsize=None)
def _hints(factory) -> dict[str, Any]:
    try:
        return typing.get_type_hints(factory, include_extras=True)
    except Exception:  # unresolvable annotations: accept any value rather than refuse the plugin
        return {}


@functools.lru_cache(maxsize=None)
def _adapter(annotation):
    from pydantic import TypeAdapter

    return TypeAdapter(annotation)


def _allows_bool(annotation: Any) -> bool:
    if annotation in (bool, Any, object):
        return True
    if typing.get_origin(annotation) is typing.Annotated:
        return _allows_bool(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_allows_bool(a) for a in typing.get_args(annotation))
    return False


# pydantic error types whose message only repeats "expected <type>"
_SAID_BY_TYPE = ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "int_type", "float_type",
                 "bool_type", "string_type", "literal_error", "none_required", "tuple_type", "list_type",
                 "dict_type", "finite_number", "int_from_float", "int_parsing")


def coerce(annotation: Any, value: Any) -> Any:
    """Validate a plain value against a type annotation (pydantic does the work, on the `strict`
    form of the annotation: no booleans or floats for integers, finite floats); ValueError if bad."""
    from pydantic import ValidationError

    from pipeline.errors import printable
    from pipeline.values import Expected, strict, type_name

    expected = type_name(annotation, drop_none=value is not None)  # "float (> 0)", not "float (> 0) | None"
    received = printable(repr(value))
    if isinstance(value, bool) and not _allows_bool(annotation):  # pydantic's lax mode reads true as 1
        raise ValueError(f"expected {expected}. Received: {received}")
    try:
        return _adapter(strict(annotation)).validate_python(value)
    except ValidationError as exc:
        errors = exc.errors()
        ranged = next((e["ctx"]["error"] for e in errors if isinstance(e.get("ctx", {}).get("error"), Expected)), None)
        if ranged is not None:
            raise ValueError(f"expected {ranged}. Received: {received}") from None
        detail = ""
        if not all(e["type"] in _SAID_BY_TYPE for e in errors):
            error = next(e for e in errors if e["type"] not in _SAID_BY_TYPE)
            reason = error["msg"].removeprefix("Value error, ").removeprefix("expected ")
            where = "".join(f"[{p}]" for p in error["loc"] if isinstance(p, int))
            detail = f" ({'item ' + where + ': ' if where else ''}{reason[0].lower()}{reason[1:]})"
        raise ValueError(f"expected {expected}{detail}. Received: {received}") from None
    except (TypeError, RuntimeError):  # an annotation pydantic cannot check: take the value as given
        return value


def parameters(entry: Entry) -> dict[str, inspect.Parameter]:
    """Keyword parameters a recipe may set (no *args/**kwargs catch-alls)."""
    return {n: p for n, p in entry.signature.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def check(registry: Registry, spec: Any, path: KeyPath, problems: list[Problem],
          *, reserved: tuple[str, ...] = ()) -> Checked | None:
    """Check `spec` against `registry`; append what is wrong to `problems` (None if unusable)."""
    try:
        name, kwargs = split_spec(spec)
    except TypeError:
        problems.append(Problem(path, f"expected a {registry.singular} name or a mapping with a "
                                      f"'type' key. Received: {spec!r}"))
        return None
    type_path = path + ("type",) if isinstance(spec, dict) else path
    try:
        entry = registry.get(name)
    except RegistryError as exc:
        problems.append(Problem(type_path, str(exc)))
        return None
    params = parameters(entry)
    open_kwargs = any(p.kind is p.VAR_KEYWORD for p in entry.signature.parameters.values())
    hints = _hints(entry.factory)
    out: dict[str, Any] = {}
    for arg, value in kwargs.items():
        if arg in reserved:
            continue
        if arg not in params and not open_kwargs:
            hint = did_you_mean(arg, params)
            problems.append(Problem(path + (arg,), f"unknown argument '{arg}' for {registry.singular} "
                                    f"'{entry.name}'{hint} Accepted: {', '.join(params) or '(none)'}"))
            continue
        out[arg] = check_value(hints.get(arg, _NO_VALUE), value, path + (arg,), problems)
    for arg, p in params.items():
        if p.default is p.empty and arg not in kwargs:
            problems.append(Problem(path, f"missing required argument '{arg}' for "
                                          f"{registry.singular} '{entry.name}'"))
    return Checked(entry, out)


def check_value(annotation: Any, value: Any, path: KeyPath, problems: list[Problem]) -> Any:
    """Check one argument: a nested spec for `Ref` annotations, a plain typed value otherwise."""
    if annotation is _NO_VALUE:
        return value
    kind, optional = _ref_kind(annotation)
    if kind is not None:
        if value is None:
            if not optional:
                problems.append(Problem(path, f"expected a {registries.ALL[kind].singular}. Received: None"))
            return None
        return check(registries.ALL[kind], value, path, problems)
    try:
        return coerce(annotation, value)
    except ValueError as exc:
        problems.append(Problem(path, str(exc)))
        return value


def build(checked: Checked | None, **extra: Any) -> Any:
    """Call the factory, building nested specs first."""
    if checked is None:
        return None
    kwargs = {k: build(v) if isinstance(v, Checked) else v for k, v in checked.kwargs.items()}
    return checked.entry.factory(**kwargs, **extra)


def build_spec(registry: Registry, spec: Any, path: KeyPath = ()) -> Any:
    """Check and build in one go; raises `RecipeError` if the spec is wrong."""
    problems: list[Problem] = []
    checked = check(registry, spec, path, problems)
    if problems:
        raise RecipeError(problems)
    return build(checked)
