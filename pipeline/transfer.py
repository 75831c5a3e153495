"""Transfer learning: weights from an earlier model, frozen layers, a staged unfreeze schedule.

The course: train on a big dataset, then on a small one — with little data train a linear
classifier on top of the frozen features, with more data fine-tune more layers. In a recipe:
`model.init_from` copies weights (by layer name, or a prefix by position), `model.freeze` sets
`trainable = False` (Keras 3 then runs BatchNorm in inference mode: its statistics do not move),
and `train.unfreeze` makes layers trainable again at given epochs.

Keras 3 fixes the trainable set when a model is compiled and its optimizer built, so `fit` runs
in phases: at each unfreeze epoch training stops, the layers are made trainable, the model is
recompiled with a fresh optimizer at a lower constant learning rate (the usual fine-tuning
recipe; Keras has no per-layer learning rates), and `fit` continues with `initial_epoch`
(`pipeline/fit.py` runs the phases).
"""

from __future__ import annotations

import dataclasses
import fnmatch
from pathlib import Path

from pipeline import tracking
from pipeline.components import build
from pipeline.model.training import compile_model, learning_rate_used
from pipeline.recipe.transfer_schema import InitFrom, Unfreeze
from pipeline.saving import load_model
from pipeline.tracking import runs

#: The fine-tuning learning rate, as a fraction of the recipe's, when an unfreeze step sets none.
FINE_TUNE_LR_FACTOR = 0.1


def model_layers(model) -> list:
    """The model's layers in graph order, without the input layer and the target-scaling layer (this
    run's statistics of its targets: never copied from another model, nothing to freeze)."""
    import keras

    from pipeline.model.target_scaling_keras import scaling_layer

    own = scaling_layer(model)
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer) and layer is not own]


def _names(model) -> list[str]:
    return [layer.name for layer in model_layers(model)]


def _index(model, name: str, what: str) -> int:
    names = _names(model)
    if name not in names:
        raise ValueError(f"{what}: no layer named '{name}' in the model. Layers: {', '.join(names)}")
    return names.index(name)


def up_to(model, name: str, what: str = "up_to") -> list:
    """The layers up to and including `name`."""
    return model_layers(model)[: _index(model, name, what) + 1]


def down_to(model, name: str, what: str = "down_to") -> list:
    """The layers from `name` to the output."""
    return model_layers(model)[_index(model, name, what):]


def matching(model, patterns: list[str], what: str = "names") -> list:
    """The layers whose names match any of `patterns` (fnmatch); an unmatched pattern is an error."""
    layers = model_layers(model)
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(layer.name, pattern) for layer in layers):
            raise ValueError(f"{what}: '{pattern}' matches no layer. Layers: {', '.join(_names(model))}")
    return [layer for layer in layers if any(fnmatch.fnmatchcase(layer.name, p) for p in patterns)]


# -- init_from ---------------------------------------------------------------------------------------
def source_path(init: InitFrom, download_dir: str | Path, tracking_uri: str | None = None) -> Path:
    """The `.keras` file to copy from: the file, or the model logged by the run (or by the latest
    finished run of the experiment) in the store at `tracking_uri` (default: the default store)."""
    if init.path is not None:
        path = Path(init.path)
        if not path.is_file():
            raise FileNotFoundError(f"init_from.path: no such file: {path.resolve()}")
        return path

    uri = tracking.tracking_uri(tracking_uri)
    run_id = init.run or runs.latest_finished(uri, init.experiment)
    if run_id is None:
        raise ValueError(f"init_from.experiment: no finished run in experiment '{init.experiment}'")
    return runs.download(uri, run_id, "model/model.keras", download_dir)


def pairs(target, source, layers: str | list[str] | None) -> list[tuple]:
    """(target layer, source layer) pairs whose weights are copied (see `InitFrom`)."""
    if isinstance(layers, str):
        mine, theirs = up_to(target, layers, "init_from.layers"), up_to(source, layers, "init_from.layers (source model)")
        if len(mine) != len(theirs):
            raise ValueError(f"init_from.layers: the models differ before '{layers}' ({len(theirs)} layers "
                             f"in the source, {len(mine)} here)")
        return list(zip(mine, theirs))
    by_name = {layer.name: layer for layer in model_layers(source)}
    chosen = matching(target, layers, "init_from.layers") if layers else model_layers(target)
    found = [(layer, by_name[layer.name]) for layer in chosen if layer.name in by_name]
    if layers is None:  # "whatever matches": skip weightless layers and shape mismatches
        found = [(a, b) for a, b in found if a.weights and _shapes(a) == _shapes(b)]
    if not found:
        raise ValueError("init_from: no layer of this model has a namesake in the source model; name "
                         "the layers (name:) or give init_from.layers: LAYER to copy a prefix by position")
    return found


def _shapes(layer) -> list[tuple]:
    return [tuple(w.shape) for w in layer.weights]


def copy_weights(target, source, layers: str | list[str] | None) -> list[str]:
    """Copy the selected layers' weights (all of them: kernels, biases, BatchNorm statistics);
    returns the names of the layers copied. Shapes must agree."""
    copied = []
    for mine, theirs in pairs(target, source, layers):
        if _shapes(mine) != _shapes(theirs):
            raise ValueError(f"init_from: layer '{mine.name}' has weights {_shapes(mine)} here but "
                             f"{_shapes(theirs)} in the source ('{theirs.name}')")
        mine.set_weights(theirs.get_weights())
        copied.append(mine.name)
    return copied


def initialize_from(model, init: InitFrom, tracking_uri: str | None = None) -> list[str]:
    """Load the source model (`pipeline.saving.load_model`) and copy weights into `model`."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        source = load_model(source_path(init, tmp, tracking_uri), compile=False)
    return copy_weights(model, source, init.layers)


# -- freezing ----------------------------------------------------------------------------------------
def freeze(model, rule) -> list[str]:
    """Set `trainable = False` on the layers of `rule` ('all', `Freeze`); returns their names."""
    if rule == "all":
        chosen = model_layers(model)
    elif rule.up_to is not None:
        chosen = up_to(model, rule.up_to, "freeze.up_to")
    else:
        chosen = matching(model, rule.names, "freeze.names")
    for layer in chosen:
        layer.trainable = False
    return [layer.name for layer in chosen]


def unfreezing(model, step: Unfreeze) -> list:
    """The layers an unfreeze step makes trainable (nothing changed)."""
    if step.all:
        return model_layers(model)
    if step.down_to is not None:
        return down_to(model, step.down_to, "unfreeze.down_to")
    return matching(model, step.names, "unfreeze.names")


def prepare(model, plan, steps_per_epoch: int, copy_weights: bool = True,
            tracking_uri: str | None = None) -> dict[str, str]:
    """Apply `model.init_from` and `model.freeze` to a built, compiled model (recompiled when
    layers were frozen), and check the unfreeze steps' layer names before training starts.
    Returns what was done, as MLflow params. `copy_weights=False` (a resumed run, whose checkpoint
    holds the weights) skips reading the source model."""
    recipe = plan.recipe
    done = {}
    if recipe.model.init_from is not None and copy_weights:
        done["model.init_from.copied"] = ",".join(initialize_from(model, recipe.model.init_from, tracking_uri))
    if recipe.model.freeze is not None:
        done["model.frozen"] = ",".join(freeze(model, recipe.model.freeze))
        compile_model(model, plan, steps_per_epoch)  # the trainable set is fixed at compile time
    for step in recipe.train.unfreeze:
        unfreezing(model, step)
    return {k: v[:6000] for k, v in done.items()}


# -- fitting in phases -------------------------------------------------------------------------------
def recompile_for_fine_tuning(model, plan, step: Unfreeze) -> float:
    """Compile again (a fresh optimizer over the new trainable set) at the fine-tuning rate:
    `step.learning_rate`, else FINE_TUNE_LR_FACTOR x the recipe's; constant (no schedule)."""
    lr = step.learning_rate or FINE_TUNE_LR_FACTOR * learning_rate_used(plan)
    optimizer = dataclasses.replace(plan.optimizer, kwargs={**plan.optimizer.kwargs, "learning_rate": lr})
    # same loss (soft labels too), metrics and speed settings as the first compile; the steps per
    # execution resolved then (at most one epoch) stand in for the epoch length
    compile_model(model, plan, model.steps_per_execution, optimizer=build(optimizer))
    return lr
