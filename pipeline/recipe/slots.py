"""The component slots of a recipe, read from the schema's annotations.

A slot is a schema field annotated `Annotated[Spec, Ref("optimizers")]` (or a list or an optional of
it): its value is a component spec of that registry's kind. Declaring the kind on the field is the
only place a slot is listed; the validator plans every slot from `SLOTS`, `pipeline schema` gives
each one the registry's names and arguments, and the plan exposes each by its field name.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from pipeline.components import _ref_kind
from pipeline.errors import KeyPath
from pipeline.recipe.schema import Recipe


@dataclass(frozen=True)
class Slot:
    """One component slot: where it is in a recipe, its registry kind and its shape."""

    name: str  # the schema field name, also the plan's attribute (`plan.optimizer`)
    path: KeyPath  # ('train', 'optimizer')
    kind: str  # the registry: 'optimizers'
    many: bool  # a list of specs (`metrics`) rather than one
    default: Any  # the spec used when the recipe leaves the slot out (None: no component)
    owner: type[BaseModel]  # the schema section that holds the field


def _ref_of(annotation: Any) -> tuple[str | None, bool]:
    """The registry kind a field annotation refers to, and whether it is a list of specs."""
    if typing.get_origin(annotation) is list:
        kind, _ = _ref_kind(typing.get_args(annotation)[0])
        return kind, kind is not None
    return _ref_kind(annotation)[0], False


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The schema section a field holds (itself or inside an optional; not in a list), if any."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    for candidate in (annotation, *(typing.get_args(annotation) if union else ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def slots_of(model: type[BaseModel], prefix: KeyPath = ()) -> list[Slot]:
    """Every slot of `model` and its sections, in declaration order (the order problems are reported in)."""
    hints = typing.get_type_hints(model, include_extras=True)
    found: list[Slot] = []
    for name, info in model.model_fields.items():
        kind, many = _ref_of(hints[name])
        if kind is not None:
            default = None if info.default is PydanticUndefined else info.default
            found.append(Slot(name, (*prefix, name), kind, many, default, model))
        elif (section := _section_model(hints[name])) is not None:
            found.extend(slots_of(section, (*prefix, name)))
    return found


SLOTS: tuple[Slot, ...] = tuple(slots_of(Recipe))
