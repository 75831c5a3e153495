"""A module imported on first use, so that importing our module does not import a framework.

In the manner of Keras' `keras/src/utils/module_utils.py` `LazyModule`: `keras = LazyModule("keras")`
at module top reads like an import, costs nothing until an attribute is read, and then imports the
real module once (Python caches it in `sys.modules`). Used where a framework-free module needs a
framework in a few functions, instead of repeating `import keras` in each.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class LazyModule:
    """Stands for the module `name`; the first attribute read imports it."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def _load(self) -> ModuleType:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return self._module

    def __getattr__(self, attribute: str):
        if attribute.startswith("__") and self._module is None:
            # introspection (copy, inspect, pickle ask for __wrapped__, __deepcopy__, ...) never imports
            raise AttributeError(attribute)
        return getattr(self._load(), attribute)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"LazyModule({self._name!r}, {state})"
