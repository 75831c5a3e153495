"""Recipe inheritance (`extends:`) and command-line overrides (`--set a.b[2].c=value`)."""

from __future__ import annotations

import copy
from pathlib import Path as FilePath
from typing import Any

from pipeline.errors import Location, KeyPath, Problem, RecipeError, parse_key_path
from pipeline.recipe.loader import (MAX_DEPTH, MAX_FILES, Budget, Marks, check_text, load_yaml_file,
                                    max_bytes, parse_yaml, printable)
from pipeline.recipe.schema import Recipe
from pipeline.registry import normalize_name


def _drop_marks_under(marks: Marks, prefix: KeyPath) -> None:
    for key in [k for k in marks if k[:len(prefix)] == prefix and len(k) > len(prefix)]:
        del marks[key]


#: Sections whose keys are alternatives (a recipe sets one of them): a child that chooses one turns
#: off whatever other one it inherits.
ALTERNATIVES: dict[KeyPath, tuple[str, ...]] = {
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


def _delete(merged: dict, key: Any, path: KeyPath, base_marks: Marks, mark: Any = None) -> None:
    merged.pop(key, None)
    _drop_marks_under(base_marks, path)
    base_marks.pop(path, None)
    if mark is not None:  # a key the child deleted: a problem about it (e.g. now missing) points at the null
        base_marks[path] = mark


def deep_merge(base: Any, top: Any, base_marks: Marks, top_marks: Marks, path: KeyPath = ()) -> Any:
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


def changed_keys(base: dict, top: dict) -> dict:
    """The smallest recipe that, `extends:`-merged over `base`, gives `top` (the inverse of
    `deep_merge`): changed keys only, a list or a component of another type whole, a removed key null."""
    out = {}
    for key, value in top.items():
        before = base.get(key)
        if isinstance(before, dict) and isinstance(value, dict) and not _replaces_component(before, value):
            inner = changed_keys(before, value)
            if inner:
                out[key] = inner
        elif key not in base or before != value:
            out[key] = copy.deepcopy(value)
    out.update({key: None for key in base if key not in top})
    return out


def load_with_extends(file: FilePath, _chain: tuple[FilePath, ...] = (), _budget: Budget | None = None,
                      _where: Location | None = None) -> tuple[dict, Marks]:
    """Load `file`, merging the recipes it `extends:` (paths relative to it) beneath it.

    A base must be a regular .yaml/.yml file (a symbolic link too must end at one) named by a path
    relative to the recipe that extends it (`../shared/base.yaml` is fine, `/etc/x.yaml` is not); a
    file that is not a recipe is named, never echoed. One recipe with all its bases shares one
    `Budget` (bytes, YAML nodes, files), so neither a long chain nor a diamond can run away.
    """
    file = FilePath(file)
    budget = _budget or Budget.new()
    key = _real_path(file)
    if key in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, key))
        raise RecipeError([Problem(("extends",), f"inheritance cycle: {cycle}", Location(str(file)))])
    if budget.files <= 0:
        raise RecipeError([Problem(("extends",), f"more than {MAX_FILES} files through extends: "
                                   f"stopped at {file}", _where)])
    budget.files -= 1
    data, marks = load_yaml_file(file, budget)
    if _chain:
        _check_is_recipe(data, marks, file, _where)
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
                                   f"Received: extends={printable(repr(parents))}", marks.get(("extends",)))])
    merged: dict = {}
    merged_marks: Marks = {}
    for i, parent in enumerate(parents):
        where = marks.get(("extends", i)) or marks.get(("extends",))
        parent_file = _base_file(file, parent, where)
        p_data, p_marks = load_with_extends(parent_file, (*_chain, key), budget, where)
        merged = deep_merge(merged, p_data, merged_marks, p_marks)
    marks = {k: v for k, v in marks.items() if k[:1] != ("extends",)}
    merged = deep_merge(merged, data, merged_marks, marks)
    if () in marks:  # problems about the recipe as a whole point at the file that was asked for
        merged_marks[()] = marks[()]
    return merged, merged_marks


RECIPE_SUFFIXES = (".yaml", ".yml")


def _real_path(file: FilePath) -> FilePath:
    try:
        return file.resolve()
    except (OSError, RuntimeError, ValueError):  # a symbolic link loop: reading it will say so
        return file.absolute()


def _base_file(child: FilePath, name: str, where: Location | None) -> FilePath:
    """The file `extends: name` in `child` refers to, once it passes the rules above."""
    def refuse(message: str):
        return RecipeError([Problem(("extends",), message, where)])

    shown = printable(name)
    if FilePath(name).is_absolute() or name.startswith("~"):
        raise refuse(f"expected a path relative to this recipe's folder (bases move with the recipes "
                     f"that extend them). Received: '{shown}'")
    if not name.lower().endswith(RECIPE_SUFFIXES):
        raise refuse(f"expected a .yaml or .yml recipe file. Received: '{shown}'")
    path = child.parent / name
    if not path.exists() and not path.is_symlink():
        raise refuse(f"extended recipe not found: {path}")
    if not str(_real_path(path)).lower().endswith(RECIPE_SUFFIXES):
        raise refuse(f"{path} is a link to a file that is not a .yaml or .yml recipe")
    return path


def _check_is_recipe(data: Any, marks: Marks, file: FilePath, where: Location | None) -> None:
    """A base that is not a recipe (a YAML file of secrets, say) is refused by name, its content unechoed.

    Top-level keys that are not recipe sections make it "not a recipe", unless each is a near miss of
    one (`trian:`), which validation then names with its "did you mean".
    """
    import difflib

    sections = [*Recipe.model_fields, "extends"]
    if data is None:
        return
    if isinstance(data, dict):
        strangers = [k for k in data if k not in sections]
        if all(isinstance(k, str) and difflib.get_close_matches(k, sections, 1, 0.6) for k in strangers):
            return
        first = marks.get((strangers[0],))
        found = (f"{len(strangers)} top-level key{'s' if len(strangers) > 1 else ''} that are not recipe sections"
                 f" (the first at line {first.line})" if first else "top-level keys that are not recipe sections")
    else:
        found = f"a {type(data).__name__} at the top"
    raise RecipeError([Problem(("extends",), f"{file} is not a recipe: it has {found}. Expected a mapping of "
                               f"{', '.join(sections[:-1])}", where)])


def apply_override(data: dict, marks: Marks, assignment: str, budget: Budget | None = None) -> None:
    """Apply one `key.path=value`; the value is parsed as YAML, so `0.1`, `[1, 2]`, `null` work.

    The value goes through the recipe loader (same limits and types); every problem, including one
    in a mapping the override creates, points at `--set key.path=value`.
    """
    where = Location(f"--set {printable(assignment)}")

    def refuse(message: str, at: KeyPath = ()):
        return RecipeError([Problem(at, message, where)])

    check_text(assignment, where.source)
    key, sep, raw = assignment.partition("=")
    try:
        if not sep:
            raise ValueError(assignment)
        path = parse_key_path(key.strip())
    except ValueError:
        raise refuse("expected an override like 'train.epochs=5' or "
                     f"'model.layers[2].rate=0.3'. Received: '{printable(assignment)}'") from None
    if len(path) > MAX_DEPTH:
        raise refuse(f"expected a key path of at most {MAX_DEPTH} parts. Received: {len(path)}")
    if path[0] == "extends":
        raise refuse("extends cannot be overridden: it is read while the recipe file loads", path)
    if len(raw) > max_bytes():
        raise refuse(f"the value is longer than the recipe size limit of {max_bytes():,} bytes", path)
    value, _ = parse_yaml(raw, where.source, path, budget) if raw.strip() else (None, {})
    node: Any = data
    written: list = []  # the path with list indexes counted from the front, as problems name them
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node):
            part = part % len(node)
        elif not isinstance(node, dict) or (last and isinstance(part, int)):
            raise refuse(f"cannot set '{printable(key)}': no such item", path[:i + 1])
        written.append(part)
        if last:
            node[part] = value
        else:
            if isinstance(node, dict) and node.get(part) is None:
                node[part] = [] if isinstance(path[i + 1], int) else {}
                marks[tuple(written)] = where  # a mapping the override creates is located at it
            node = node[part]
    _drop_marks_under(marks, tuple(written))
    marks[tuple(written)] = where
