"""What a remedy is: one change to a resolved recipe that the improve loop (`pipeline improve`) may
try against high bias or high variance. The built-ins live in `plugins/remedies.py`; a plugin adds
its own by registering a factory in `pipeline.registries.remedies` that returns a `Remedy`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Context:
    """What a remedy may read besides the recipe: one example's shape (rank 2: a sequence with
    channels, rank 3: an image) and an LR range test on a recipe (the suggested rate, or None)."""

    input_shape: tuple[int, ...]
    suggest_learning_rate: Callable[[dict], float | None]


@dataclass(frozen=True)
class Remedy:
    """`change(recipe, context)` edits the resolved recipe tree in place and says what it did (e.g.
    'widen: units 256 -> 512'), or returns None when it does not apply (nothing to widen, dropout
    already at its cap). `fixes`: the gap it narrows; `order`: its place in the course's basic
    recipe (lower first) among the remedies for that gap."""

    name: str
    fixes: Literal["bias", "variance"]
    order: int
    change: Callable[[dict, Context], str | None]
