"""The recipe's `diagnostics:` section (plain settings; no framework import)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline.values import PositiveFloat


class Diagnostics(BaseModel):
    """What the run checks and concludes on its own.

    explosion_factor: stop when the training loss exceeds this many times the initial loss (the
        course: "if the cost is ever > 3 * original cost, break out early"); null turns the guard off.
    target_error: the error a model can reach at best (Bayes / human-level estimate) for the
        bias/variance verdict; the avoidable bias is train error - target_error.
    tolerance: a gap (avoidable bias, or val - train error) above this is "high".
    verdict: after training, measure train/val error and log the verdict and the report.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    explosion_factor: PositiveFloat | None = 3.0
    target_error: float = Field(0.0, ge=0, lt=1)
    tolerance: float = Field(0.02, gt=0, lt=1)
    verdict: bool = True
