"""Recipe inheritance (`extends:`) and command-line overrides (`--set a.b[2].c=value`)."""

from __future__ import annotations

import copy
import re
from pathlib import Path as FilePath
from typing import Any

from pipeline.errors import Location, Path, Problem, RecipeError
from pipeline.recipe.loader import Marks, load_yaml_file, parse_yaml
from pipeline.registry import normalize_name


def _drop_marks_under(marks: Marks, prefix: Path) -> None:
    for key in [k for k in marks if k[:len(prefix)] == prefix and len(k) > len(prefix)]:
        del marks[key]


#: Sections whose keys are alternatives (a recipe sets one of them): a child that chooses one turns
#: off whatever other one it inherits.
ALTERNATIVES: dict[Path, tuple[str, ...]] = {
    ("data", "imbalance"): ("class_weight", "oversample"),
    ("model", "init_from"): ("run", "experiment", "path"),
    ("model", "freeze"): ("up_to", "names"),
}


def _chosen(value: Any) -> bool:
    return value is not None and value is not False


def _replaces_component(base: dict, top: dict) -> bool:
    """A child naming another component type than its parent starts that component afresh: the
    parent's arguments belong to the parent's type."""
    if "type" not in base or "type" not in top:
        return False
    if isinstance(base["type"], str) and isinstance(top["type"], str):
        return normalize_name(base["type"]) != normalize_name(top["type"])
    return base["type"] != top["type"]


def _delete(merged: dict, key: Any, path: Path, base_marks: Marks, mark: Any = None) -> None:
    merged.pop(key, None)
    _drop_marks_under(base_marks, path)
    base_marks.pop(path, None)
    if mark is not None:  # a key the child deleted: a problem about it (e.g. now missing) points at the null
        base_marks[path] = mark


def deep_merge(base: Any, top: Any, base_marks: Marks, top_marks: Marks, path: Path = ()) -> Any:
    """Merge `top` (a child recipe, or a later parent) over `base`, moving the marks along.

    Mappings merge key by key (later wins); anything else, lists included, is replaced whole. Three
    rules help a child try variants: a component whose `type` changes is replaced whole (the
    parent's arguments dropped); a null deletes the key it inherits (the setting falls back to its
    default; a null under a key the parents do not have stays, as written); and choosing one of a
    set of alternatives (`ALTERNATIVES`, e.g. oversample instead of class_weight) deletes the
    inherited others.
    """
    if isinstance(base, dict) and isinstance(top, dict) and not _replaces_component(base, top):
        merged = dict(base)
        if path in top_marks:  # a problem with the section as a whole points at its latest writer
            base_marks[path] = top_marks[path]
        chosen = [k for k in ALTERNATIVES.get(path, ()) if _chosen(top.get(k))]
        for key in ALTERNATIVES.get(path, ()) if chosen else ():
            if key not in top and key in merged:
                _delete(merged, key, path + (key,), base_marks)
        for key, value in top.items():
            sub = path + (key,)
            if value is None and key in merged:
                _delete(merged, key, sub, base_marks, top_marks.get(sub))
            elif key in merged:
                merged[key] = deep_merge(merged[key], value, base_marks, top_marks, sub)
            else:
                merged[key] = value
                base_marks.update({k: v for k, v in top_marks.items() if k[:len(sub)] == sub})
        return merged
    _drop_marks_under(base_marks, path)
    base_marks.update({k: v for k, v in top_marks.items() if k[:len(path)] == path})
    return copy.deepcopy(top)


def load_with_extends(file: FilePath, _chain: tuple[FilePath, ...] = ()) -> tuple[dict, Marks]:
    """Load `file`, merging the recipes it `extends:` (paths relative to it) beneath it."""
    file = FilePath(file)
    key = file.resolve()
    if key in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, key))
        raise RecipeError([Problem(("extends",), f"inheritance cycle: {cycle}", Location(str(file)))])
    data, marks = load_yaml_file(file)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError([Problem((), f"expected a mapping at the top of the recipe. "
                                       f"Received: {type(data).__name__}", marks.get(()))])
    parents = data.pop("extends", None)
    if parents is None:
        return data, marks
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise RecipeError([Problem(("extends",), "expected a file name or a list of file names. "
                                   f"Received: extends={parents!r}", marks.get(("extends",)))])
    merged: dict = {}
    merged_marks: Marks = {}
    for i, parent in enumerate(parents):
        parent_file = file.parent / parent
        if not parent_file.exists():
            where = marks.get(("extends", i)) or marks.get(("extends",))
            raise RecipeError([Problem(("extends",), f"extended recipe not found: {parent_file}", where)])
        p_data, p_marks = load_with_extends(parent_file, (*_chain, key))
        merged = deep_merge(merged, p_data, merged_marks, p_marks)
    marks = {k: v for k, v in marks.items() if k[:1] != ("extends",)}
    merged = deep_merge(merged, data, merged_marks, marks)
    if () in marks:  # problems about the recipe as a whole point at the file that was asked for
        merged_marks[()] = marks[()]
    return merged, merged_marks


_PART = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")


def parse_key_path(text: str) -> Path:
    """'model.layers[2].rate' -> ('model', 'layers', 2, 'rate')."""
    parts: list = []
    pos = 0
    for match in _PART.finditer(text):
        if match.start() != pos and text[pos:match.start()] != ".":
            raise ValueError(text)
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    if pos != len(text) or not parts:
        raise ValueError(text)
    return tuple(parts)


def apply_override(data: dict, marks: Marks, assignment: str) -> None:
    """Apply one `key.path=value`; the value is parsed as YAML, so `0.1`, `[1, 2]`, `null` work."""
    where = Location(f"--set {assignment}")
    key, sep, raw = assignment.partition("=")
    try:
        if not sep:
            raise ValueError(assignment)
        path = parse_key_path(key.strip())
    except ValueError:
        raise RecipeError([Problem((), "expected an override like 'train.epochs=5' or "
                                   f"'model.layers[2].rate=0.3'. Received: {assignment!r}", where)]) from None
    value, _ = parse_yaml(raw, where.source, path) if raw.strip() else (None, {})
    node: Any = data
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, dict):
            if part not in node or node[part] is None:
                node[part] = [] if isinstance(nxt, int) else {}
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node):
            node = node[part]
        else:
            raise RecipeError([Problem(path[:i + 1], f"cannot set '{key}': no such item", where)])
    last = path[-1]
    if isinstance(node, dict) and not isinstance(last, int):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and -len(node) <= last < len(node):
        node[last] = value
    else:
        raise RecipeError([Problem(path, f"cannot set '{key}': no such item", where)])
    _drop_marks_under(marks, path)
    marks[path] = where
