"""The bias/variance verdict from train and validation error (the course's table, Ng's "basic recipe").

avoidable bias = train error - target error (the Bayes / human-level estimate, default 0);
variance = validation error - train error. A gap above `tolerance` (default 2 points) is "high":

| train / val error | 1% / 11%      | 15% / 16% | 15% / 30%                | 0.5% / 1%  |
|-------------------|---------------|-----------|--------------------------|------------|
| verdict           | high variance | high bias | high bias, high variance | good fit   |

Regression reads the same table in the loss's units, a gap being "high" above `tolerance` times
the loss of predicting the training mean (`scale`): for MSE that is `tolerance` points of R². Or,
with `diagnostics.target_r2`, it reads every error as 1 - R² (the share of variance unexplained).
"""

from __future__ import annotations

from dataclasses import dataclass

#: "The basic recipe for machine learning": fix bias first (until the training error is acceptable),
#: then variance; each list is in the order to try.
ADVICE = {
    "high bias": ["bigger model (more units or layers)", "train longer (more epochs, a schedule that "
                  "decays later)", "better optimizer / learning rate (Adam, an LR range test: pipeline "
                  "lr-find)", "less regularization (lower L2 factor / dropout rate)",
                  "another architecture"],
    "high variance": ["more data or data augmentation", "regularization (dropout, L2 / weight decay)",
                      "early stopping on the validation loss", "smaller model",
                      "another architecture"],
    "good fit": ["nothing to fix on bias or variance: evaluate on the test split and stop tuning"],
}


@dataclass(frozen=True)
class Verdict:
    train_error: float
    val_error: float
    target_error: float
    tolerance: float
    #: what a gap is measured against: 1 for fractions, else the loss of predicting the training mean
    scale: float = 1.0
    #: what the errors are: "error" (a classification error rate), a loss name (e.g. "mse"), "1 - R²"
    measure: str = "error"
    #: more facts for `explain` (e.g. the R² of both splits)
    note: str = ""

    @property
    def avoidable_bias(self) -> float:
        return self.train_error - self.target_error

    @property
    def variance(self) -> float:
        return self.val_error - self.train_error

    @property
    def threshold(self) -> float:
        """The gap above which bias or variance is "high", in the errors' units."""
        return self.tolerance * self.scale

    @property
    def high_bias(self) -> bool:
        return self.avoidable_bias > self.threshold

    @property
    def high_variance(self) -> bool:
        return self.variance > self.threshold

    @property
    def label(self) -> str:
        """'high bias', 'high variance', 'high bias, high variance' or 'good fit'."""
        parts = [name for name, on in (("high bias", self.high_bias), ("high variance", self.high_variance)) if on]
        return ", ".join(parts) or "good fit"

    def advice(self) -> list[str]:
        """What to change, bias first (the basic recipe's order)."""
        if not (self.high_bias or self.high_variance):
            return list(ADVICE["good fit"])
        out = []
        if self.high_bias:
            out += [f"(bias) {a}" for a in ADVICE["high bias"]]
        if self.high_variance:
            out += [f"(variance) {a}" for a in ADVICE["high variance"]]
        return out

    def explain(self) -> str:
        larger = ""
        if self.high_bias and self.high_variance:
            larger = f"; the larger gap is {'variance' if self.variance > self.avoidable_bias else 'bias'}"
        note = f"; {self.note}" if self.note else ""
        if self.measure == "error":
            return (f"{self.label}: train error {self.train_error:.2%}, validation error {self.val_error:.2%}, "
                    f"target {self.target_error:.2%} -> avoidable bias {self.avoidable_bias:.2%}, "
                    f"variance {self.variance:.2%} (high above {self.tolerance:.0%}){larger}{note}")
        high = f"{self.threshold:.4g}" if self.scale == 1 else (
            f"{self.threshold:.4g} = {self.tolerance:.0%} of {self.scale:.4g}, the {self.measure} of predicting "
            f"the training mean")
        return (f"{self.label}: train {self.measure} {self.train_error:.4g}, validation {self.measure} "
                f"{self.val_error:.4g}, target {self.target_error:.4g} -> avoidable bias {self.avoidable_bias:.4g}, "
                f"variance {self.variance:.4g} (high above {high}){larger}{note}")


def classify(train_error: float, val_error: float, target_error: float = 0.0, tolerance: float = 0.02,
             scale: float = 1.0, measure: str = "error", note: str = "") -> Verdict:
    """The verdict for one run; classification errors are fractions (0.01 = 1%); regression errors
    are in the loss's units with `scale` the loss of predicting the training mean, or 1 - R²."""
    return Verdict(float(train_error), float(val_error), float(target_error), float(tolerance), float(scale),
                   measure, note)
