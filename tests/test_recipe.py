"""Recipe loading and validation: safe YAML with marks, `extends:`, `--set`, problems, hashing."""

from __future__ import annotations

import re
import textwrap

import pytest

from pipeline import registries
from pipeline.components import parameters
from pipeline.recipe import (
    Location,
    RecipeError,
    format_path,
    load_recipe,
    resolve_recipe,
)
from pipeline.recipe.loader import parse_yaml
from pipeline.recipe.schema import Recipe, Train
from tests.conftest import MINIMAL_RECIPE

SUFFIX = "(plugins add more: pipeline plugins)"

BASE = MINIMAL_RECIPE


def recipe_error(file, overrides=()) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        load_recipe(file, overrides)
    return info.value


def lines(file, overrides=()) -> list[str]:
    """Each problem as the CLI prints it: `file:line:col key.path: message`."""
    error = recipe_error(file, overrides)
    assert str(error).splitlines() == [str(p) for p in error.problems]
    return [str(p) for p in error.problems]


def only_problem(file, overrides=()):
    error = recipe_error(file, overrides)
    assert len(error.problems) == 1, str(error)
    return error.problems[0]


def where(file, text: str, needle: str, line: int | None = None) -> str:
    """`file:line:col` (1-based) of the first `needle` in `text` (on `line` if given): counted, not hand-typed."""
    for number, content in enumerate(text.splitlines(), start=1):
        if needle in content and line in (None, number):
            return f"{file}:{number}:{content.index(needle) + 1}"
    raise AssertionError(f"{needle!r} not in the recipe text")


def accepted(kind: str, name: str) -> str:
    return ", ".join(parameters(registries.ALL[kind].get(name)))


def test_base_recipe_is_valid(write_recipe):
    loaded = load_recipe(write_recipe("ok.yaml", BASE))
    assert loaded.resolved["train"] == {"epochs": 2, "loss": "sparse_categorical_crossentropy"}
    assert loaded.plan.recipe.train.epochs == 2
    assert [lp.layer.name for lp in loaded.plan.layers] == ["flatten", "dense"]
    assert re.fullmatch(r"[0-9a-f]{16}", loaded.hash)


# -- YAML loader -------------------------------------------------------------------------------------
def test_duplicate_top_level_key_rejected_naming_both_lines(write_recipe):
    file = write_recipe("dup.yaml", "seed: 1\nname: x\nseed: 2\n")
    problem = only_problem(file)
    assert str(problem) == f"{file}:3:1 seed: duplicate key 'seed' (first written at line 1, column 1)"


def test_duplicate_nested_key_rejected_naming_both_lines(write_recipe):
    file = write_recipe("dup.yaml", BASE.replace("  epochs: 2\n", "  epochs: 2\n  batch_size: 8\n  epochs: 3\n"))
    problem = only_problem(file)
    assert problem.location == Location(str(file), 12, 3)  # the second one
    assert format_path(problem.path) == "train.epochs"
    assert problem.message == "duplicate key 'epochs' (first written at line 10, column 3)"


def test_duplicate_key_in_a_flow_mapping_rejected(write_recipe):
    text = BASE.replace("{type: dense, units: 10}", "{type: dense, units: 10, units: 20}")
    file = write_recipe("dup.yaml", text)
    problem = only_problem(file)
    assert str(problem.location) == where(file, text, "units: 20")
    assert format_path(problem.path) == "model.layers[1].units"
    assert problem.message == "duplicate key 'units' (first written at line 8, column 21)"


def test_duplicate_key_in_a_parent_recipe_points_at_the_parent(write_recipe):
    base = write_recipe("base.yaml", BASE.replace("seed: 1\n", "seed: 1\nseed: 1\n"))
    child = write_recipe("child.yaml", "extends: base.yaml\n")
    assert lines(child) == [f"{base}:2:1 seed: duplicate key 'seed' (first written at line 1, column 1)"]


@pytest.mark.parametrize("key", ["? [a, b]\n: 1\n", "{a: 1}: 2\n"])
def test_unhashable_key_is_a_recipe_error(write_recipe, key):
    file = write_recipe("odd.yaml", BASE + key)
    problem = only_problem(file)
    assert problem.location is not None and problem.location.line == 12


def test_yaml_syntax_error_gives_file_line_col(write_recipe):
    text = BASE.replace("  source: {type: mnist1d}\n", "  source: {type: mnist1d\n")
    file = write_recipe("broken.yaml", text)
    problem = only_problem(file)
    assert problem.message.startswith("YAML error: ")
    assert "flow mapping" in problem.message
    assert problem.location is not None and problem.location.source == str(file)
    assert (problem.location.line, problem.location.column) == (4, 8)  # where the parser gave up
    assert str(problem).startswith(f"{file}:4:8 ")


def test_yaml_bad_indentation_gives_file_line_col(write_recipe):
    file = write_recipe("broken.yaml", "seed: 1\ndata:\n  source: mnist1d\n    split: 3\n")
    problem = only_problem(file)
    assert problem.message.startswith("YAML error: mapping values are not allowed here")
    assert str(problem.location) == f"{file}:4:10"


@pytest.mark.parametrize("written, expected", [
    ("1e-4", 1e-4), ("1E-4", 1e-4), ("1e4", 1e4), ("+2e3", 2e3), ("-2.5e-3", -2.5e-3), ("3.0e-3", 3e-3),
    ("1.5", 1.5), ("10", 10), ("0.1", 0.1),
])
def test_scientific_notation_loads_as_float(written, expected):
    data, _ = parse_yaml(f"lr: {written}\n", "x.yaml")
    assert data["lr"] == expected
    assert type(data["lr"]) is type(expected)


@pytest.mark.parametrize("written", ["e5", "1e", "1.2.3", "'1e-4'", "1e-4x"])
def test_things_that_are_not_numbers_stay_strings(written):
    data, _ = parse_yaml(f"v: {written}\n", "x.yaml")
    assert isinstance(data["v"], str)


def test_learning_rate_1e_minus_4_is_a_float_in_the_plan(write_recipe):
    file = write_recipe("lr.yaml", BASE + "  optimizer: {type: adam, learning_rate: 1e-4}\n")
    loaded = load_recipe(file)
    lr = loaded.plan.optimizer.kwargs["learning_rate"]
    assert lr == 1e-4 and isinstance(lr, float)


@pytest.mark.parametrize("tagged", [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:os.system ['touch {marker}']",
    "!!python/object:os.system {{}}",
    "!!python/name:os.system",
])
def test_safe_loader_refuses_python_tags(write_recipe, tmp_path, tagged):
    marker = tmp_path / "pwned"
    file = write_recipe("evil.yaml", f"name: {tagged.format(marker=marker)}\n" + BASE)
    problem = only_problem(file)
    tag = tagged.split(" ")[0]
    assert problem.message == f"expected a string, number, boolean, null, list or mapping. Received: YAML tag {tag}"
    assert problem.location == Location(str(file), 1, 7)
    assert not marker.exists()


def test_empty_recipe_reports_missing_sections(write_recipe):
    file = write_recipe("empty.yaml", "# nothing yet\n")
    got = lines(file)
    for key in ("data", "model", "train"):
        assert f"{file}:1:1 {key}: missing required key" in got


@pytest.mark.parametrize("text, expected", [
    ("# nothing yet\n", ["1:1 data: missing required key", "1:1 model: missing required key",
                          "1:1 train: missing required key"]),
    (BASE.replace("    - {type: flatten}\n    - {type: dense, units: 10}\n", "").replace("layers:", "layers: []"),
     ["6:3 model.layers: list should have at least 1 item after validation, not 0. Received: []"]),
], ids=["empty", "no-layers"])
def test_no_layers_reports_no_spurious_output_problem(write_recipe, text, expected):
    file = write_recipe("r.yaml", text)
    assert lines(file) == [f"{file}:{line}" for line in expected]


def test_top_level_must_be_a_mapping(write_recipe):
    file = write_recipe("list.yaml", "- seed\n- data\n")
    assert lines(file) == [f"{file}:1:1 expected a mapping at the top of the recipe. Received: list"]


def test_missing_recipe_file(tmp_path):
    file = tmp_path / "nope.yaml"
    assert lines(file) == [f"{file} cannot read recipe: No such file or directory"]


def test_marks_are_one_based_and_cover_keys_and_items():
    text = "a:\n  b: [x, {c: 1}]\n  d:\n    - 5\n"
    data, marks = parse_yaml(text, "m.yaml")
    assert data == {"a": {"b": ["x", {"c": 1}], "d": [5]}}
    assert marks[("a",)] == Location("m.yaml", 1, 1)
    assert marks[("a", "b")] == Location("m.yaml", 2, 3)
    assert marks[("a", "b", 0)] == Location("m.yaml", 2, 7)
    assert marks[("a", "b", 1)] == Location("m.yaml", 2, 10)
    assert marks[("a", "b", 1, "c")] == Location("m.yaml", 2, 11)
    assert marks[("a", "d", 0)] == Location("m.yaml", 4, 7)


@pytest.mark.parametrize("path, text", [
    ((), ""), (("train",), "train"), (("model", "layers", 2, "rate"), "model.layers[2].rate"),
    (("extends", 0), "extends[0]"), (("a", 0, 1, "b"), "a[0][1].b"),
])
def test_format_path(path, text):
    assert format_path(path) == text


# -- locations of validation problems --------------------------------------------------------------------
BLOCK = """\
seed: 1
data:
  source: {type: mnist1d}
model:
  layers:
  - type: conv1d
    filters: 8
    kernel_size: 3
  - type: flatten
  - type: dense
    units: 10
    activation: relu
    kernel_regularizer:
      type: REGULARIZER
      factor: 0.01
train:
  epochs: 2
  loss: sparse_categorical_crossentropy
"""


@pytest.mark.parametrize("typo", ["l3", "l2x", "L2X"])
def test_typo_points_at_line_column_and_key_path(write_recipe, typo):
    """The design's example: `recipe.yaml:14:7 model.layers[2].kernel_regularizer.type: unknown regularizer
    'l3'; did you mean 'l2'? ...`."""
    file = write_recipe("recipe.yaml", BLOCK.replace("REGULARIZER", typo))
    (line,) = lines(file)
    assert line.startswith(f"{file}:14:7 model.layers[2].kernel_regularizer.type: "
                           f"unknown regularizer '{typo}'; did you mean 'l2'")
    assert line.endswith(f"Known: {', '.join(registries.regularizers.names())} {SUFFIX}")


def test_problem_inside_a_flow_mapping_points_at_its_key(write_recipe):
    file = write_recipe("r.yaml", BASE.replace("{type: dense, units: 10}", "{type: dense, units: abc}"))
    problem = only_problem(file)
    assert problem.location == Location(str(file), 8, 21)
    assert problem.path == ("model", "layers", 1, "units")


def test_problem_without_its_own_key_points_at_the_enclosing_item(write_recipe):
    file = write_recipe("r.yaml", BASE.replace("{type: dense, units: 10}", "{type: dense}"))
    assert lines(file) == [f"{file}:8:7 model.layers[1]: missing required argument 'units' for layer 'dense'"]


def test_plain_value_problem_on_first_line(write_recipe):
    file = write_recipe("r.yaml", BASE.replace("seed: 1", "seed: abc"))
    (line,) = lines(file)
    assert line.startswith(f"{file}:1:1 seed: input should be a valid integer")
    assert line.endswith("Received: 'abc'")


# -- extends ---------------------------------------------------------------------------------------------------
def test_extends_deep_merges_mappings_and_later_wins(write_recipe):
    write_recipe("base.yaml", BASE + "  batch_size: 64\n  optimizer: {type: adam, learning_rate: 0.01}\n")
    child = write_recipe("child.yaml", textwrap.dedent("""\
        extends: base.yaml
        name: child
        data:
          split: {val: 0.3}
        train:
          epochs: 7
          optimizer: {learning_rate: 0.002}
        """))
    loaded = load_recipe(child)
    r = loaded.resolved
    assert "extends" not in r
    assert r["name"] == "child"
    assert r["data"] == {"source": {"type": "mnist1d"}, "split": {"val": 0.3}}
    assert r["train"] == {"epochs": 7, "loss": "sparse_categorical_crossentropy", "batch_size": 64,
                          "optimizer": {"type": "adam", "learning_rate": 0.002}}


def test_extends_replaces_lists_whole(write_recipe):
    write_recipe("base.yaml", BASE + "  metrics: [accuracy, mae]\n")
    child = write_recipe("child.yaml", textwrap.dedent("""\
        extends: base.yaml
        model:
          layers:
            - {type: dense, units: 3}
        train:
          metrics: [accuracy]
        """))
    r = load_recipe(child).resolved
    assert r["model"]["layers"] == [{"type": "dense", "units": 3}]
    assert r["train"]["metrics"] == ["accuracy"]


def test_extends_child_can_replace_a_mapping_by_a_scalar_and_back(write_recipe):
    write_recipe("base.yaml", BASE + "  optimizer: {type: sgd, momentum: 0.9}\n")
    child = write_recipe("child.yaml", "extends: base.yaml\ntrain:\n  optimizer: adam\n")
    assert load_recipe(child).resolved["train"]["optimizer"] == "adam"


def test_extends_multiple_parents_in_order(write_recipe):
    write_recipe("base.yaml", BASE)
    write_recipe("a.yaml", "name: from_a\ntrain: {epochs: 10, batch_size: 16}\n")
    write_recipe("b.yaml", "name: from_b\ntrain: {epochs: 20}\ntrack: {experiment: b}\n")
    child = write_recipe("child.yaml", "extends: [base.yaml, a.yaml, b.yaml]\ntrack: {run_name: c}\n")
    r = load_recipe(child).resolved
    assert r["name"] == "from_b"  # later parent wins
    assert r["train"]["epochs"] == 20 and r["train"]["batch_size"] == 16
    assert r["track"] == {"experiment": "b", "run_name": "c"}  # the child merges over both


def test_extends_paths_are_relative_to_the_extending_file(write_recipe, tmp_path, monkeypatch):
    for folder in ("common", "exp", "elsewhere"):
        (tmp_path / folder).mkdir()
    write_recipe("common/data.yaml", "data:\n  source: {type: mnist1d}\n")
    without_data = BASE.replace("data:\n  source: {type: mnist1d}\n  split: {val: 0.2}\n", "")
    write_recipe("common/base.yaml", "extends: data.yaml\n" + without_data)
    child = write_recipe("exp/child.yaml", "extends: ../common/base.yaml\ntrain: {epochs: 4}\n")
    monkeypatch.chdir(tmp_path / "elsewhere")  # the working directory plays no part
    r = load_recipe(child).resolved
    assert r["data"]["source"] == {"type": "mnist1d"}
    assert r["train"]["epochs"] == 4


@pytest.mark.parametrize("cycle", ["self", "pair"])
def test_extends_cycle_is_detected(write_recipe, cycle):
    if cycle == "self":
        a = write_recipe("a.yaml", "extends: a.yaml\nseed: 1\n")
        expected = f"inheritance cycle: {a.resolve()} -> {a.resolve()}"
    else:
        a = write_recipe("a.yaml", "extends: b.yaml\nseed: 1\n")
        b = write_recipe("b.yaml", "extends: [a.yaml]\nseed: 2\n")
        expected = f"inheritance cycle: {a.resolve()} -> {b.resolve()} -> {a.resolve()}"
    problem = only_problem(a)
    assert problem.path == ("extends",)
    assert problem.message == expected


def test_extends_missing_parent_file(write_recipe, tmp_path):
    write_recipe("base.yaml", BASE)
    child = write_recipe("child.yaml", "name: c\nextends: [base.yaml, nothere.yaml]\n")
    assert lines(child) == [f"{child}:2:22 extends: extended recipe not found: {tmp_path / 'nothere.yaml'}"]


def test_extends_must_name_files(write_recipe):
    child = write_recipe("child.yaml", "extends: 3\n")
    assert lines(child) == [f"{child}:1:1 extends: expected a file name or a list of file names. "
                            f"Received: extends=3"]


def test_problems_point_into_the_file_that_wrote_the_value(write_recipe):
    base = write_recipe("base.yaml", BASE.replace("{type: mnist1d}", "{type: mnist1dd}"))
    child = write_recipe("child.yaml", "extends: base.yaml\ntrain:\n  optimizer: {type: adamm}\n")
    assert [line.split(" ")[0] for line in lines(child)] == [f"{base}:3:12", f"{child}:3:15"]


def test_replaced_list_problems_point_at_the_child(write_recipe):
    write_recipe("base.yaml", BASE)
    child = write_recipe("child.yaml", "extends: base.yaml\nmodel:\n  layers:\n    - {type: dense, units: abc}\n")
    problem = only_problem(child)
    assert problem.location == Location(str(child), 4, 21)


def test_top_level_problem_in_extending_recipe_has_a_location(write_recipe):
    write_recipe("base.yaml", "model:\n  layers:\n    - {type: dense, units: 10}\n")
    child = write_recipe("child.yaml", "extends: base.yaml\nname: x\n")  # no data:, no train:
    error = recipe_error(child)
    assert all(p.location is not None for p in error.problems), str(error)


# -- --set overrides --------------------------------------------------------------------------------------------
def test_set_overrides_values(write_recipe):
    file = write_recipe("r.yaml", BASE)
    loaded = load_recipe(file, ["train.epochs=5", "model.layers[1].units=32", "data.split.val=1e-1"])
    assert loaded.resolved["train"]["epochs"] == 5
    assert loaded.resolved["model"]["layers"][1] == {"type": "dense", "units": 32}
    assert loaded.resolved["data"]["split"]["val"] == 0.1


def test_set_model_layer_rate(write_recipe):
    text = BASE.replace("    - {type: dense, units: 10}\n",
                        "    - {type: dense, units: 64}\n    - {type: dropout, rate: 0.1}\n"
                        "    - {type: dense, units: 10}\n")
    file = write_recipe("r.yaml", text)
    loaded = load_recipe(file, ["model.layers[2].rate=0.3"])
    assert loaded.plan.layers[2].layer.kwargs["rate"] == 0.3


@pytest.mark.parametrize("assignment, key, expected", [
    ("train.optimizer={type: sgd, momentum: 0.9}", ("train", "optimizer"), {"type": "sgd", "momentum": 0.9}),
    ("train.metrics=[accuracy, f1]", ("train", "metrics"), ["accuracy", "f1"]),
    ("name=null", ("name",), None),
    ("name=", ("name",), None),
    ("name=run 7", ("name",), "run 7"),
    ("track.log_model=false", ("track", "log_model"), False),
    ("track.tags.owner=me", ("track", "tags", "owner"), "me"),  # missing mappings are created
    ("model.layers[-1].units=3", ("model", "layers", 1, "units"), 3),
    ("train.epochs = 9", ("train", "epochs"), 9),
])
def test_set_values_are_yaml_typed(write_recipe, assignment, key, expected):
    resolved = load_recipe(write_recipe("r.yaml", BASE), [assignment]).resolved
    node = resolved
    for part in key:
        node = node[part]
    assert node == expected and type(node) is type(expected)


def test_set_later_override_wins_and_beats_extends(write_recipe):
    write_recipe("base.yaml", BASE)
    child = write_recipe("child.yaml", "extends: base.yaml\ntrain: {epochs: 3}\n")
    resolved = load_recipe(child, ["train.epochs=4", "train.epochs=6"]).resolved
    assert resolved["train"]["epochs"] == 6


@pytest.mark.parametrize("assignment", ["train.epochs", "=5", "train..epochs=3", "model.layers[x]=1",
                                        "model.layers[1.units=3", "train.epochs[=3"])
def test_set_bad_syntax(write_recipe, assignment):
    file = write_recipe("r.yaml", BASE)
    assert lines(file, [assignment]) == [
        f"--set {assignment} expected an override like 'train.epochs=5' or "
        f"'model.layers[2].rate=0.3'. Received: {assignment!r}"]


@pytest.mark.parametrize("assignment, where", [
    ("model.layers[9].units=3", "model.layers[9]"),
    ("model.layers[-3].units=3", "model.layers[-3]"),
    ("model.layers[2]=3", "model.layers[2]"),
    ("seed.value=3", "seed.value"),
    ("model.layers.first=3", "model.layers.first"),
])
def test_set_out_of_range_or_no_such_item(write_recipe, assignment, where):
    file = write_recipe("r.yaml", BASE)
    key = assignment.partition("=")[0]
    assert lines(file, [assignment]) == [f"--set {assignment} {where}: cannot set '{key}': no such item"]


def test_set_problems_name_the_override(write_recipe):
    file = write_recipe("r.yaml", BASE)
    (line,) = lines(file, ["train.epochs=abc"])
    assert line.startswith("--set train.epochs=abc train.epochs: input should be a valid integer")
    (line,) = lines(file, ["model.layers[1].units=abc"])
    assert line == "--set model.layers[1].units=abc model.layers[1].units: expected int (> 0). Received: 'abc'"
    (line,) = lines(file, ["train.optimizer=adamm"])
    assert line.startswith("--set train.optimizer=adamm train.optimizer: unknown optimizer 'adamm'; "
                           "did you mean 'adam'")
    (line,) = lines(file, ["train.epoch=3"])
    assert line.startswith("--set train.epoch=3 train.epoch: unknown key 'epoch'; did you mean 'epochs'?")


def test_set_subtree_problems_point_at_the_override(write_recipe):
    file = write_recipe("r.yaml", BASE)
    assignment = "model.layers=[{type: flatten}, {type: dense, units: abc}]"
    problem = only_problem(file, [assignment])
    assert problem.path == ("model", "layers", 1, "units")
    assert str(problem.location) == f"--set {assignment}"


def test_set_yaml_error_in_value_names_the_override(write_recipe):
    file = write_recipe("r.yaml", BASE)
    problem = only_problem(file, ["train.metrics=[accuracy"])
    assert problem.message.startswith("YAML error: ")
    assert str(problem.location).startswith("--set train.metrics=[accuracy")


def test_resolve_recipe_fills_in_the_backend(write_recipe, monkeypatch):
    file = write_recipe("r.yaml", BASE)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert resolve_recipe(file)[0]["backend"] == "tensorflow"
    assert resolve_recipe(file, ["backend=jax"])[0]["backend"] == "jax"


# -- validation problems ------------------------------------------------------------------------------------------
def test_unknown_component_with_close_match(write_recipe):
    file = write_recipe("r.yaml", BASE.replace("{type: dense, units: 10}", "{type: dens, units: 10}"))
    assert lines(file) == [f"{file}:8:8 model.layers[1].type: unknown layer 'dens'; did you mean 'dense'? "
                           f"Known: {', '.join(registries.layers.names())} {SUFFIX}"]


@pytest.mark.parametrize("section, written, kind, singular, suggestion", [
    ("train.loss", "sparse_categorical_crossentropyy", "losses", "loss", "sparse_categorical_crossentropy"),
    ("train.optimizer", "{type: adamm}", "optimizers", "optimizer", "adam"),
    ("train.optimizer", "{type: qqq}", "optimizers", "optimizer", None),
    ("data.source", "{type: mnist_1d}", "datasets", "dataset", "mnist1d"),
])
def test_unknown_component_in_each_section(write_recipe, section, written, kind, singular, suggestion):
    key = section.split(".")[1]
    text = BASE.replace("  loss: sparse_categorical_crossentropy\n", "")
    text = text.replace("  source: {type: mnist1d}\n", "")
    text = text.replace("data:\n", f"data:\n  source: {written if key == 'source' else '{type: mnist1d}'}\n")
    text += f"  loss: {written if key == 'loss' else 'sparse_categorical_crossentropy'}\n"
    if key == "optimizer":
        text += f"  optimizer: {written}\n"
    problem = only_problem(write_recipe("r.yaml", text))
    assert format_path(problem.path) == section + (".type" if written.startswith("{") else "")
    name = written.strip("{}").removeprefix("type: ")
    hint = f"; did you mean '{suggestion}'" if suggestion else ". Known: "
    assert problem.message.startswith(f"unknown {singular} '{name}'{hint}")
    assert problem.message.endswith(f"Known: {', '.join(registries.ALL[kind].names())} {SUFFIX}")


def test_unknown_argument_with_close_match_and_accepted_list(write_recipe):
    text = BASE.replace("{type: dense, units: 10}", "{type: dense, units: 10, use_bais: false}")
    file = write_recipe("r.yaml", text)
    assert lines(file) == [f"{where(file, text, 'use_bais')} model.layers[1].use_bais: "
                           f"unknown argument 'use_bais' for layer 'dense'; "
                           f"did you mean 'use_bias'? Accepted: {accepted('layers', 'dense')}"]


def test_unknown_argument_without_close_match(write_recipe):
    text = BASE.replace("{type: flatten}", "{type: flatten, size: 3}")
    file = write_recipe("r.yaml", text)
    assert lines(file) == [f"{where(file, text, 'size')} model.layers[0].size: "
                           f"unknown argument 'size' for layer 'flatten'. "
                           f"Accepted: {accepted('layers', 'flatten')}"]


def test_wrong_type(write_recipe):
    file = write_recipe("r.yaml", BASE.replace("{type: dense, units: 10}", "{type: dense, units: abc}"))
    assert lines(file) == [f"{file}:8:21 model.layers[1].units: expected int (> 0). Received: 'abc'"]


@pytest.mark.parametrize("value", ["10.5", "[10]", "{a: 1}", "null"])
def test_wrong_type_variants(write_recipe, value):
    file = write_recipe("r.yaml", BASE.replace("{type: dense, units: 10}", f"{{type: dense, units: {value}}}"))
    problem = only_problem(file)
    assert problem.path == ("model", "layers", 1, "units")
    assert problem.message.startswith("expected int (")


def test_boolean_is_not_an_integer(write_recipe):
    file = write_recipe("r.yaml", BASE.replace("{type: dense, units: 10}", "{type: dense, units: true}"))
    problem = only_problem(file)
    assert problem.path == ("model", "layers", 1, "units")


def test_wrong_type_in_a_nested_component(write_recipe):
    file = write_recipe("r.yaml", BASE.replace("{type: dense, units: 10}",
                                               "{type: dense, units: 10, kernel_regularizer: {type: l2, factor: big}}"))
    problem = only_problem(file)
    assert format_path(problem.path) == "model.layers[1].kernel_regularizer.factor"
    assert problem.message == "expected float (>= 0). Received: 'big'"


def test_missing_required_argument(write_recipe):
    file = write_recipe("r.yaml", BASE.replace("{type: dense, units: 10}", "{type: dense}"))
    assert lines(file) == [f"{file}:8:7 model.layers[1]: missing required argument 'units' for layer 'dense'"]


def test_unknown_top_level_key_with_close_match(write_recipe):
    file = write_recipe("r.yaml", BASE + "trak: {experiment: x}\n")
    fields = ", ".join(Recipe.model_fields)
    assert lines(file) == [f"{file}:12:1 trak: unknown key 'trak'; did you mean 'track' or 'task'? "
                           f"Expected one of: {fields}"]


def test_unknown_section_key_with_close_match(write_recipe):
    file = write_recipe("r.yaml", BASE.replace("  epochs: 2\n", "  epoch: 2\n"))
    fields = ", ".join(Train.model_fields)
    assert lines(file) == [
        f"{file}:9:1 train.epochs: missing required key",
        f"{file}:10:3 train.epoch: unknown key 'epoch'; did you mean 'epochs'? Expected one of: {fields}",
    ]


def test_unknown_key_without_close_match(write_recipe):
    text = BASE.replace("  split: {val: 0.2}\n", "  split: {val: 0.2, zzz: 1}\n")
    file = write_recipe("r.yaml", text)
    (line,) = lines(file)
    from pipeline.recipe.schema import Split

    assert line == (f"{where(file, text, 'zzz')} data.split.zzz: unknown key 'zzz'. "
                    f"Expected one of: {', '.join(Split.model_fields)}")
    assert ", ".join(Split.model_fields).startswith("val, test, stratify, seed")


GRAPH = """\
seed: 1
data:
  source: {type: mnist1d}
model:
  layers:
    - {name: stem, type: conv1d, filters: 8, kernel_size: 3, padding: same}
    - {name: branch, type: conv1d, filters: 8, kernel_size: 3, padding: same}
    - {name: join, type: add, inputs: [stem, {ref}]}
    - {type: flatten}
    - {type: dense, units: 10}
train:
  epochs: 2
  loss: sparse_categorical_crossentropy
"""


def test_graph_model_with_valid_inputs(write_recipe):
    loaded = load_recipe(write_recipe("g.yaml", GRAPH.replace("{ref}", "branch")))
    assert [(lp.name, lp.inputs) for lp in loaded.plan.layers] == [
        ("stem", ["input"]), ("branch", ["stem"]), ("join", ["stem", "branch"]),
        ("layer_3", ["join"]), ("layer_4", ["layer_3"])]
    assert loaded.plan.outputs == ["layer_4"]


def test_graph_input_naming_an_unknown_layer(write_recipe):
    text = GRAPH.replace("{ref}", "brnach")
    file = write_recipe("g.yaml", text)
    assert lines(file) == [
        f"{where(file, text, 'brnach')} model.layers[2].inputs[1]: "
        f"unknown input 'brnach' (a layer can read only 'input' or "
        f"earlier named layers); did you mean 'branch'? Known: input, stem, branch"]


def test_graph_input_naming_a_later_layer(write_recipe):
    text = GRAPH.replace("{ref}", "layer_3")
    file = write_recipe("g.yaml", text)
    (line,) = lines(file)
    assert line.startswith(f"{where(file, text, 'layer_3')} model.layers[2].inputs[1]: unknown input 'layer_3'")
    assert line.endswith("Known: input, stem, branch")


def test_graph_inputs_must_be_names(write_recipe):
    text = GRAPH.replace("[stem, {ref}]", "3")
    file = write_recipe("g.yaml", text)
    assert lines(file) == [f"{where(file, text, 'inputs')} model.layers[2].inputs: "
                           f"expected a list of layer names. Received: 3"]


def test_duplicate_layer_names(write_recipe):
    file = write_recipe("g.yaml", GRAPH.replace("{ref}", "branch").replace("name: branch", "name: stem"))
    assert lines(file)[0] == f"{file}:7:8 model.layers[1].name: duplicate layer name 'stem'"


def test_unknown_output(write_recipe):
    text = GRAPH.replace("{ref}", "branch").replace("model:\n", "model:\n  outputs: [jion]\n")
    file = write_recipe("g.yaml", text)
    assert lines(file) == [f"{where(file, text, 'jion')} model.outputs[0]: unknown layer 'jion'. "
                           f"Known: stem, branch, join, layer_3, layer_4"]


def test_unused_model_default(write_recipe):
    text = BASE.replace("model:\n", "model:\n  defaults: {kernel_initializer: he_normal, strides: 2}\n")
    file = write_recipe("r.yaml", text)
    assert lines(file) == [f"{where(file, text, 'strides')} model.defaults.strides: "
                           f"no layer in this model accepts 'strides', "
                           f"so the default would be ignored"]


def test_model_defaults_are_applied_and_checked_once(write_recipe):
    text = BASE.replace("model:\n", "model:\n  defaults: {kernel_initializer: he_normal}\n").replace(
        "    - {type: flatten}\n", "    - {type: flatten}\n    - {type: dense, units: 32}\n")
    loaded = load_recipe(write_recipe("r.yaml", text))
    assert [lp.layer.kwargs["kernel_initializer"].name for lp in loaded.plan.layers[1:]] == ["he_normal"] * 2
    file = write_recipe("bad.yaml", text.replace("kernel_initializer: he_normal", "kernel_initializer: he_normall"))
    (line,) = lines(file)  # two layers use the default, the problem is reported once, where it was written
    assert line.startswith(f"{file}:6:14 model.defaults.kernel_initializer: unknown initializer 'he_normall'; "
                           f"did you mean 'he_normal'")


@pytest.mark.parametrize("split, message", [
    ("{val: 0.5, test: 0.5}", "val + test must be < 1 to leave training data. Received: val=0.5, test=0.5"),
    ("{val: 0.7, test: 0.4}", "val + test must be < 1 to leave training data. Received: val=0.7, test=0.4"),
    ("{val: 0.9}", "val + test must be < 1 to leave training data. Received: val=0.9, test=0.2"),
])
def test_split_fractions_must_leave_training_data(write_recipe, split, message):
    file = write_recipe("r.yaml", BASE.replace("{val: 0.2}", split))
    (line,) = lines(file)
    assert line.startswith(f"{file}:4:3 data.split: {message}")


@pytest.mark.parametrize("split, key", [("{val: 1.5}", "val"), ("{val: 0}", "val"), ("{val: 0.1, test: -0.1}", "test")])
def test_split_fractions_are_between_zero_and_one(write_recipe, split, key):
    file = write_recipe("r.yaml", BASE.replace("{val: 0.2}", split))
    problem = only_problem(file)
    assert format_path(problem.path) == f"data.split.{key}"
    assert re.match(r"input should be (greater|less) than [01]\. Received: ", problem.message)


def test_several_problems_reported_together(write_recipe):
    text = BLOCK.replace("REGULARIZER", "l2x").replace("  - type: flatten\n", "  - type: flaten\n").replace(
        "    filters: 8\n", "    filters: eight\n    kernel_sise: 3\n").replace(
        "  loss: sparse_categorical_crossentropy\n", "  loss: sparse_categorical_crossentropy\n  optimizer: adamm\n")
    file = write_recipe("many.yaml", text)
    got = [line.split(": ")[0] for line in lines(file)]
    assert got == [
        f"{file}:7:5 model.layers[0].filters",
        f"{file}:8:5 model.layers[0].kernel_sise",
        f"{file}:10:5 model.layers[1].type",
        f"{file}:15:7 model.layers[2].kernel_regularizer.type",
        f"{file}:20:3 train.optimizer",
    ]


def test_several_schema_problems_reported_together(write_recipe):
    text = BASE.replace("  epochs: 2\n", "  epochs: 0\n  batch_size: -1\n").replace("seed: 1", "seed: x")
    paths = [format_path(p.path) for p in recipe_error(write_recipe("r.yaml", text)).problems]
    assert paths == ["seed", "train.epochs", "train.batch_size"]


def test_schema_and_component_problems_reported_together(write_recipe):
    text = BASE.replace("  epochs: 2\n", "  epoch: 2\n").replace("{type: flatten}", "{type: flaten}")
    paths = [format_path(p.path) for p in recipe_error(write_recipe("r.yaml", text)).problems]
    assert sorted(paths) == ["model.layers[0].type", "train.epoch", "train.epochs"]


def test_a_bad_value_seen_by_schema_and_component_check_is_reported_once(write_recipe):
    file = write_recipe("r.yaml", BASE + "  optimizer: 3\n")
    (line,) = lines(file)
    assert line.startswith(f"{file}:12:3 train.optimizer: expected ")


def test_every_missing_argument_of_a_layer_is_reported(write_recipe):
    file = write_recipe("r.yaml", BASE.replace("{type: flatten}", "{type: conv1d}"))
    assert lines(file) == [f"{file}:7:7 model.layers[0]: missing required argument '{arg}' for layer 'conv1d'"
                           for arg in ("filters", "kernel_size")]


# -- hashing -------------------------------------------------------------------------------------------------
def test_same_recipe_same_hash_regardless_of_order_and_formatting(write_recipe):
    reordered = textwrap.dedent("""\
        # the same recipe, written differently
        train:
            loss: sparse_categorical_crossentropy   # a comment
            epochs: 2
        model:
            layers:
            -   type: flatten
            -   units: 10
                type: dense
        data: {split: {val: 2.0e-1}, source: mnist1d}
        seed: 1
        """)
    a = load_recipe(write_recipe("a.yaml", BASE.replace("{type: mnist1d}", "mnist1d")))
    b = load_recipe(write_recipe("b.yaml", reordered))
    assert a.resolved == b.resolved
    assert a.hash == b.hash


def test_same_file_same_hash_twice(write_recipe):
    file = write_recipe("a.yaml", BASE)
    assert load_recipe(file).hash == load_recipe(file).hash


@pytest.mark.parametrize("change", [
    ("seed: 1", "seed: 2"), ("units: 10", "units: 11"), ("{val: 0.2}", "{val: 0.25}"),
    ("    - {type: flatten}\n    - {type: dense, units: 10}\n",
     "    - {type: dense, units: 10}\n    - {type: flatten}\n"),  # layer order matters
])
def test_changed_value_changes_the_hash(write_recipe, change):
    a = load_recipe(write_recipe("a.yaml", BASE))
    b = load_recipe(write_recipe("b.yaml", BASE.replace(*change)))
    assert a.hash != b.hash


def test_override_changes_the_hash_like_an_edit(write_recipe):
    a = load_recipe(write_recipe("a.yaml", BASE), ["train.epochs=5"])
    b = load_recipe(write_recipe("b.yaml", BASE.replace("epochs: 2", "epochs: 5")))
    assert a.hash == b.hash != load_recipe(write_recipe("c.yaml", BASE)).hash


def test_extends_recipe_equal_to_a_flat_one_has_the_same_hash(write_recipe):
    write_recipe("base.yaml", BASE.replace("epochs: 2", "epochs: 9"))
    child = write_recipe("child.yaml", "extends: base.yaml\ntrain: {epochs: 2}\n")
    flat = write_recipe("flat.yaml", BASE)
    assert load_recipe(child).resolved == load_recipe(flat).resolved
    assert load_recipe(child).hash == load_recipe(flat).hash


def test_hash_depends_on_the_backend(write_recipe):
    file = write_recipe("a.yaml", BASE)
    assert load_recipe(file, ["backend=jax"]).hash != load_recipe(file, ["backend=tensorflow"]).hash
