"""The `pipeline` command in a subprocess: exit codes, messages on stderr, never a traceback.

`show` and `run` build models and train, so they are tested elsewhere; these tests stay fast.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MINIMAL_RECIPE, REPO
from tests.conftest import RECIPES as RECIPE_DIR

RECIPES = sorted(RECIPE_DIR.glob("*.yaml"))

VALID = MINIMAL_RECIPE


def pipeline(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def assert_clean_usage_error(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""


def test_help_exits_zero():
    result = pipeline("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: pipeline")
    for command in ("run", "validate", "show", "plugins", "ui"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["validate", "run", "show"])
def test_subcommand_help_exits_zero(command):
    result = pipeline(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "--set KEY=VALUE" in result.stdout


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("pipeline")
    if not script.exists():
        pytest.skip("the `pipeline` console script is not next to this interpreter")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_no_command_is_a_usage_error():
    result = pipeline()
    assert_clean_usage_error(result)
    assert "usage: pipeline" in result.stderr


def test_unknown_command_is_a_usage_error():
    result = pipeline("trian")
    assert_clean_usage_error(result)
    assert "invalid choice: 'trian'" in result.stderr


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.name for r in RECIPES])
def test_validate_every_shipped_recipe(recipe):
    result = pipeline("validate", recipe.relative_to(REPO))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_validate_prints_the_hash(write_recipe):
    file = write_recipe("ok.yaml", VALID)
    result = pipeline("validate", file)
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(rf"{re.escape(str(file))}: valid \(recipe hash ([0-9a-f]{{16}}), backend jax\)\n",
                         result.stdout)
    assert match, result.stdout
    from pipeline.recipe import load_recipe

    assert match.group(1) == load_recipe(file).hash  # the same id the run will be tagged with


def test_validate_hash_follows_set_overrides(write_recipe):
    file = write_recipe("ok.yaml", VALID)
    plain = pipeline("validate", file).stdout
    edited = write_recipe("edited.yaml", VALID.replace("epochs: 2", "epochs: 5"))
    overridden = pipeline("validate", file, "--set", "train.epochs=5").stdout
    hash_of = lambda out: re.search(r"recipe hash ([0-9a-f]+)", out).group(1)  # noqa: E731
    assert hash_of(overridden) == hash_of(pipeline("validate", edited).stdout) != hash_of(plain)


BROKEN = {
    "component typo": (VALID.replace("{type: dense, units: 10}", "{type: dnse, units: 10}"),
                       "type: dnse", "model.layers[1].type", "unknown layer 'dnse'; did you mean 'dense'?"),
    "wrong argument": (VALID.replace("{type: dense, units: 10}", "{type: dense, units: 10, unit: 3}"),
                       "unit: 3", "model.layers[1].unit",
                       "unknown argument 'unit' for layer 'dense'; did you mean 'units'?"),
    "bad type": (VALID.replace("{type: dense, units: 10}", "{type: dense, units: abc}"),
                 "units: abc", "model.layers[1].units", "expected int"),
    "section key typo": (VALID.replace("  epochs: 2", "  epochs: 2\n  bach_size: 3"),
                         "bach_size", "train.bach_size", "unknown key 'bach_size'; did you mean 'batch_size'?"),
}


def _location(file: Path, text: str, needle: str) -> str:
    """`file:line:col` (1-based) of the first `needle` in `text`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return f"{file}:{number}:{line.index(needle) + 1}"
    raise AssertionError(needle)


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_recipe_exits_2_with_location_and_key_path(write_recipe, case):
    text, needle, key_path, message = BROKEN[case]
    file = write_recipe("broken.yaml", text)
    result = pipeline("validate", file)
    assert_clean_usage_error(result)
    assert result.stderr.startswith("error: invalid recipe\n")
    assert f"{_location(file, text, needle)} {key_path}: {message}" in result.stderr


def test_yaml_syntax_error_exits_2_with_location(write_recipe):
    file = write_recipe("broken.yaml", VALID.replace("{type: mnist1d}", "{type: mnist1d"))
    result = pipeline("validate", file)
    assert_clean_usage_error(result)
    assert re.search(rf"^{re.escape(str(file))}:4:\d+ .*YAML error: ", result.stderr, re.MULTILINE), result.stderr


def test_duplicate_key_exits_2_naming_both_lines(write_recipe):
    file = write_recipe("broken.yaml", VALID.replace("  epochs: 2\n", "  epochs: 2\n  epochs: 3\n"))
    result = pipeline("validate", file)
    assert_clean_usage_error(result)
    assert f"{file}:11:3 train.epochs: duplicate key 'epochs' (first written at line 10, column 3)" in result.stderr


def test_unhashable_key_exits_2(write_recipe):
    result = pipeline("validate", write_recipe("broken.yaml", VALID + "? [a, b]\n: 1\n"))
    assert_clean_usage_error(result)


def test_several_problems_are_all_printed(write_recipe):
    text = VALID.replace("{type: flatten}", "{type: flaten}").replace("units: 10", "units: abc")
    result = pipeline("validate", write_recipe("broken.yaml", text))
    assert_clean_usage_error(result)
    assert "model.layers[0].type: unknown layer 'flaten'" in result.stderr
    assert "model.layers[1].units: expected int" in result.stderr


def test_missing_recipe_file_exits_2(tmp_path):
    result = pipeline("validate", tmp_path / "nope.yaml")
    assert_clean_usage_error(result)
    assert f"{tmp_path / 'nope.yaml'}" in result.stderr
    assert "cannot read recipe: No such file or directory" in result.stderr


def test_recipe_that_is_a_directory_exits_2(tmp_path):
    result = pipeline("validate", tmp_path)
    assert_clean_usage_error(result)
    assert "cannot read recipe" in result.stderr


def test_bad_set_override_exits_2_naming_it(write_recipe):
    file = write_recipe("ok.yaml", VALID)
    for assignment, message in [("train.epochs", "expected an override like"),
                                ("model.layers[7].units=3", "no such item"),
                                ("train.epochs=abc", "input should be a valid integer")]:
        result = pipeline("validate", file, "--set", assignment)
        assert_clean_usage_error(result)
        assert f"--set {assignment} " in result.stderr
        assert message in result.stderr


def test_extends_cycle_exits_2(write_recipe):
    file = write_recipe("a.yaml", "extends: b.yaml\n")
    write_recipe("b.yaml", "extends: a.yaml\n")
    result = pipeline("validate", file)
    assert_clean_usage_error(result)
    assert "inheritance cycle" in result.stderr


def test_validate_works_from_another_directory(write_recipe, tmp_path):
    write_recipe("base.yaml", VALID)
    write_recipe("child.yaml", "extends: base.yaml\ntrain: {epochs: 3}\n")
    result = pipeline("validate", "child.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("child.yaml: valid (recipe hash ")
