"""The built-in components: the first plugin, registered through the `pipeline.plugins` entry point.

Importing this package imports every module under it, and importing a module registers its
components. These modules import no framework at import time (each factory imports Keras when
called, or imports a module of Keras classes), so validating a recipe stays fast.
"""

import importlib
import pkgutil

# Modules holding Keras classes (imported by factories, never here) end in `_keras`.
for _module in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
    if not _module.name.endswith("_keras"):
        importlib.import_module(_module.name)
