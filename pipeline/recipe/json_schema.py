"""The recipe as a JSON Schema (draft 2020-12), registries included, for editors (`pipeline schema`).

pydantic writes the sections and settings; each component slot (`pipeline.recipe.slots`) becomes a
reference to its registry: a registered name, or a mapping whose `type` is one and whose other keys
are that factory's arguments, typed from its signature (nested components by reference again). A
file with `extends:` is checked against a partial copy in which nothing is required, since it holds
only what it changes. The schema describes; `pipeline validate` decides (it also resolves
`extends:`, checks paths, ranges and rules across components, and accepts any spelling of a name).
"""

from __future__ import annotations

import inspect
from typing import Any

from pipeline import registries
from pipeline.components import _hints, _ref_kind, parameters
from pipeline.recipe.schema import Recipe
from pipeline.recipe.slots import SLOTS
from pipeline.recipe.validate import LAYER_KEYS
from pipeline.registry import Entry

DRAFT = "https://json-schema.org/draft/2020-12/schema"
PARTIAL = "partial."  # prefix of the definitions a recipe with `extends:` is checked against
_JSON_SCALARS = (str, int, float, bool, type(None))
_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def _component_ref(kind: str) -> dict:
    return {"$ref": f"#/$defs/component.{kind}"}


def recipe_json_schema() -> dict:
    """The JSON Schema of a recipe file, from the schema and the registries as loaded now."""
    schema = Recipe.model_json_schema()
    defs = schema.pop("$defs", {})
    for slot in SLOTS:
        owner = schema if slot.owner is Recipe else defs[slot.owner.__name__]
        owner["properties"][slot.name] = _slot_schema(slot, owner["properties"][slot.name])
    schema["properties"]["extends"] = {
        "description": "the recipe(s) this one is merged over, relative to this file",
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}
    kinds = {slot.kind for slot in SLOTS}
    done: set[str] = set()
    while kinds - done:  # components refer to other kinds through their arguments (initializers, …)
        kind = min(kinds - done)
        defs[f"component.{kind}"] = _component_schema(kind, kinds, defs)
        done.add(kind)
    defs["Recipe"] = schema
    defs.update({PARTIAL + name: _partial(node) for name, node in list(defs.items())})
    return {"$schema": DRAFT, "title": "keras-recipe-pipeline recipe",
            "description": "A training recipe (`pipeline validate RECIPE` checks it in full).",
            "$defs": defs,
            "if": {"required": ["extends"]},
            "then": {"$ref": f"#/$defs/{PARTIAL}Recipe"},
            "else": {"$ref": "#/$defs/Recipe"}}


def _slot_schema(slot, generated: dict) -> dict:
    """A slot's property: its registry's component (a list of them, or null where allowed)."""
    out = {k: generated[k] for k in ("default", "description") if k in generated}
    item = _component_ref(slot.kind)
    if slot.many:
        return {"type": "array", "items": item, **{k: v for k, v in generated.items() if k == "minItems"}, **out}
    if {"type": "null"} in generated.get("anyOf", []):
        return {"anyOf": [item, {"type": "null"}], **out}
    return {**item, **out}


def _component_schema(kind: str, kinds: set[str], defs: dict) -> dict:
    """A spec of one registry: a name, or `{type: name, **arguments}` whose arguments are those of the
    component its `type` names (if/then per component, so an editor lists every name when one is wrong)."""
    registry = registries.ALL[kind]
    names = [n for entry in registry.entries() for n in (entry.name, *entry.aliases)]
    shapes = [{"if": {"properties": {"type": {"enum": [entry.name, *entry.aliases]}}, "required": ["type"]},
               "then": _entry_schema(entry, kinds, defs)} for entry in registry.entries()]
    return {"description": f"a {registry.singular}: a name, or a mapping of 'type' (the name) and its arguments",
            "anyOf": [{"type": "string", "enum": names},
                      {"type": "object", "properties": {"type": {"enum": names}}, "required": ["type"],
                       "allOf": shapes}]}


def _entry_schema(entry: Entry, kinds: set[str], defs: dict) -> dict:
    hints = _hints(entry.factory)
    properties: dict[str, Any] = {"type": {"enum": [entry.name, *entry.aliases]}}  # for additionalProperties
    required = ["type"]
    if entry.kind == "layers":  # graph wiring, read by the model builder (validate.py)
        properties.update({key: {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                                 "description": "the layer(s) this one reads: 'input' or earlier names"}
                           for key in LAYER_KEYS})
    for name, param in parameters(entry).items():
        properties[name] = _argument_schema(hints.get(name, Any), param, kinds, defs)
        if param.default is param.empty:
            required.append(name)
    open_kwargs = any(p.kind is p.VAR_KEYWORD for p in entry.signature.parameters.values())
    out = {"type": "object", "title": entry.name, "properties": properties, "required": required}
    if entry.summary:
        out["description"] = entry.summary
    return out if open_kwargs else {**out, "additionalProperties": False}


def _argument_schema(annotation: Any, param: inspect.Parameter, kinds: set[str], defs: dict) -> dict:
    """One factory argument: a nested component by reference, else what pydantic says of its type
    (nothing, i.e. any value, where it cannot say)."""
    from pydantic import TypeAdapter

    kind, optional = _ref_kind(annotation)
    if kind is not None:
        kinds.add(kind)
        out = {"anyOf": [_component_ref(kind), {"type": "null"}]} if optional else _component_ref(kind)
    else:
        try:
            out = _standard_bounds(TypeAdapter(annotation).json_schema(ref_template="#/$defs/{model}"))
        except Exception:  # a type with no JSON form (a callable, a class): any value, validate decides
            out = {}
        defs.update(out.pop("$defs", {}))
    if _plain(param.default):
        out["default"] = list(param.default) if isinstance(param.default, tuple) else param.default
    return out


def _standard_bounds(node: Any) -> Any:
    """pydantic writes a bound it checks after a validator (`Annotated[PositiveFloat, Le(1)]`) as
    `le: 1`, which JSON Schema does not know: write it as `maximum: 1`."""
    if isinstance(node, list):
        return [_standard_bounds(v) for v in node]
    if not isinstance(node, dict):
        return node
    numeric = node.get("type") in ("number", "integer")
    return {(_BOUNDS.get(k, k) if numeric and isinstance(v, (int, float)) else k): _standard_bounds(v)
            for k, v in node.items()}


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is not inspect.Parameter.empty and isinstance(value, _JSON_SCALARS)


def _partial(node: Any) -> Any:
    """A copy in which nothing is required and every reference points at the partial definitions."""
    if isinstance(node, list):
        return [_partial(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "required" and isinstance(value, list):  # the keyword (a property so named is a mapping)
            continue
        if key == "if":  # a condition (which component `type` names) is kept as it is
            out[key] = value
        else:
            out[key] = f"#/$defs/{PARTIAL}{value.removeprefix('#/$defs/')}" if key == "$ref" else _partial(value)
    return out
