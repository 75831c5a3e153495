"""The built-in components: the first plugin, registered through the `pipeline.plugins` entry point.

Importing this package imports every module under it, and importing a module registers its
components. These modules import no framework at import time (each factory imports Keras when
called, or imports a module of Keras classes), so validating a recipe stays fast.

`KERAS_MODULES` declares the modules whose Keras classes a saved model may hold: `pipeline.saving`
imports exactly these before loading a `.keras` file (a test keeps the list complete).
"""

import importlib
import pkgutil

KERAS_MODULES = (
    "plugins.initializers_keras",
    "plugins.losses_keras",
    "plugins.metrics_keras",
    "plugins.schedules_keras",
    "plugins.segmentation_keras",
    "plugins.layers.applications_keras",
    "plugins.layers.augmentation_keras",
    "plugins.layers.blocks_keras",
    "plugins.layers.dropconnect_keras",
    "plugins.layers.maxout_keras",
    "plugins.layers.stages_keras",
)

# Modules holding Keras classes (imported by factories, never here) end in `_keras`.
for _module in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
    if not _module.name.endswith("_keras"):
        importlib.import_module(_module.name)
