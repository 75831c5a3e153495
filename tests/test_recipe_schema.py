"""The schema by hand, once: component slots declared on the schema fields, typed `search:` settings,
and `pipeline schema` (the recipe JSON Schema, registries included, for editors)."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
from typing import Annotated

import pytest
import yaml
from pydantic import BaseModel

from pipeline import registries
from pipeline.cli import main
from pipeline.components import Checked
from pipeline.recipe import load_recipe
from pipeline.recipe.schema import Spec
from pipeline.recipe.slots import SLOTS, slots_of
from pipeline.recipe.validate import GRAPH, plan_recipe
from pipeline.registries import Ref
from pipeline.search.settings import SearchSettings, Stage
from pipeline.values import PositiveFloat, PositiveInt

from .conftest import MINIMAL_RECIPE, RECIPES, REPO

jsonschema = pytest.importorskip("jsonschema")

SHIPPED = sorted(RECIPES.glob("*.yaml"))


def _minimal() -> dict:
    data = yaml.safe_load(MINIMAL_RECIPE)
    data["backend"] = "jax"
    return data


def _put(tree: dict, path: tuple, value) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


# -- component slots, declared once ------------------------------------------------------------------------
@pytest.mark.parametrize("slot", SLOTS, ids=[s.name for s in SLOTS])
def test_every_declared_slot_is_checked_against_its_registry(slot):
    data = _minimal()
    bad = {"type": "zzz_nope"} if slot.path == GRAPH else "zzz_nope"  # layers are mappings (a graph)
    _put(data, slot.path, [bad] if slot.many else bad)
    plan, problems = plan_recipe(data)
    at = (*slot.path, 0) if slot.many else slot.path
    at = (*at, "type") if isinstance(bad, dict) else at
    singular = registries.ALL[slot.kind].singular
    assert plan is None
    found = [(p.path, p.message.split(".")[0].split(";")[0]) for p in problems]  # up to the close matches
    assert found == [(at, f"unknown {singular} 'zzz_nope'")]


def test_the_plan_holds_each_slot_by_its_field_name():
    plan = load_recipe(RECIPES / "mnist1d-cowmask.yaml").plan  # every kind of slot: one, optional, list
    assert set(plan.components) == {s.name for s in SLOTS if s.path != GRAPH}
    assert plan.optimizer.name == "adam" and plan.mix.name == "cowmask" and plan.schedule.name == "cosine"
    assert all(isinstance(m, Checked) for m in plan.metrics) and plan.layers
    with pytest.raises(AttributeError, match="no attribute 'optimiser'"):
        plan.optimiser
    again = pickle.loads(pickle.dumps(plan))  # plans travel to worker processes
    assert again.loss.name == plan.loss.name and again.components.keys() == plan.components.keys()


class _Inner(BaseModel):
    loss: Annotated[Spec, Ref("losses")] = "mse"
    rate: float = 0.1


class _Outer(BaseModel):
    inner: _Inner | None = None
    many: list[Annotated[Spec, Ref("metrics")]] = []
    stages: list[Stage] = []  # a list of sections holds no slot of the recipe's own shape
    plain: Spec = "x"  # a spec without a registry is not a slot


def test_slots_are_read_from_annotations_in_sections_lists_and_optionals():
    found = [(s.name, s.path, s.kind, s.many, s.default) for s in slots_of(_Outer)]
    assert found == [("loss", ("inner", "loss"), "losses", False, "mse"),
                     ("many", ("many",), "metrics", True, [])]


# -- typed search settings -------------------------------------------------------------------------------------
def test_search_settings_are_typed_on_the_plan():
    search = load_recipe(RECIPES / "mnist1d-search.yaml").plan.recipe.search
    assert isinstance(search, SearchSettings) and search.tuner == "random" and search.goal == "max"
    assert [(s.epochs, s.max_trials, s.top_k) for s in search.stages] == [(8, 8, 3), (60, 3, 3)]
    assert search.seed is None  # the recipe's seed is used


def test_a_null_search_seed_means_the_recipe_seed_and_none_is_refused_not_read_as_a_name(capsys):
    recipe = str(RECIPES / "mnist1d-search.yaml")
    loaded = load_recipe(recipe, ["search.seed=7", "search.seed=null"])
    assert loaded.plan.recipe.search.seed is None and loaded.resolved["search"]["seed"] is None
    assert main(["validate", recipe, "--set", "search.seed=None"]) == 2
    err = capsys.readouterr().err
    assert "--set search.seed=None search.seed: input should be a valid integer. Received: 'None'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("override, message", [
    ("search=5", "search: expected a mapping. Received: 5"),
    ("search.max_trials=0", "search.max_trials: input should be greater than 0. Received: 0"),
    ("search.stages[0].top_kk=2", "search.stages[0].top_kk: unknown key 'top_kk'; did you mean 'top_k'? "
                                  "Expected one of: epochs, max_trials, top_k"),
    ("search.objectve=val_loss", "search.objectve: unknown key 'objectve'; did you mean 'objective'?"),
])
def test_search_settings_problems_are_located(capsys, override, message):
    assert main(["validate", str(RECIPES / "mnist1d-search.yaml"), "--set", override]) == 2
    err = capsys.readouterr().err
    assert f"--set {override} {message}" in err, err
    assert err.count("\n") == 2  # the title and one problem: the schema's word, not a second opinion


# -- pipeline schema -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def schema() -> dict:
    from pipeline.recipe.json_schema import recipe_json_schema

    return recipe_json_schema()


@pytest.fixture(scope="module")
def validator(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(validator, tree: dict) -> list[tuple[list, str]]:
    return [(list(e.absolute_path), e.message) for e in validator.iter_errors(tree)]


@pytest.mark.parametrize("recipe", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_recipe_file_is_valid_under_the_schema(validator, recipe):
    assert _errors(validator, yaml.safe_load(recipe.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize("edit, where", [
    (lambda r: _put(r, ("train", "optimizer"), {"type": "adamm", "learning_rate": 0.1}), ["train", "optimizer"]),
    (lambda r: _put(r, ("train", "optimizer"), "adamm"), ["train", "optimizer"]),
    (lambda r: _put(r, ("train", "optimizer"), {"type": "adam", "learning_rat": 0.1}), ["train", "optimizer"]),
    (lambda r: _put(r, ("model", "layers"), [{"type": "dense", "units": "ten"}]), ["model", "layers", 0]),
    (lambda r: _put(r, ("train", "epoch"), 3), ["train"]),
    (lambda r: r["train"].pop("loss"), ["train"]),
    (lambda r: _put(r, ("search",), {"space": {"a": {"uniform": [0, 1]}}, "seed": "None"}), ["search"]),
])
def test_the_schema_refuses_what_validate_refuses(validator, edit, where):
    tree = yaml.safe_load((RECIPES / "mnist1d-cnn.yaml").read_text(encoding="utf-8"))
    assert _errors(validator, tree) == []
    edit(tree)
    assert [path for path, _ in _errors(validator, tree)] == [where]


def test_a_recipe_that_extends_another_may_leave_out_what_it_inherits(validator):
    child = {"extends": "mnist1d-cnn.yaml", "train": {"optimizer": {"learning_rate": 0.01}, "epochs": 3}}
    assert _errors(validator, child) == []
    for bad in ({"train": {"optimizer": {"type": "adamm"}}}, {"trian": {}}, {"train": {"epochs": 0}}):
        assert _errors(validator, {"extends": "mnist1d-cnn.yaml", **bad}), bad


def test_component_slots_list_the_registered_names_with_their_arguments():
    from pipeline.recipe.json_schema import recipe_json_schema

    @registries.optimizers.register("test_opt", aliases=("test-optimizer",))
    def test_opt(learning_rate: PositiveFloat = 0.1, steps: PositiveInt = 3,
                 kernel_initializer: registries.Initializer = "glorot_uniform"):
        """A test optimizer."""

    schema = recipe_json_schema()
    name, mapping = schema["$defs"]["component.optimizers"]["anyOf"]
    assert "test_opt" in name["enum"] and "test_optimizer" in name["enum"] and "adam" in name["enum"]
    assert mapping["properties"]["type"]["enum"] == name["enum"]
    entry = next(s["then"] for s in mapping["allOf"] if s["then"]["title"] == "test_opt")
    assert entry["description"] == "A test optimizer." and entry["required"] == ["type"]
    assert entry["properties"]["learning_rate"] == {"type": "number", "exclusiveMinimum": 0, "default": 0.1}
    assert entry["properties"]["steps"]["type"] == "integer" and entry["properties"]["steps"]["default"] == 3
    assert entry["properties"]["kernel_initializer"] == {"$ref": "#/$defs/component.initializers",
                                                         "default": "glorot_uniform"}
    assert "he_normal" in schema["$defs"]["component.initializers"]["anyOf"][0]["enum"]
    validator = jsonschema.Draft202012Validator(schema)
    tree = yaml.safe_load((RECIPES / "mnist1d-cnn.yaml").read_text(encoding="utf-8"))
    tree["train"]["optimizer"] = {"type": "test_opt", "steps": 2, "kernel_initializer": "he_normal"}
    assert _errors(validator, tree) == []
    for bad in ({"steps": 0}, {"steps": 1.5}, {"kernel_initializer": "he_nrmal"}, {"learning_rate": "fast"}):
        wrong = copy.deepcopy(tree)
        wrong["train"]["optimizer"].update(bad)
        assert _errors(validator, wrong), bad


def test_schema_command_prints_or_writes_the_same_schema(tmp_path, capsys, schema):
    assert main(["schema"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed) == schema
    assert printed.startswith('{\n  "$schema": "https://json-schema.org/draft/2020-12/schema"')
    out = tmp_path / "editor" / "recipe.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"{out}: written\n"
    assert out.read_text(encoding="utf-8") == printed


def test_schema_command_exit_codes_without_a_framework(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    code = ("import sys; from pipeline.cli import main; rc = main(sys.argv[1:]); "
            "print(sorted(m for m in ('keras', 'jax', 'tensorflow', 'torch', 'mlflow') if m in sys.modules)); "
            "sys.exit(rc)")

    def schema(*args):
        return subprocess.run([sys.executable, "-c", code, "schema", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=120)

    ok = schema("--out", str(tmp_path / "s.json"))
    assert (ok.returncode, ok.stdout.splitlines()[-1], ok.stderr) == (0, "[]", "")
    refused = schema("--out", str(blocker / "s.json"))  # below a file: cannot be written
    assert refused.returncode == 2 and refused.stderr.startswith("error: cannot write the schema to ")
    assert "Traceback" not in refused.stderr and refused.stderr.count("\n") == 1
    usage = schema("--bogus")
    assert usage.returncode == 2 and "unrecognized arguments: --bogus" in usage.stderr
