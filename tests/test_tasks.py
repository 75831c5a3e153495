"""`task: classification | regression`: validated without a framework, located problems, every
registered loss and metric marked for its task."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline import registries
from pipeline.recipe import RecipeError, load_recipe
from pipeline.tasks import task_of
from tests.conftest import REPO

REGRESSION = """\
seed: 1
task: regression
data:
  source: {type: diabetes}
  split: {val: 0.2}
model:
  layers:
    - {type: dense, units: 1}
train:
  epochs: 1
  loss: mse
  metrics: [mae, rmse, r2]
"""

CLASSIFICATION = """\
seed: 1
data:
  source: {type: digits}
model:
  layers:
    - {type: flatten}
    - {type: dense, units: 10}
train:
  epochs: 1
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
"""


def where(file, text: str, needle: str) -> str:
    """`file:line:col` of the first `needle` in `text`: counted, not hand-typed."""
    for number, content in enumerate(text.splitlines(), start=1):
        if needle in content:
            return f"{file}:{number}:{content.index(needle) + 1}"
    raise AssertionError(f"{needle!r} not in the recipe text")


def problems(file) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe(file)
    return [str(p) for p in info.value.problems]


def test_task_defaults_to_classification_and_regression_recipes_validate(write_recipe):
    assert load_recipe(write_recipe("c.yaml", CLASSIFICATION)).plan.recipe.task == "classification"
    assert load_recipe(write_recipe("r.yaml", REGRESSION)).plan.recipe.task == "regression"
    file = write_recipe("bad.yaml", REGRESSION.replace("task: regression", "task: regresion"))
    assert "task: input should be 'classification' or 'regression'" in problems(file)[0]


def test_regression_loss_on_a_classification_task_is_refused_where_it_is_written(write_recipe):
    text = REGRESSION.replace("task: regression\n", "")
    file = write_recipe("r.yaml", text)
    found = problems(file)
    at = where(file, text, "loss: mse")
    assert found[0].startswith(f"{at} train.loss: loss 'mse' is for regression, but the recipe's "
                               f"task is classification (the default). Expected a classification loss: ")
    assert "sparse_categorical_crossentropy" in found[0] and found[0].endswith("or set task: regression at "
                                                                             "the top of the recipe")
    # and each regression metric, at its item
    assert [p.split(" ")[1] for p in found[1:]] == ["train.metrics[0]:", "train.metrics[1]:", "train.metrics[2]:"]
    assert found[1].startswith(where(file, text, "mae, rmse"))


def test_classification_loss_and_metric_on_a_regression_task_are_refused(write_recipe):
    text = REGRESSION.replace("loss: mse", "loss: {type: binary_crossentropy, from_logits: true}") \
        .replace("[mae, rmse, r2]", "[mae, accuracy]")
    file = write_recipe("r.yaml", text)
    found = problems(file)
    assert found[0].startswith(f"{where(file, text, 'type: binary')} train.loss.type: loss 'binary_crossentropy' is "
                               f"for classification, but the recipe's task is regression. Expected a regression "
                               f"loss: huber, log_cosh, mae, mse")
    assert found[1].startswith(f"{where(file, text, 'accuracy]')} train.metrics[1]: metric 'accuracy' is for "
                               f"classification")


@pytest.mark.parametrize("setting, path", [
    ("  imbalance: {class_weight: balanced}", "data.imbalance.class_weight"),
    ("  imbalance: {oversample: true}", "data.imbalance.oversample"),
    ("  imbalance_ratio: 0.1", "data.imbalance_ratio"),
    ("  mix: {type: mixup}", "data.mix"),
])
def test_class_label_settings_are_refused_in_a_regression(write_recipe, setting, path):
    key = path.split(".")[-1]
    text = REGRESSION.replace("  split: {val: 0.2}\n", f"  split: {{val: 0.2}}\n{setting}\n")
    file = write_recipe("r.yaml", text)
    found = [p for p in problems(file) if f" {path}: " in p]  # (mixing also needs a soft-label loss)
    assert len(found) == 1 and found[0].startswith(where(file, text, key))
    assert "task: regression has no classes" in found[0]


def test_target_settings_are_refused_in_a_classification(write_recipe):
    text = CLASSIFICATION.replace("  source: {type: digits}\n",
                                  "  source: {type: digits}\n  standardize_targets: true\n")
    text += "diagnostics: {target_r2: 0.5, target_error: 1.5}\n"
    found = problems(write_recipe("c.yaml", text))
    assert [p.split(" ")[1] for p in found] == ["data.standardize_targets:", "diagnostics.target_r2:",
                                                "diagnostics.target_error:"]
    assert "c.yaml:4:3" in found[0] and "Expected a value below 1. Received: 1.5" in found[2]


def test_regression_verdict_settings(write_recipe):
    ok = REGRESSION + "diagnostics: {target_error: 2500.0}\n"  # in the loss's units: may exceed 1
    assert load_recipe(write_recipe("ok.yaml", ok)).plan.recipe.diagnostics.target_error == 2500.0
    assert load_recipe(write_recipe("r2.yaml", REGRESSION + "diagnostics: {target_r2: 0.6}\n"))
    (found,) = problems(write_recipe("both.yaml", REGRESSION + "diagnostics: {target_r2: 0.6, target_error: 9}\n"))
    assert "target_error and target_r2 both" in found


def test_standardized_targets_need_one_output(write_recipe):
    text = REGRESSION.replace("    - {type: dense, units: 1}", "    - {type: dense, units: 1, name: a}\n"
                              "    - {type: dense, units: 1, inputs: [input], name: b}\n  outputs: [a, b]")
    text = text.replace("  split: {val: 0.2}\n", "  split: {val: 0.2}\n  standardize_targets: true\n")
    (found,) = problems(write_recipe("r.yaml", text))
    assert "data.standardize_targets: standardized targets are mapped back on the model's one output" in found


@pytest.mark.parametrize("kind", ["losses", "metrics"])
def test_every_built_in_loss_and_metric_is_marked_for_its_task(kind):
    unmarked = [e.name for e in registries.ALL[kind].entries() if e.provider.plugin == "builtin"
                and task_of(e) is None]
    assert unmarked == []


def test_validate_stays_free_of_frameworks_for_a_regression_recipe(write_recipe):
    file = write_recipe("r.yaml", REGRESSION.replace("loss: mse", "loss: {type: huber, delta: 2.0}"))
    code = ("import sys; from pipeline.cli import main; code = main(['validate', sys.argv[1]]); "
            "heavy = [m for m in ('keras', 'jax', 'tensorflow', 'torch', 'sklearn') if m in sys.modules]; "
            "print('heavy:', heavy); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code, str(file)], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "heavy: []" in result.stdout


def test_a_regression_search_names_its_objective_and_minimizes_errors(write_recipe):
    from pipeline.search.space import SearchSettings

    space = "search:\n  space: {train.epochs: {choice: [1, 2]}}\n"
    (found,) = problems(write_recipe("r.yaml", REGRESSION + space))
    assert found.endswith("search: the default objective val_accuracy is a classification metric. Expected "
                          "search.objective for a regression, e.g. val_loss or val_mae")
    assert load_recipe(write_recipe("ok.yaml", REGRESSION + space + "  objective: val_mae\n"))
    goals = {m: SearchSettings(objective=m, space={"a": {}}).goal for m in ("val_mae", "val_rmse", "val_r2")}
    assert goals == {"val_mae": "min", "val_rmse": "min", "val_r2": "max"}
