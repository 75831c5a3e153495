"""The house: one direction of imports (docs/architecture.md), no circles, a core that never imports
`plugins`, and one meaning for the `_keras` suffix. Read from the source with `ast`, no exception list."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("keras", "tensorflow", "jax", "keras_tuner", "torch")
LAZY_CALLS = ("import_module", "LazyModule")  # calls whose first argument names a module to import


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for top in ("pipeline", "plugins") for p in sorted((REPO / top).rglob("*.py"))}


def _layers() -> dict[str, int]:
    """Module (or `package.*`) -> layer number, from the table in docs/architecture.md."""
    table: dict[str, int] = {}
    for line in (REPO / "docs" / "architecture.md").read_text(encoding="utf-8").splitlines():
        row = re.match(r"\|\s*(\d+)\s*\|[^|]*\|(.*)\|\s*$", line)
        if row:
            for name in re.findall(r"`([\w.*]+)`", row.group(2)):
                assert name not in table, f"docs/architecture.md names {name} twice"
                table[name] = int(row.group(1))
    return table


LAYERS = _layers()


def layer_of(module: str) -> int | None:
    if module in LAYERS:
        return LAYERS[module]
    parts = module.split(".")
    for n in range(len(parts) - 1, 0, -1):  # the most specific `package.*`
        if ".".join(parts[:n]) + ".*" in LAYERS:
            return LAYERS[".".join(parts[:n]) + ".*"]
    return None


class Import:
    def __init__(self, target: str, line: int, top: bool):
        self.target, self.line, self.top = target, line, top


def _imports(module: str) -> list[Import]:
    """Every module `module` imports: at top or in a function, by statement or by name in a call."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def add(name: str, node: ast.AST, top: bool) -> None:
        found.append(Import(name, node.lineno, top))

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child, top)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join(parent + ([child.module] if child.module else []))
                for alias in child.names:
                    name = f"{base}.{alias.name}"
                    add(name if name in MODULES else base, child, top)
            elif isinstance(child, ast.Call) and child.args and isinstance(child.args[0], ast.Constant) \
                    and isinstance(child.args[0].value, str):
                func = child.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called in LAZY_CALLS:
                    add(child.args[0].value, child, False)  # imported on first use
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), True)
    return found


def _project(name: str) -> str | None:
    """The project module an imported name loads (`pipeline.x.y` of `from pipeline.x.y import f`)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _edges() -> dict[str, set[str]]:
    """Module -> project modules it loads, the packages Python initialises on the way included
    (importing `pipeline.recipe.validate` runs `pipeline/recipe/__init__.py` first), except the
    importer's own packages, which are always being initialised already."""
    edges: dict[str, set[str]] = {}
    for module in MODULES:
        own = {".".join(module.split(".")[:n]) for n in range(1, module.count(".") + 2)}
        out = edges.setdefault(module, set())
        for imp in _imports(module):
            target = _project(imp.target)
            if target is None:
                continue
            parts = target.split(".")
            out.update(p for p in (".".join(parts[:n]) for n in range(1, len(parts) + 1))
                       if p not in own and p in MODULES)
    return edges


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in MODULES if layer_of(m) is None)
    assert unplaced == [], f"add these to the layer table in docs/architecture.md: {unplaced}"


def test_no_module_imports_a_later_layer():
    backward = []
    for module in MODULES:
        for imp in _imports(module):
            target = _project(imp.target)
            if target is not None and layer_of(target) is not None and layer_of(module) is not None \
                    and layer_of(target) > layer_of(module):
                backward.append(f"{MODULES[module].relative_to(REPO)}:{imp.line}: {module} (layer "
                                f"{layer_of(module)}) imports {target} (layer {layer_of(target)})")
    assert backward == [], "\n".join(backward)


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_circles():
    assert _circles(_edges()) == []


def test_the_circle_finder_finds_circles():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_the_core_never_imports_plugins():
    found = [f"{module}:{imp.line} imports {imp.target}" for module in MODULES if module.startswith("pipeline")
             for imp in _imports(module) if imp.target.split(".")[0] == "plugins"]
    assert found == []


def _imports_a_framework_at_top(module: str) -> bool:
    for imp in _imports(module):
        if not imp.top:
            continue
        if imp.target.split(".")[0] in FRAMEWORKS:
            return True
        target = _project(imp.target)
        if target is not None and target.endswith("_keras"):
            return True
    return False


@pytest.mark.parametrize("module", sorted(MODULES))
def test_keras_suffix_means_imports_a_framework_at_top(module):
    """`x_keras` imports Keras, TensorFlow, JAX or KerasTuner at module top (directly or through
    another `_keras` module); a module without the suffix never does."""
    assert _imports_a_framework_at_top(module) == module.endswith("_keras")


def test_the_import_reader_sees_function_level_and_named_imports(tmp_path):
    source = MODULES["pipeline.cli"].read_text(encoding="utf-8")
    assert "def " in source and any(not i.top for i in _imports("pipeline.cli"))
    assert layer_of("pipeline.search.tuner") == 5 and layer_of("pipeline.search.cli") == 6
