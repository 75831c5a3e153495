"""Every registry of the pipeline, declared in one place, and the annotations that point at them.

A factory argument annotated with one of the `Ref` aliases below (e.g. `kernel_initializer:
Initializer`) takes a component *spec* of that kind in a recipe: a name or `{type: name, ...}`.
The validator checks it against that registry and the builder builds it before calling the factory.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Iterator

from pipeline.registry import Registry


@dataclass(frozen=True)
class Ref:
    """Marks a factory argument as a spec of another registry's kind."""

    kind: str


layers = Registry("layers")
activations = Registry("activations")
initializers = Registry("initializers")
regularizers = Registry("regularizers")
constraints = Registry("constraints")
optimizers = Registry("optimizers")
schedules = Registry("schedules")
losses = Registry("losses", singular="loss")
metrics = Registry("metrics")
callbacks = Registry("callbacks")
datasets = Registry("datasets")
preprocessors = Registry("preprocessors")
mixers = Registry("mixers")  # batch mixing of training examples and labels (data.mix)
remedies = Registry("remedies")  # changes `pipeline improve` tries against high bias / variance (pipeline/remedy.py)

ALL: dict[str, Registry] = {r.kind: r for r in (
    layers, activations, initializers, regularizers, constraints, optimizers, schedules,
    losses, metrics, callbacks, datasets, preprocessors, mixers, remedies)}

Activation = Annotated[Any, Ref("activations")]
Initializer = Annotated[Any, Ref("initializers")]
Regularizer = Annotated[Any, Ref("regularizers")]
Constraint = Annotated[Any, Ref("constraints")]


@contextmanager
def isolated() -> Iterator[None]:
    """Registrations made inside the block are forgotten afterwards (one fresh state per test)."""
    saved = {kind: reg.snapshot() for kind, reg in ALL.items()}
    try:
        yield
    finally:
        for kind, reg in ALL.items():
            reg.restore(saved[kind])
