"""Reloading a saved model, in this process or a fresh one.

A `.keras` file names its classes (`pipeline>OneVsRestAUC`, `pipeline_example_plugin>ScaledTanh`)
but Keras imports no module to find them: the modules that register them must be imported first.
Those are declared, never searched for: the pipeline's own below, and each loaded plugin's
`KERAS_MODULES` (`pipeline.plugins`). Every loader of `.keras` files goes through `load_model`.
"""

from __future__ import annotations

import importlib
import warnings

#: The pipeline's own Keras classes that a saved model may hold: the fitted preprocessing layers
#: put in front of it and the loss wrapper of standardized regression targets.
CORE_KERAS_MODULES = ("pipeline.data.preprocess_keras", "pipeline.model.target_scaling_keras")


def keras_modules() -> list[str]:
    """The modules to import before loading: the core's, then every loaded plugin's declared ones."""
    from pipeline.plugins import load_plugins

    return [*CORE_KERAS_MODULES, *load_plugins().all_keras_modules()]


def import_keras_classes() -> list[str]:
    """Import the declared modules (registering their classes with Keras); returns their names.

    A declared module that fails to import is reported once (a `PluginWarning`) and skipped: only
    a model holding one of its classes then fails to load."""
    from pipeline.plugins import PluginWarning, loader

    imported = []
    for name in keras_modules():
        try:
            importlib.import_module(name)
        except Exception as exc:
            owner = next((f"plugin '{p}'" for p, mods in loader.keras_modules.items() if name in mods),
                         "the pipeline")
            warnings.warn(f"{owner} declares Keras module '{name}', which failed to import: "
                          f"{type(exc).__name__}: {exc}", PluginWarning, stacklevel=2)
        else:
            imported.append(name)
    return imported


def load_model(path, compile: bool = True):
    """`keras.saving.load_model` after importing the declared Keras classes (safe mode: no lambdas)."""
    import keras

    from pipeline.keras_compat import tensorflow_probe_disabled

    import_keras_classes()
    with tensorflow_probe_disabled():
        return keras.saving.load_model(path, compile=compile)
