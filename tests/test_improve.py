"""`pipeline improve`: remedies on recipe trees, and the loop on a tiny recipe (rounds, revert,
the best recipe as an `extends:` file, the test split read once at the end)."""

from __future__ import annotations

import copy
import csv
import io

import pytest

from pipeline import registries
from pipeline.improve import fitting, improve, ordered_remedies
from pipeline.recipe import load_recipe
from pipeline.recipe.resolve import changed_keys, deep_merge
from pipeline.remedy import Context, Remedy

MLP = {"model": {"defaults": {"kernel_regularizer": {"type": "l2", "factor": 1e-4}},
                 "layers": [{"type": "dense", "units": 8, "activation": "relu"}, {"type": "dropout", "rate": 0.2},
                            {"type": "dense", "units": 10}]},
       "train": {"epochs": 4, "optimizer": {"type": "adam", "learning_rate": 0.01}}}
CONTEXT = Context((40, 1), lambda tree: 0.003)


def apply(name: str, tree: dict, context: Context = CONTEXT) -> tuple[dict, str | None]:
    tree = copy.deepcopy(tree)
    return tree, registries.remedies.build(name).change(tree, context)


def test_bias_remedies_widen_add_a_block_train_longer_and_take_the_lr_find_rate():
    tree, said = apply("widen", MLP)
    assert [x.get("units") for x in tree["model"]["layers"]] == [16, None, 10] and "8->16" in said
    tree, said = apply("add_block", MLP)
    assert [x["type"] for x in tree["model"]["layers"]] == ["dense", "dropout", "dense", "dropout", "dense"]
    assert apply("train_longer", MLP)[0]["train"]["epochs"] == 8
    assert apply("lr_find", MLP)[0]["train"]["optimizer"]["learning_rate"] == 0.003
    assert apply("lr_find", MLP, Context((40, 1), lambda tree: 0.011))[1] is None  # about the same rate


def test_variance_remedies_augment_sequences_and_images_only_dropout_l2_early_stopping():
    assert apply("augment", MLP)[0]["model"]["layers"][0] == {"type": "random_shift", "max_shift": 4}
    assert apply("augment", MLP, Context((8, 8, 1), None))[0]["model"]["layers"][0]["type"] == "random_translation"
    assert apply("augment", MLP, Context((40,), None))[1] is None  # a table: no augmentation
    assert apply("dropout", MLP)[0]["model"]["layers"][1]["rate"] == pytest.approx(0.3)
    capped = copy.deepcopy(MLP)
    capped["model"]["layers"][1]["rate"] = 0.5
    assert apply("dropout", capped)[1] is None
    assert apply("l2", MLP)[0]["model"]["defaults"]["kernel_regularizer"]["factor"] == pytest.approx(1e-3)
    tree, _ = apply("early_stopping", MLP)
    assert tree["train"]["callbacks"][0]["type"] == "early_stopping" and apply("early_stopping", tree)[1] is None


def test_remedies_are_tried_bias_first_in_the_basic_recipes_order_and_plugins_add_theirs():
    registries.remedies.register("halve_batch", lambda: Remedy("halve_batch", "variance", 25, lambda t, c: None))
    names = [r.name for r in fitting(ordered_remedies(), "high bias, high variance")]
    assert names == ["widen", "add_block", "train_longer", "lr_find", "augment", "dropout", "halve_batch", "l2",
                     "early_stopping"]
    assert next(r.name for r in fitting(ordered_remedies(), "high variance")) == "augment"
    both = [r.name for r in fitting(ordered_remedies(), "high bias, high variance", variance_first=True)]
    assert both[0] == "augment" and both[-1] == "lr_find"  # the larger gap first
    assert fitting(ordered_remedies(), "good fit") == []


def test_changed_keys_merged_over_the_base_give_the_changed_tree():
    tree, _ = apply("widen", MLP)
    tree, _ = apply("early_stopping", tree)
    changes = changed_keys(MLP, tree)
    assert set(changes) == {"model", "train"} and set(changes["model"]) == {"layers"}
    assert set(changes["train"]) == {"callbacks"}
    assert deep_merge(copy.deepcopy(MLP), changes, {}, {}) == tree


TINY = """\
name: tiny
seed: 1
data: {source: {type: digits}, split: {val: 0.2, test: 0.2}}
model: {layers: [{type: flatten}, {type: dense, units: 4, activation: relu}, {type: dense, units: 10}]}
train:
  epochs: 2
  optimizer: {type: adam, learning_rate: 0.01}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
track: {experiment: improve, log_model: false}
"""


def test_improve_reverts_what_does_not_help_keeps_what_does_and_reads_the_test_split_once(
        tracking_uri, write_recipe, tmp_path, monkeypatch):
    from pipeline import evaluation
    from pipeline.tracking import runs

    @registries.remedies.register("crawl")
    def crawl():
        """Bias, first of all: a learning rate too small to learn (the loop must revert it)."""
        def change(tree, context):
            tree["train"]["optimizer"]["learning_rate"] = 1e-7
            return "learning rate 1e-7"
        return Remedy("crawl", "bias", 0, change)

    reads = []
    real = evaluation.evaluate

    def evaluate(model, plan, splits, data, evaluate_test=True):
        reads.append(evaluate_test)
        return real(model, plan, splits, data, evaluate_test)

    monkeypatch.setattr(evaluation, "evaluate", evaluate)
    recipe = write_recipe("tiny.yaml", TINY)
    loaded = load_recipe(recipe)
    result = improve(loaded, budget=2, output=str(tmp_path / "out" / "best.yaml"), echo=lambda *a, **k: None)

    assert [(r.number, r.remedy, r.kept) for r in result.rounds] == [(0, "-", True), (1, "crawl", False),
                                                                     (2, "widen", True)]
    assert result.rounds[2].val_error < result.rounds[0].val_error < result.rounds[1].val_error
    assert result.stopped == "budget of 2 rounds spent" and result.best.number == 2
    assert reads == [False, False, False, True]  # three rounds on validation, then the test split once
    # the best recipe: extends the original, only the changed key, and it is the recipe the final run trained
    best = load_recipe(result.recipe_file)
    text = (tmp_path / "out" / "best.yaml").read_text()
    assert "extends: ../tiny.yaml" in text and "units: 8" in text and "learning_rate" not in text
    final = runs.get_run(tracking_uri, result.final_run_id)
    assert final.tags["recipe.hash"] == best.hash and final.parent_run_id == result.parent_run_id
    assert result.test_metrics["test_accuracy"] == final.metrics["test_accuracy"]
    # the chain: a table and a plot on the parent run, every round a nested run
    chain = list(csv.DictReader(io.StringIO(runs.load_text(tracking_uri, result.parent_run_id, "improve/rounds.csv"))))
    assert [(r["round"], r["remedy"], r["kept"]) for r in chain] == [("0", "-", "yes"), ("1", "crawl", "no"),
                                                                     ("2", "widen", "yes")]
    plot = runs.download(tracking_uri, result.parent_run_id, "improve/val_error.png", tmp_path)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    children = runs.children(tracking_uri, result.parent_run_id, final.experiment_id)
    assert len(children) == 4 and all(c.status == "FINISHED" for c in children)
