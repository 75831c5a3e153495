"""After training: the test split read once (plain, with test-time augmentation, and the end-of-run
reports), or, where the test split is not for this run (k-fold folds, search trials), the kept model
on its validation split. Values out; the run logs them."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.data.batches import keras_inputs
from pipeline.model.training import test_reports
from pipeline.tta import evaluate_tta


@dataclass
class Evaluation:
    test_metrics: dict[str, float] = field(default_factory=dict)  # test_*, shown and returned
    metrics: dict[str, float] = field(default_factory=dict)  # everything to log (test_* or final_val_*)
    artifacts: dict = field(default_factory=dict)  # {artifact path: figure | dict | text}


def evaluate(model, plan, splits, data, evaluate_test: bool = True) -> Evaluation:
    """`data`: the `FitData` training used (its labels are in the form the compiled loss expects)."""
    batch_size = plan.recipe.train.batch_size
    if evaluate_test and len(splits.x_test):
        # The test split is read here, once, after training and model selection are over.
        scores = model.evaluate(**keras_inputs(splits.x_test, data.y_test, batch_size), verbose=0, return_dict=True)
        test = {f"test_{k}": float(v) for k, v in scores.items()}
        if plan.recipe.train.tta is not None:  # logged beside, never instead of, the plain test metrics
            test |= evaluate_tta(model, plan, splits.x_test, data.y_test, batch_size)

        report_metrics, artifacts = test_reports(model, plan, splits.x_test, splits.y_test, batch_size)
        return Evaluation(test, {**test, **report_metrics}, artifacts)
    # the model as kept (best weights, if restored) on its validation split / held-out fold
    x_val, y_val = data.validation
    scores = model.evaluate(**keras_inputs(x_val, y_val, batch_size), verbose=0, return_dict=True)
    return Evaluation(metrics={f"final_val_{k}": float(v) for k, v in scores.items()})
