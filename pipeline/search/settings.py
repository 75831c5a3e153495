"""The recipe's `search:` section (`pipeline tune`): its settings, part of the recipe schema.

Plain settings (recipe layer, like `space.py`): the space's entries are checked by
`pipeline/search/space.py` (ranges, conditions, each value applied to the recipe); here they are
mappings keyed by recipe paths, described for editors.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from pipeline.values import PositiveInt, Seed

#: Words in a metric name that mean lower is better (losses, error rates, regression errors: mae, mse, rmse).
MINIMIZED = ("loss", "error", "mae", "mse")

_RANGE = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
# What an editor shows for one space entry; `pipeline validate` checks the rest (space.py).
DIMENSION_JSON_SCHEMA = {
    "type": "object",
    "description": "one of log_uniform | uniform | int: [low, high], or choice: [values]; "
                   "optional step (uniform, int) and when: {choice path: value or [values]}",
    "properties": {"log_uniform": _RANGE, "uniform": _RANGE, "int": _RANGE,
                   "choice": {"type": "array", "minItems": 1}, "step": {"type": "number", "exclusiveMinimum": 0},
                   "when": {"type": "object", "minProperties": 1, "maxProperties": 1}},
    "additionalProperties": False,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Stage(_Strict):
    """One pass of a coarse->fine search: few epochs first, then more, in a range narrowed around top_k."""

    epochs: PositiveInt
    max_trials: PositiveInt | None = None  # defaults to search.max_trials
    top_k: PositiveInt = 3  # the next stage narrows each range around this many best trials


class SearchSettings(_Strict):
    tuner: Literal["random", "grid", "bayesian", "hyperband"] = "random"
    objective: str = "val_accuracy"
    direction: Literal["max", "min"] | None = None  # default: min for losses and errors (MINIMIZED), else max
    max_trials: PositiveInt = 10
    executions_per_trial: PositiveInt = 1
    seed: Seed | None = None  # defaults to the recipe's seed
    abort_factor: float = Field(3.0, gt=1)  # a trial whose loss exceeds this x its first loss stops
    hyperband_factor: int = Field(3, ge=2)
    # keyed by recipe paths ('train.optimizer.learning_rate', 'model.layers[3].rate')
    space: dict[str, Annotated[Any, WithJsonSchema(DIMENSION_JSON_SCHEMA)]] = Field(min_length=1)
    stages: list[Stage] = []

    @property
    def goal(self) -> str:
        if self.direction:
            return self.direction
        return "min" if any(w in self.objective for w in MINIMIZED) else "max"
