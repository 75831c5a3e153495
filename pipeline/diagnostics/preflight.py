"""Pre-flight checks (`pipeline diagnose RECIPE`, `train.preflight: true`): the course's sanity checks
before spending a full run.

1. initial loss: a fresh model scores all classes about equally, so its loss is that of an
   uninformed prediction (ln C for C-class cross-entropy); a fresh regression model predicts about
   the training mean; far from it means a bug, a bad init or unscaled targets;
2. regularization raises the loss: the recipe's penalties add to the data loss;
3. overfit a tiny subset: the model must drive a few dozen training examples to 100% accuracy
   (regression: a loss below 10% of its start) within a step budget, else there is a bug, too little
   capacity or a wrong learning rate;
4. gradient flow: every trainable weight gets a finite, non-zero gradient on the first batch;
5. recipe lint: output activation vs the loss's from_logits, output units vs classes, batch norm
   right after dropout (`recipe_checks.py`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from pipeline import backend as backends
from pipeline.assemble import build_compiled_model, prepare_data
from pipeline.components import build
from pipeline.diagnostics.errors import classification_error, target_mean
from pipeline.diagnostics.gradients import gradients
from pipeline.diagnostics.recipe_checks import recipe_findings
from pipeline.diagnostics.report import PREFLIGHT
from pipeline.keras_compat import set_seed
from pipeline.model.data_init import finish_initialization
from pipeline.model.network import build_model
from pipeline.model.training import from_logits, learning_rate_used

#: relative distance from the expected initial loss that passes / above which the check fails
INITIAL_LOSS_TOLERANCE, INITIAL_LOSS_FAIL = 0.25, 1.0
#: the tiny subset is overfit once the loss falls below this fraction of its start, where there is no
#: accuracy to read (regression; also labels that are not class ids, e.g. segmentation masks)
OVERFIT_LOSS_FRACTION = 0.1
CROSS_ENTROPIES = ("sparse_categorical_crossentropy", "categorical_crossentropy")


@dataclass
class CheckResult:
    name: str
    status: str  # pass | warn | fail | skip
    message: str
    advice: str = ""

    def line(self) -> str:
        return f"{self.status.upper():<4} {self.name}: {self.message}" + \
            (f"\n     advice: {self.advice}" if self.advice and self.status in ("warn", "fail") else "")


class PreflightFailed(RuntimeError):
    """A pre-flight check failed (`train.preflight: true`): the run stops before training."""


def num_classes(data, y) -> int | None:
    if getattr(data, "num_classes", None):
        return int(data.num_classes)
    y = np.asarray(y)
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        return int(y.max()) + 1
    if y.ndim == 2 and y.shape[-1] > 1 and np.isin(y, (0, 1)).all():
        return int(y.shape[-1])
    return None


def uninformed_prediction(pred: np.ndarray, from_logits: bool | None) -> np.ndarray:
    """What a model that knows nothing outputs: equal logits (0), or uniform probabilities."""
    if from_logits is False:
        return np.full_like(pred, 1.0 / pred.shape[-1] if pred.shape[-1] > 1 else 0.5)
    return np.zeros_like(pred)


def check_initial_loss(model, loss_fn, x, y, plan, classes: int | None,
                       tolerance: float = INITIAL_LOSS_TOLERANCE, target_mean: np.ndarray | None = None) -> CheckResult:
    """`target_mean` (regression): the training targets' mean, the prediction a fresh model should
    be near; else (classification) the reference is equal scores for every class."""
    pred = np.asarray(model.predict_on_batch(x))
    measured = float(loss_fn(y, pred))
    if target_mean is not None:
        mean = np.asarray(target_mean, dtype=pred.dtype).reshape(1, -1)
        expected = float(loss_fn(y, np.broadcast_to(mean, pred.shape)))
        shown = ", ".join(f"{v:.4g}" for v in mean.ravel()[:4])
        label = f"{expected:.4g} (the loss of predicting the training mean {shown})"
    else:
        expected = float(loss_fn(y, uninformed_prediction(pred, from_logits(plan))))
        label = f"ln C = ln {classes} = {expected:.3f}" if plan.loss.name in CROSS_ENTROPIES and classes \
            else f"{expected:.4g} (the loss of equal scores for every class)"
    if not math.isfinite(measured):
        return CheckResult("initial loss", "fail", f"measured {measured} (expected {label})",
                           "the loss is not finite before any training: look for a division by zero, a log of 0, "
                           "or unscaled inputs (add preprocess: [standardize])")
    if expected <= 1e-12:
        return CheckResult("initial loss", "skip", f"measured {measured:.4g}; no expected value for this loss")
    off = measured / expected - 1
    message = f"measured {measured:.4f}, expected {label} ({off:+.0%})"
    if abs(off) <= tolerance:
        return CheckResult("initial loss", "pass", message)
    status = "fail" if abs(off) > INITIAL_LOSS_FAIL else "warn"
    if target_mean is not None:
        advice = ("a fresh model should predict about the training mean: with targets far from 0 or on a large "
                  "scale set data.standardize_targets: true; else look for a large output bias or weights (the "
                  "last layer's initializers) or inputs on a large scale (add preprocess: [standardize])")
    else:
        advice = ("a fresh model should score the classes about equally: look for a large output bias or "
                  "weights (the last layer's initializers), an activation applied twice (softmax with "
                  "from_logits: true), or inputs on a large scale (add preprocess: [standardize])")
    return CheckResult("initial loss", status, message, advice)


def check_regularization(model, loss_fn, x, y) -> CheckResult:
    data_loss = float(loss_fn(y, np.asarray(model.predict_on_batch(x))))
    penalties = [float(np.asarray(p)) for p in model.losses]
    if not penalties:
        return CheckResult("regularization raises the loss", "skip", "the model has no weight penalty")
    total = data_loss + sum(penalties)
    message = f"data loss {data_loss:.4f} -> {total:.4f} with the penalties (+{sum(penalties):.4g})"
    if sum(penalties) > 0:
        return CheckResult("regularization raises the loss", "pass", message)
    return CheckResult("regularization raises the loss", "fail", message,
                       "the recipe's regularizers add nothing: is a factor 0?")


def check_gradient_flow(model, loss_fn, x, y) -> CheckResult:
    try:
        grads = gradients(model, loss_fn, x, y)
    except NotImplementedError as exc:
        return CheckResult("gradient flow", "skip", str(exc))
    bad, norms = [], {}
    for path, g in grads:
        norm = float(np.sqrt(np.sum(g * g))) if np.isfinite(g).all() else float("nan")
        norms[path] = norm
        if not math.isfinite(norm):
            bad.append(f"{path} (NaN/Inf)")
        elif norm == 0.0:
            bad.append(f"{path} (zero)")
    if bad:
        return CheckResult("gradient flow", "fail", f"{len(bad)} of {len(grads)} weights get no usable gradient: "
                           + ", ".join(bad), "a weight with a zero gradient never learns: look for dead ReLUs "
                           "(lower the learning rate, He init, leaky ReLU), a layer cut off from the loss, or "
                           "saturated tanh/sigmoid units; NaN gradients point at a numerical bug")
    kernels = {p: n for p, n in norms.items() if p.endswith("kernel")} or norms
    smallest, largest = min(kernels, key=kernels.get), max(kernels, key=kernels.get)
    ratio = kernels[smallest] / kernels[largest]
    message = (f"all {len(grads)} weights get a finite, non-zero gradient; smallest kernel gradient "
               f"{smallest} {kernels[smallest]:.2e}, largest {largest} {kernels[largest]:.2e}")
    if kernels[largest] < 1e-5:
        return CheckResult("gradient flow", "warn", message + " (vanishing everywhere)",
                           "the gradients are too small to train any layer: activations have collapsed or "
                           "saturated; check the initialization (Xavier for tanh, He for ReLU)")
    if ratio < 1e-4:
        return CheckResult("gradient flow", "warn", message + f" (ratio {ratio:.1e}: vanishing)",
                           "gradients vanish towards the input: check the initialization (Xavier for tanh, "
                           "He for ReLU) or add normalization / residual connections")
    return CheckResult("gradient flow", "pass", message)


def _without_penalties(plan):
    """The plan's layers with their weight penalties removed (the course: overfit before regularizing)."""
    def strip(checked):
        kwargs = {k: v for k, v in checked.kwargs.items()
                  if not (hasattr(v, "entry") and v.entry.kind == "regularizers")}
        return dataclasses.replace(checked, kwargs=kwargs)

    return [dataclasses.replace(lp, layer=strip(lp.layer)) for lp in plan.layers]


def check_overfit(loaded, x_train, y_train, subset: int = 50, steps: int = 300, target_scaling=None) -> CheckResult:
    """Train a fresh copy (no weight penalties, the recipe's optimizer at its starting rate, no
    schedule) on `subset` training examples, full batch, for up to `steps` steps: classification
    must reach 100% accuracy, regression a loss below `OVERFIT_LOSS_FRACTION` of its start."""
    from pipeline.model.target_scaling_keras import standardized_loss

    plan = loaded.plan
    xs, ys = x_train[:subset], y_train[:subset]
    model = build_model(_without_penalties(plan), plan.outputs, x_train.shape[1:], name="overfit_check",
                        target_scaling=target_scaling)
    params = plan.optimizer.entry.signature.parameters
    kwargs = {**plan.optimizer.kwargs,
              **({"learning_rate": learning_rate_used(plan)} if "learning_rate" in params else {})}
    model.compile(optimizer=build(dataclasses.replace(plan.optimizer, kwargs=kwargs)),
                  loss=standardized_loss(build(plan.loss), model))

    finish_initialization(model, x_train, seed=plan.recipe.seed)
    logits = from_logits(plan) is not False
    regression = plan.recipe.task == "regression"
    first = float(np.asarray(model.evaluate(xs, ys, batch_size=len(xs), verbose=0)))
    loss, error = first, None
    for step in range(1, steps + 1):
        loss = float(np.asarray(model.train_on_batch(xs, ys)))
        if step % 10 == 0 or step == steps:
            if regression:  # in inference mode, like `first` (dropout's noise is no failure to memorize)
                loss = float(np.asarray(model.evaluate(xs, ys, batch_size=len(xs), verbose=0)))
            else:
                error = classification_error(ys, np.asarray(model.predict_on_batch(xs)), logits)
            if (error == 0.0) if error is not None else loss < OVERFIT_LOSS_FRACTION * first:
                what = "100% training accuracy" if error is not None else \
                    f"loss {loss:.3g} (< {OVERFIT_LOSS_FRACTION:.0%} of {first:.3g})"
                return CheckResult("overfit a tiny subset", "pass",
                                   f"{len(xs)} examples reach {what} in {step} steps (loss {first:.3g} -> {loss:.3g})")
    reached = f"accuracy {1 - error:.0%}" if error is not None else \
        f"loss {loss:.3g} ({loss / first:.0%} of its start, expected below {OVERFIT_LOSS_FRACTION:.0%})"
    if not math.isfinite(loss) or loss > first:
        advice = "the loss went up: the learning rate is too high (pipeline lr-find), or the loss/labels do not match"
    elif abs(first - loss) <= 1e-6 * max(abs(first), 1.0):
        advice = ("the loss did not move: the learning rate is 0 or far too low, or no gradient reaches the "
                  "weights (see gradient flow)")
    else:
        advice = ("the model learns but too slowly to memorize a few examples: raise the learning rate "
                  "(pipeline lr-find) or the capacity, or look for a bug (labels shuffled against inputs, "
                  "wrong loss for the output)")
        if regression and target_scaling is None:
            advice += "; targets far from 0 or on a large scale train slowly: set data.standardize_targets: true"
    return CheckResult("overfit a tiny subset", "fail",
                       f"{len(xs)} examples, {steps} steps: {reached}, loss {first:.3g} -> {loss:.3g}", advice)


def diagnose(loaded, subset: int = 50, steps: int = 300, echo=print, data_and_splits=None) -> list[CheckResult]:
    """Every pre-flight check on `loaded`; prints each result through `echo`."""
    backends.activate(loaded.resolved["backend"])

    recipe = loaded.plan.recipe
    set_seed(recipe.seed)
    data, splits = data_and_splits or prepare_data(loaded)
    regression = recipe.task == "regression"
    classes = None if regression else num_classes(data, splits.y_train)
    targets = (splits.y_train.shape[1] if splits.y_train.ndim > 1 else 1) if regression else None
    results = [CheckResult("recipe lint", status, f"{where}: {message}")
               for status, where, message in recipe_findings(loaded.plan, classes, targets)]
    if not results:
        results.append(CheckResult("recipe lint", "pass", "output activation, loss, output units and layer order agree"))
    for r in results:
        echo(r.line())

    def report(result):
        results.append(result)
        echo(result.line())

    steps_per_epoch = max(1, len(splits.x_train) // recipe.train.batch_size)
    model = build_compiled_model(loaded, splits.x_train.shape[1:], steps_per_epoch, splits.target_scaling)
    finish_initialization(model, splits.x_train, seed=recipe.seed)
    batch = min(recipe.train.batch_size, len(splits.x_train))
    n = max(batch, min(256, len(splits.x_train)))  # the loss checks read up to 256 examples: a steadier mean
    x, y = splits.x_train[:n], splits.y_train[:n]
    loss_fn = build(loaded.plan.loss)
    mean = target_mean(splits.y_train) if regression else None
    report(check_initial_loss(model, loss_fn, x, y, loaded.plan, classes, target_mean=mean))
    report(check_regularization(model, loss_fn, x, y))
    report(check_gradient_flow(model, loss_fn, x[:batch], y[:batch]))
    report(check_overfit(loaded, splits.x_train, splits.y_train, subset, steps, splits.target_scaling))
    return results


def run_preflight(loaded, data_and_splits, run_logger, echo=print) -> list[CheckResult]:
    """`train.preflight: true`: the checks, recorded in the run (tag + text artifact); a failed
    check raises `PreflightFailed`, which ends the run FAILED before training."""
    results = diagnose(loaded, echo=echo, data_and_splits=data_and_splits)
    failed = [r for r in results if r.status == "fail"]
    run_logger.set_tags({"diagnostics.preflight": "failed" if failed else "passed"})
    run_logger.log_text("\n".join(r.line() for r in results) + "\n", PREFLIGHT)
    if failed:
        raise PreflightFailed(f"pre-flight check failed: {'; '.join(f'{r.name}: {r.message}' for r in failed)}"
                              f" (advice: {failed[0].advice})")
    return results
