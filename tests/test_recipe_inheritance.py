"""`extends:` rules that help a child try variants: a new component type starts afresh, null deletes
an inherited key, choosing one alternative turns the inherited one off; locations stay right."""

from __future__ import annotations

import textwrap

import pytest

from pipeline.recipe import RecipeError, load_recipe, resolve_recipe

PARENT = """\
seed: 1
data:
  source: {type: csv, file: data.csv, label_column: species, delimiter: ";"}
  split: {val: 0.2, stratify: true}
  imbalance: {class_weight: balanced}
model:
  layers:
    - {type: flatten}
    - {type: dense, units: 3}
train:
  epochs: 2
  optimizer: {type: adam, learning_rate: 0.003, beta_1: 0.8}
  schedule: {type: cosine, warmup_epochs: 2}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
diagnostics: {explosion_factor: 5.0}
"""


@pytest.fixture(autouse=True)
def data_files(tmp_path, monkeypatch):
    """The data files the recipes name exist (validate checks that data paths exist; paths are read
    relative to the working directory)."""
    monkeypatch.chdir(tmp_path)
    for name in ("data.csv", "data.npz"):
        (tmp_path / name).write_bytes(b"")


@pytest.fixture
def child(write_recipe):
    write_recipe("parent.yaml", PARENT)
    return lambda text: write_recipe("child.yaml", "extends: parent.yaml\n" + textwrap.dedent(text))


def problems(file, overrides=()) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe(file, overrides)
    return [str(p) for p in info.value.problems]


def test_a_new_component_type_replaces_the_parents_component(child):
    file = child("""\
        data:
          source: {type: npz, path: data.npz}
        train:
          optimizer: {type: sgd, momentum: 0.9}
        """)
    data, _ = resolve_recipe(file)
    assert data["data"]["source"] == {"type": "npz", "path": "data.npz"}  # no file, label_column, delimiter
    assert data["train"]["optimizer"] == {"type": "sgd", "momentum": 0.9}
    # the same type merges as before: only the arguments the child writes change
    same = child("train:\n  optimizer: {type: Adam, learning_rate: 0.01}\n")
    assert resolve_recipe(same)[0]["train"]["optimizer"] == {"type": "Adam", "learning_rate": 0.01, "beta_1": 0.8}


def test_problems_in_a_replaced_component_point_into_the_child(child):
    text = "data:\n  source: {type: npz, path: data.npz, label_column: species}\n"
    file = child(text)
    column = text.index("label_column") - len("data:\n") + 1  # on the file's third line
    assert problems(file) == [f"{file}:3:{column} data.source.label_column: unknown argument 'label_column' "
                              f"for dataset 'npz'. Accepted: path, x_key, y_key, x_test_key, y_test_key, mmap"]
    missing = child("data:\n  source: {type: npy}\n")
    found = problems(missing)
    assert found[0].startswith(f"{missing}:3:3 data.source: missing required argument 'x_path'")


def test_null_deletes_an_inherited_key(child):
    file = child("""\
        data:
          source: {delimiter: null}
          imbalance: {class_weight: null}
        train:
          schedule: null
        diagnostics: {explosion_factor: null}
        """)
    data, marks = resolve_recipe(file)
    assert data["data"]["source"] == {"type": "csv", "file": "data.csv", "label_column": "species"}
    assert data["data"]["imbalance"] == {} and "schedule" not in data["train"]
    assert data["diagnostics"] == {}  # the default comes back: 3.0 (write false to turn the guard off)
    assert ("data", "source", "delimiter") in marks  # the null's own line, for a problem about the key


def test_a_deleted_required_key_is_reported_at_the_null(child):
    file = child("train:\n  loss: null\n")
    assert problems(file) == [f"{file}:3:3 train.loss: missing required key"]


def test_null_under_a_key_the_parents_do_not_have_stays_as_written(child):
    file = child("diagnostics: {verdict: null}\ntrain:\n  tta: null\n")
    data, _ = resolve_recipe(file)
    assert data["diagnostics"] == {"explosion_factor": 5.0, "verdict": None}
    assert data["train"]["tta"] is None
    assert problems(file)[0].startswith(f"{file}:2:15 diagnostics.verdict: input should be a valid boolean")


def test_false_turns_the_explosion_guard_off_in_a_child(child):
    assert load_recipe(child("diagnostics: {explosion_factor: false}\n")).plan.recipe.diagnostics.explosion_factor \
        is False


def test_set_null_sets_the_value_to_null(child):
    """An override writes exactly the value given: `--set key=null` is null, not a deletion."""
    file = child("")
    data, _ = resolve_recipe(file, ["diagnostics.explosion_factor=null", "train.schedule=null"])
    assert data["diagnostics"] == {"explosion_factor": None} and data["train"]["schedule"] is None
    assert load_recipe(file, ["diagnostics.explosion_factor=null"]).plan.recipe.diagnostics.explosion_factor is None


@pytest.mark.parametrize("choice, gone", [("oversample: true", "class_weight"),
                                          ("class_weight: {0: 2.0}", "oversample")])
def test_choosing_one_imbalance_remedy_turns_the_inherited_one_off(write_recipe, choice, gone):
    parent = PARENT if gone == "class_weight" else PARENT.replace("{class_weight: balanced}", "{oversample: true}")
    write_recipe("parent.yaml", parent)
    file = write_recipe("child.yaml", f"extends: parent.yaml\ndata:\n  imbalance: {{{choice}}}\n")
    data, marks = resolve_recipe(file)
    assert gone not in data["data"]["imbalance"] and ("data", "imbalance", gone) not in marks
    # choosing "no oversampling" is no choice: the parent's class weights stay
    keep = write_recipe("keep.yaml", "extends: parent.yaml\ndata:\n  imbalance: {oversample: false}\n")
    if gone == "class_weight":
        assert resolve_recipe(keep)[0]["data"]["imbalance"] == {"class_weight": "balanced", "oversample": False}
    # both in one file is still refused, where the child wrote them
    both = write_recipe("both.yaml", "extends: parent.yaml\ndata:\n  imbalance: {oversample: true, class_weight: "
                                     "balanced}\n")
    (found,) = problems(both)
    assert found.startswith(f"{both}:3:3 data.imbalance: class_weight and oversample both correct for imbalance")


def test_choosing_another_init_from_source_drops_the_inherited_one(write_recipe):
    write_recipe("parent.yaml", PARENT.replace("model:\n", "model:\n  init_from: {run: abc123, layers: stem}\n"))
    file = write_recipe("child.yaml", "extends: parent.yaml\nmodel:\n  init_from: {path: pretrained.keras}\n")
    assert resolve_recipe(file)[0]["model"]["init_from"] == {"path": "pretrained.keras", "layers": "stem"}

