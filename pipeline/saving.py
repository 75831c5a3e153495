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


def copy_on_this_process(model, keep: bool = True):
    """`model` (compiled, its weights and optimizer state) rebuilt on this process's devices alone;
    None when not `keep`.

    After several processes trained one model its variables span every process's devices, so any
    computation on it needs all of them; process 0 evaluates and records on this copy instead,
    while the others leave. Saving the model takes every process (Keras checks across processes
    that they hold the same values), so all of them call this; only process 0 needs to `keep` it."""
    import tempfile
    from pathlib import Path

    from pipeline.distribution import without
    from pipeline.keras_compat import save_model

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        save_model(model, path)
        if not keep:
            return None
        with without():
            return load_model(path)


def clone_on_this_process(model):
    """`model`'s architecture with new variables on this process's devices alone (not compiled:
    `clone_model` would read the optimizer's state, which a failed step may have left unreadable)."""
    from pipeline.distribution import without

    with without():
        return type(model).from_config(model.get_config())


def replica_of_this_process(model):
    """`model` with its weights on this process alone, read with no collective: what a process of a
    data-parallel run can save when a peer is gone (each process holds every weight; saving the
    distributed model itself takes every process)."""
    import keras

    copy = clone_on_this_process(model)
    copy.set_weights([keras.ops.convert_to_numpy(v.value) for v in model.weights])
    return copy
