"""Reloading a saved model in a fresh process.

Keras imports no module named in a `.keras` file, so the classes of the built-in plugin (in the
`plugins/*_keras.py` modules, registered with Keras when imported) must be imported first.
"""

from __future__ import annotations

import importlib
import pkgutil


def import_keras_classes() -> list[str]:
    """Import every `_keras` module of the built-in plugins and of the pipeline itself (e.g. the
    preprocessing layers put in front of a saved model): registers their classes with Keras."""
    import pipeline
    import plugins

    names = [m.name for package in (plugins, pipeline)
             for m in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.")
             if m.name.endswith("_keras")]
    for name in names:
        importlib.import_module(name)
    return names


def load_model(path, compile: bool = True):
    """`keras.saving.load_model` after registering the plugin classes (safe mode: no lambdas)."""
    import keras

    from pipeline.keras_compat import tensorflow_probe_disabled

    import_keras_classes()
    with tensorflow_probe_disabled():
        return keras.saving.load_model(path, compile=compile)
