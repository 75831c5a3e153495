"""The recipe's `diagnostics:` section (plain settings; no framework import)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.values import PositiveFloat


class Diagnostics(BaseModel):
    """What the run checks and concludes on its own.

    explosion_factor: stop when the training loss exceeds this many times the initial loss (the
        course: "if the cost is ever > 3 * original cost, break out early"); false or null turns the
        guard off (in a recipe that `extends:` another, null deletes the inherited value instead).
    target_error: the error a model can reach at best (Bayes / human-level estimate) for the
        bias/variance verdict; the avoidable bias is train error - target_error. Classification: a
        fraction (below 1); regression: in the loss's units, on the original targets.
    target_r2: regression only, instead of target_error: the best R² expected; the verdict then reads
        every error as 1 - R² (the fraction of the targets' variance left unexplained).
    tolerance: a gap (avoidable bias, or val - train error) above this is "high"; for regression in
        the loss's units it is a fraction of the loss of predicting the training mean.
    verdict: after training, measure train/val error and log the verdict and the report.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    explosion_factor: PositiveFloat | Literal[False] | None = 3.0
    target_error: float = Field(0.0, ge=0)
    target_r2: float | None = Field(None, le=1)
    tolerance: float = Field(0.02, gt=0, lt=1)
    verdict: bool = True
