"""Safe YAML loading that rejects duplicate keys and remembers where every key was written."""

from __future__ import annotations

import re
from pathlib import Path as FilePath
from typing import Any

import yaml

from pipeline.errors import Location, Path, Problem, RecipeError

Marks = dict  # Path -> Location


class _RecipeLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 exponent floats; duplicate keys are refused by `_collect_marks`."""


# YAML 1.1 reads `1e-4` as a string; recipes are full of such learning rates, so read them as floats.
_RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def _location(source: str, mark: yaml.Mark) -> Location:
    return Location(source, mark.line + 1, mark.column + 1)


def _collect_marks(loader: _RecipeLoader, node: yaml.Node, path: Path, source: str,
                   out: Marks) -> None:
    """Record where each key and item is written, refusing duplicate keys (PyYAML keeps the last)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:  # `? [a, b]` or `{a: 1}: x`: YAML allows it, a recipe has no use for it
                raise RecipeError([Problem(path, f"expected a name as a key. Received: {key!r}",
                                           _location(source, key_node.start_mark))]) from None
            if key in seen:
                first = _location(source, seen[key].start_mark)
                raise RecipeError([Problem(path + (key,), f"duplicate key '{key}' (first written at "
                                           f"line {first.line}, column {first.column})",
                                           _location(source, key_node.start_mark))])
            seen[key] = key_node
            out[path + (key,)] = _location(source, key_node.start_mark)
            _collect_marks(loader, value_node, path + (key,), source, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = _location(source, item.start_mark)
            _collect_marks(loader, item, path + (i,), source, out)


def parse_yaml(text: str, source: str, path: Path = ()) -> tuple[Any, Marks]:
    """Parse one YAML document into plain data plus `{path: Location}` for every key and item."""
    loader = _RecipeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {path: Location(source, 1, 1)}
        marks: Marks = {path: _location(source, node.start_mark)}
        _collect_marks(loader, node, path, source, marks)
        return loader.construct_document(node), marks
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _location(source, mark) if mark else Location(source)
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{what} ({exc.context})"
        raise RecipeError([Problem(path, f"YAML error: {what}", where)]) from None
    finally:
        loader.dispose()


def load_yaml_file(file: FilePath) -> tuple[Any, Marks]:
    try:
        text = FilePath(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise RecipeError([Problem((), f"cannot read recipe: {exc.strerror}", Location(str(file)))]) from None
    return parse_yaml(text, str(file))
