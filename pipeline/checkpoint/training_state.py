"""Everything a training run's next epoch depends on, as arrays and JSON, and back.

- the model's variables: weights, BatchNorm statistics and the state of every `SeedGenerator`
  (dropout, augmentation layers), which Keras keeps as variables;
- the optimizer's variables: `iterations` (the schedule's position), moments, a learning rate a
  callback set;
- the global random states: NumPy's (Keras' array adapter shuffles each epoch with
  `np.random.permutation`), Python's, Keras' global `SeedGenerator`, and torch's on that backend
  (its data loader shuffles with it);
- every object given in `stateful` that has `get_state()` / `set_state(state)`: our callbacks
  (early stopping's best and patience, a smoothed monitor, the explosion guard, the metric
  history...) and the training feed (its epoch, hence its order).

On TensorFlow, Keras shuffles arrays inside `tf.data` (`tf.random.shuffle` under the global seed),
whose state is not captured here; measured anyway, a run killed and resumed there ended identical to
the uninterrupted one (docs/interrupted-runs.md).
"""

from __future__ import annotations

import random

import numpy as np

from pipeline.lazy import LazyModule

keras = LazyModule("keras")


class StateMismatch(RuntimeError):
    """The checkpoint was written by a different model or optimizer than the one being resumed."""


def _arrays(variables) -> list[np.ndarray]:
    return [np.asarray(keras.ops.convert_to_numpy(v.value)) for v in variables]


def _assign(variables, arrays, paths, what: str) -> None:
    """Assign in order. Shapes must agree; names may not (Keras numbers unnamed layers per process:
    a fold's `dense` may have been `dense_2` when the checkpoint was written)."""
    if len(variables) != len(arrays):
        raise StateMismatch(f"the checkpoint holds {len(arrays)} {what} variables, this run has {len(variables)}")
    for variable, value, path in zip(variables, arrays, paths):
        if tuple(variable.shape) != tuple(value.shape):
            raise StateMismatch(f"{what} variable {variable.path}: shape {tuple(value.shape)} in the checkpoint "
                                f"({path}), {tuple(variable.shape)} here")
        variable.assign(value)


def _keras_global_seed():
    try:
        from keras.src.backend.common import global_state

        return global_state.get_global_attribute("global_seed_generator")
    except Exception:  # Keras internals moved: nothing global to keep
        return None


def rng_state() -> dict:
    version, internal, gauss = random.getstate()  # 625 ints: one array, not 625 JSON numbers
    state = {"numpy": list(np.random.get_state()), "python": [version, np.array(internal, dtype=np.uint64), gauss]}
    generator = _keras_global_seed()
    if generator is not None:
        state["keras"] = np.asarray(keras.ops.convert_to_numpy(generator.state.value))
    if keras.config.backend() == "torch":
        import torch

        state["torch"] = torch.get_rng_state().numpy()
    return state


def set_rng_state(state: dict) -> None:
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(int(i) for i in internal), gauss))
    generator = _keras_global_seed()
    if generator is not None and "keras" in state:
        generator.state.assign(state["keras"])
    if "torch" in state and keras.config.backend() == "torch":
        import torch

        torch.set_rng_state(torch.from_numpy(np.asarray(state["torch"], dtype=np.uint8)))


def capture(model, stateful: dict[str, object]) -> dict:
    """The state after an epoch (JAX has synced the variables by `on_epoch_end`)."""
    optimizer = model.optimizer
    return {"model": {"paths": [v.path for v in model.variables], "values": _arrays(model.variables)},
            "optimizer": {"paths": [v.path for v in optimizer.variables], "values": _arrays(optimizer.variables)},
            "rng": rng_state(),
            "objects": {key: obj.get_state() for key, obj in stateful.items()},
            "stop_training": bool(model.stop_training)}


def restore_model(model, state: dict) -> None:
    """Only the model's variables (to keep the last checkpoint's model when the live one is lost)."""
    _assign(model.variables, state["model"]["values"], state["model"]["paths"], "model")


def restore(model, state: dict, stateful: dict[str, object]) -> None:
    """Put `state` back (an object the checkpoint holds nothing for keeps its own). The model comes
    first: callbacks may read it (the explosion guard's last good weights are the model's)."""
    restore_model(model, state)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    _assign(model.optimizer.variables, state["optimizer"]["values"], state["optimizer"]["paths"], "optimizer")
    set_rng_state(state["rng"])
    for key, obj in stateful.items():
        if key in state["objects"]:
            obj.set_state(state["objects"][key])
    model.stop_training = bool(state["stop_training"])


def stateful_objects(callbacks: list, feed=None) -> tuple[dict[str, object], list[str]]:
    """{key: object} of the callbacks (and feed) that keep state through `get_state`/`set_state`,
    keyed by their `state_key` or else position and class; and the names of the callbacks that do
    not (they restart on resume, unless they say they hold nothing: `stateless = True`)."""
    found, without = {}, []
    for i, callback in enumerate(callbacks):
        if callable(getattr(callback, "get_state", None)) and callable(getattr(callback, "set_state", None)):
            found[getattr(callback, "state_key", None) or f"callback{i}.{type(callback).__name__}"] = callback
        elif not getattr(callback, "stateless", False):
            without.append(type(callback).__name__)
    if feed is not None:
        found["feed"] = feed
    return found, without
