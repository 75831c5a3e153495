"""The bias/variance verdict from train and validation error (the course's table, Ng's "basic recipe").

avoidable bias = train error - target error (the Bayes / human-level estimate, default 0);
variance = validation error - train error. A gap above `tolerance` (default 2 points) is "high":

| train / val error | 1% / 11%      | 15% / 16% | 15% / 30%                | 0.5% / 1%  |
|-------------------|---------------|-----------|--------------------------|------------|
| verdict           | high variance | high bias | high bias, high variance | good fit   |
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

    @property
    def avoidable_bias(self) -> float:
        return self.train_error - self.target_error

    @property
    def variance(self) -> float:
        return self.val_error - self.train_error

    @property
    def high_bias(self) -> bool:
        return self.avoidable_bias > self.tolerance

    @property
    def high_variance(self) -> bool:
        return self.variance > self.tolerance

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
        return (f"{self.label}: train error {self.train_error:.2%}, validation error {self.val_error:.2%}, "
                f"target {self.target_error:.2%} -> avoidable bias {self.avoidable_bias:.2%}, "
                f"variance {self.variance:.2%} (high above {self.tolerance:.0%}){larger}")


def classify(train_error: float, val_error: float, target_error: float = 0.0, tolerance: float = 0.02) -> Verdict:
    """The verdict for one run; errors are fractions (0.01 = 1%)."""
    return Verdict(float(train_error), float(val_error), float(target_error), float(tolerance))
