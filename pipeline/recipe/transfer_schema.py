"""Recipe sections for transfer learning and test-time augmentation (plain settings, no framework).

```yaml
model:
  init_from: {run: RUN_ID, layers: stage2}   # or {path: model.keras} or {experiment: NAME} (its latest finished run)
  freeze: {up_to: stage2}                    # or all, or {names: ["stage*"]}
train:
  unfreeze: [{epoch: 5, down_to: stage2, learning_rate: 1.0e-4}]
  tta: {flips: [horizontal], crops: {size: 28}}
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.values import NonNegativeInt, PositiveFloat, PositiveInt


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def _exactly_one(section: BaseModel, keys: tuple[str, ...]) -> None:
    given = [k for k in keys if getattr(section, k) not in (None, False)]
    if len(given) != 1:
        raise ValueError(f"expected exactly one of {', '.join(keys)}. Received: {', '.join(given) or 'none'}")


class InitFrom(_Section):
    """Weights copied into the new model before training, from a saved `.keras` model.

    `layers`: a layer name copies every layer up to and including it, paired by position with the
    source model (the same architecture prefix; unnamed layers included); a list copies the layers
    whose names match (names or fnmatch patterns, e.g. "stage*"); absent: every layer whose name and
    weight shapes are in both models.
    """

    run: str | None = None          # an MLflow run id: its logged model/model.keras
    experiment: str | None = None   # the latest FINISHED run of this MLflow experiment
    path: str | None = None         # a .keras file
    layers: str | list[str] | None = None

    @model_validator(mode="after")
    def _one_source(self):
        _exactly_one(self, ("run", "experiment", "path"))
        return self


class Freeze(_Section):
    """Layers made non-trainable before training (BatchNorm in them then stays in inference mode)."""

    up_to: str | None = None        # every layer up to and including this one
    names: list[str] | None = None  # layer names or fnmatch patterns

    @model_validator(mode="after")
    def _one_rule(self):
        _exactly_one(self, ("up_to", "names"))
        return self


class Unfreeze(_Section):
    """At the start of `epoch` (0-based: after `epoch` epochs), make layers trainable again and
    recompile with a fresh optimizer at a constant `learning_rate` (default: 0.1 x the recipe's)."""

    epoch: PositiveInt
    down_to: str | None = None      # from the output back to and including this layer
    names: list[str] | None = None
    all: bool = False
    learning_rate: PositiveFloat | None = None

    @model_validator(mode="after")
    def _one_rule(self):
        _exactly_one(self, ("down_to", "names", "all"))
        return self


CropPosition = Literal["center", "top_left", "top_right", "bottom_left", "bottom_right"]


class Crops(_Section):
    """A fixed set of `size` x `size` crops, each resized back to the model's input size."""

    size: PositiveInt
    positions: list[CropPosition] = Field(
        default=["center", "top_left", "top_right", "bottom_left", "bottom_right"], min_length=1)


class TTA(_Section):
    """Test-time augmentation: the test predictions averaged over the image, its crops and the
    flips of all of them (the model's outputs are averaged: logits if it outputs logits)."""

    flips: list[Literal["horizontal", "vertical"]] = []
    crops: Crops | None = None
    batch_size: NonNegativeInt = 0  # 0: the training batch size

    @model_validator(mode="after")
    def _something_to_average(self):
        if not self.flips and self.crops is None:
            raise ValueError("expected flips or crops (or both)")
        return self


Freezing = Literal["all"] | Freeze
