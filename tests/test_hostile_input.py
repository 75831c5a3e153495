"""Hostile and broken recipes (issue 13): every class of input a careless or hostile user writes is
refused with exit 2 and one located message, never a traceback, in bounded time and memory.

In process through `pipeline.cli.main(["validate", ...])` for the exact messages; a few through a
real subprocess (`python -m pipeline.cli`) with its peak memory measured (`os.wait4`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.errors import printable
from pipeline.recipe.loader import MAX_BYTES_ENV
from pipeline.recipe.schema import Recipe
from tests.conftest import MINIMAL_RECIPE, REPO

BASE = MINIMAL_RECIPE  # line 1 seed, 3 source, 7 flatten, 8 dense, 10 epochs, 11 loss
SECTION_NAMES = ", ".join(Recipe.model_fields)
SECTIONS = f"Expected one of: {SECTION_NAMES}"


def validate(capsys, file, *overrides: str) -> list[str]:
    """The problem lines `pipeline validate` prints (after asserting exit 2 and no traceback)."""
    code = main(["validate", str(file), *[a for o in overrides for a in ("--set", o)]])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err and out == ""
    assert err.startswith("error: invalid recipe\n")
    return err.splitlines()[1:]


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def edit(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


NOT_UTF8 = "Expected a YAML recipe saved as UTF-8"
PRINTABLE = "recipes hold printable text only"
TYPES = "expected a string, number, boolean, null, list or mapping. Received:"

# class -> (recipe content, the one line `validate` prints, with {f} for the file)
LOADER = {
    # any bytes: decoded as UTF-8, the position and the likely encoding named
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            f"{{f}}:1:1 not UTF-8 text: byte 0x89 at offset 0; it looks like a PNG image. {NOT_UTF8}"),
    "utf-16 with BOM": (BASE.encode("utf-16"), f"{{f}}:1:1 not UTF-8 text: byte 0xff at offset 0; it looks like "
                                               f"UTF-16 (little-endian) text with a byte-order mark. {NOT_UTF8}"),
    "utf-16 without BOM": (BASE.encode("utf-16-le"), f"{{f}}:1:2 not UTF-8 text: byte 0x00 at offset 1; it looks "
                                                     f"like UTF-16 text (every other byte is zero). {NOT_UTF8}"),
    "utf-32": (BASE.encode("utf-32"), f"{{f}}:1:1 not UTF-8 text: byte 0xff at offset 0; it looks like UTF-32 "
                                      f"(little-endian) text with a byte-order mark. {NOT_UTF8}"),
    "latin-1": (("name: café\n" + BASE).encode("latin-1"), "{f}:1:10 not UTF-8 text: byte 0xe9 at offset 9; it looks "
                f"like text in another encoding (Latin-1 or Windows-1252?). {NOT_UTF8}"),
    "NUL byte": (edit("seed: 1", "seed: 1\x00"), f"{{f}}:1:8 not UTF-8 text: byte 0x00 at offset 7; it looks like "
                                                f"binary data. {NOT_UTF8}"),
    # control and invisible characters, written raw or as an escape in a quoted string
    "escape character": ("name: \x1b[31mred\n" + BASE, "{f}:1:7 control character U+001B (ESCAPE) is not allowed in "
                                                        "a recipe"),
    "escaped escape": ('name: "\\e[31m"\n' + BASE, "{f}:1:7 name: control character U+001B (ESCAPE) in a value "
                                                   f"(character 1 of the string); {PRINTABLE}"),
    "escaped NUL": ('name: "a\\0"\n' + BASE, "{f}:1:7 name: control character U+0000 (NUL) in a value (character 2 "
                                             f"of the string); {PRINTABLE}"),
    "escaped surrogate": ('name: "\\ud800"\n' + BASE, "{f}:1:7 name: unpaired surrogate U+D800 in a value "
                                                      f"(character 1 of the string); {PRINTABLE}"),
    "bidi override": (edit("epochs: 2", "epo\u202echs: 2"), "{f}:10:6 invisible formatting character U+202E "
                                                            "(RIGHT-TO-LEFT OVERRIDE) is not allowed in a recipe"),
    "zero-width space": (edit("epochs: 2", "epochs\u200b: 2"), "{f}:10:9 invisible formatting character U+200B "
                                                               "(ZERO WIDTH SPACE) is not allowed in a recipe"),
    # nesting and alias expansion: counted while composing, before anything is built
    "10,000 nested lists": ("x: " + "[" * 10_000 + "]" * 10_000 + "\n" + BASE,
                            "{f}:1:35 YAML error: nesting deeper than 32 levels"),
    "3,000 nested mappings": ("x: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n" + BASE,
                              "{f}:1:125 YAML error: nesting deeper than 32 levels"),
    "400 indented levels": ("".join("  " * i + f"k{i}:\n" for i in range(400)),
                            "{f}:32:63 YAML error: nesting deeper than 32 levels"),
    "alias bomb": ("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(9)),
        "{f}:5:12 YAML error: more than 20,000 values (keys, items and scalars; an alias counts each time it is "
        "used); a recipe needs a few hundred"),
    "recursive alias": ("a: &a [1, *a]\n" + BASE,
                        "{f}:1:11 YAML error: alias *a is used inside its own anchor (a recursive structure)"),
    "deep through aliases": ("a: &a " + "[" * 20 + "]" * 20 + "\nb: " + "[" * 20 + "*a" + "]" * 20 + "\n",
                             "{f}:2:24 YAML error: nesting deeper than 32 levels (through alias *a)"),
    # YAML types the schema does not expect, and explicit tags that cannot be read
    "timestamp": (edit("epochs: 2", "epochs: 2001-13-45"),
                  "{f}:10:3 train.epochs: input should be a valid integer. Received: '2001-13-45'"),
    "!!int abc": (edit("epochs: 2", "epochs: !!int abc"), "{f}:10:11 YAML error: cannot read 'abc' as a YAML int"),
    "!!float abc": (edit("epochs: 2", "epochs: !!float abc"),
                    "{f}:10:11 YAML error: cannot read 'abc' as a YAML float"),
    "!!bool maybe": (edit("epochs: 2", "epochs: !!bool maybe"),
                     "{f}:10:11 YAML error: cannot read 'maybe' as a YAML bool"),
    "!!binary": (edit("epochs: 2", "epochs: !!binary aGk="), f"{{f}}:10:11 train.epochs: {TYPES} a YAML binary value"),
    "!!set": (edit("epochs: 2", "epochs: !!set {a}"), f"{{f}}:10:11 train.epochs: {TYPES} a YAML set value"),
    "!!omap": (edit("epochs: 2", "epochs: !!omap [a: 1]"), f"{{f}}:10:11 train.epochs: {TYPES} a YAML omap value"),
    "!!timestamp": (edit("epochs: 2", "epochs: !!timestamp 2001-12-14"),
                    f"{{f}}:10:11 train.epochs: {TYPES} a YAML timestamp value"),
    "python tag": (edit("epochs: 2", "epochs: !!python/object/apply:os.system [id]"),
                   f"{{f}}:10:11 train.epochs: {TYPES} YAML tag !!python/object/apply:os.system"),
    "local tag": (edit("epochs: 2", "epochs: !env HOME"), f"{{f}}:10:11 train.epochs: {TYPES} YAML tag !env"),
    "5,000-digit integer": (edit("epochs: 2", "epochs: " + "9" * 5000), "{f}:10:11 YAML error: cannot read "
                            "'999999999999999999999999999999999999999…' as a YAML int (more than 4,300 digits)"),
    "null key": (BASE + "null: 1\n", "{f}:12:1 expected a name as a key. Received: null"),
    "boolean key": (BASE + "yes: 1\n", "{f}:12:1 expected a name as a key. Received: true"),
    "list key": (BASE + "? [a, b]\n: 1\n", "{f}:12:3 expected a name as a key. Received: ['a', 'b']"),
    "merge of a scalar": (edit("train:\n", "train:\n  <<: 3\n"), "{f}:10:7 YAML error: expected a mapping or list of "
                          "mappings for merging, but found scalar (while constructing a mapping)"),
    # shapes validation used to crash on
    "model is a string": (edit("model:\n  layers:\n    - {type: flatten}\n    - {type: dense, units: 10}\n",
                               "model: abc\n"), "{f}:5:1 model: expected a mapping. Received: 'abc'"),
    "freeze without colon": (edit("model:\n", "model:\n  freeze: {up_to- stage3}\n"),
                             "{f}:6:12 model.freeze.up_to- stage3: unknown key 'up_to- stage3'; did you mean "
                             "'up_to'? Expected one of: up_to, names"),
    "scalar recipe": ("just text\n", "{f}:1:1 expected a mapping at the top of the recipe. Received: str"),
    "two documents": (BASE + "---\n" + BASE, "{f}:12:1 YAML error: but found another document (expected a single "
                                             "document in the stream)"),
}


@pytest.mark.parametrize("case", list(LOADER), ids=list(LOADER))
def test_broken_recipe_file_is_one_located_problem(tmp_path, capsys, case):
    content, expected = LOADER[case]
    file = write(tmp_path / "r.yaml", content)
    started = time.perf_counter()
    assert validate(capsys, file) == [expected.format(f=file)]
    assert time.perf_counter() - started < 10  # generous: refusals take milliseconds (catches hangs only)


def test_what_the_loader_accepts_is_plain_data(tmp_path):
    """A BOM, CRLF line ends and merge keys are fine; a YAML 1.1 date is a string; an alias is a copy,
    so `--set` on one use leaves the other alone."""
    from pipeline.recipe import load_recipe

    text = ("\ufeffname: 2001-12-14\n" + edit("  epochs: 2\n", "  <<: {epochs: 3}\n")).replace("\n", "\r\n")
    loaded = load_recipe(write(tmp_path / "ok.yaml", text.encode("utf-8")))
    assert loaded.resolved["name"] == "2001-12-14" and loaded.resolved["train"]["epochs"] == 3
    shared = write(tmp_path / "shared.yaml", edit("    - {type: flatten}\n", "    - &f {type: flatten}\n")
                   .replace("    - {type: dense, units: 10}\n", "    - {type: dense, units: 10}\n    - *f\n"))
    resolved = load_recipe(shared, ["model.layers[0].name=first"]).resolved
    assert resolved["model"]["layers"][0] == {"type": "flatten", "name": "first"}
    assert resolved["model"]["layers"][2] == {"type": "flatten"}


@pytest.mark.parametrize("kind", ["directory", "fifo", "device", "empty", "too big"])
def test_what_is_not_a_recipe_file(tmp_path, capsys, monkeypatch, kind):
    if kind == "directory":
        file, expected = tmp_path, "{f} cannot read recipe: it is a directory (expected a YAML file)"
    elif kind == "fifo":
        file, expected = tmp_path / "pipe.yaml", "{f} cannot read recipe: not a regular file (a FIFO, device or socket)"
        os.mkfifo(file)  # reading it would block forever: it is never opened for reading
    elif kind == "device":
        file, expected = Path("/dev/zero"), "{f} cannot read recipe: not a regular file (a FIFO, device or socket)"
    elif kind == "empty":
        file = write(tmp_path / "empty.yaml", "")
        assert validate(capsys, file) == [f"{file}:1:1 {k}: missing required key" for k in ("data", "model", "train")]
        return
    else:
        monkeypatch.setenv(MAX_BYTES_ENV, "200")
        file = write(tmp_path / "big.yaml", BASE + "#" * 200)
        expected = ("{f} cannot read recipe: larger than the limit of 200 bytes for a recipe and the files it "
                    f"extends (set {MAX_BYTES_ENV} to raise it)")
    assert validate(capsys, file) == [expected.format(f=file)]


def test_the_size_limit_covers_the_bases_and_is_raised_by_the_environment(write_recipe, capsys, monkeypatch):
    write_recipe("base.yaml", BASE)
    child = write_recipe("child.yaml", "extends: base.yaml\n" + "# padding\n" * 20)
    monkeypatch.setenv(MAX_BYTES_ENV, str(len(BASE) + 100))  # either file fits, not both
    assert validate(capsys, child)[0].endswith(f"base.yaml cannot read recipe: larger than the limit of "
                                               f"{len(BASE) + 100:,} bytes for a recipe and the files it extends "
                                               f"(set {MAX_BYTES_ENV} to raise it)")
    monkeypatch.setenv(MAX_BYTES_ENV, str(10 * len(BASE)))
    assert main(["validate", str(child)]) == 0


# -- extends ------------------------------------------------------------------------------------------
SECRET = "apiVersion: v1\nkind: Secret\nstringData: {password: hunter2-do-not-print}\n"
RELATIVE = "expected a path relative to this recipe's folder (bases move with the recipes that extend them)"


def _base_setup(tmp_path: Path, case: str) -> tuple[str, str]:
    """Make what `extends: <name>` points at; return the name and the expected message."""
    if case == "absolute /etc/shadow":
        return "/etc/shadow", f"extends: {RELATIVE}. Received: '/etc/shadow'"
    if case == "absolute /proc/self/environ":
        return "/proc/self/environ", f"extends: {RELATIVE}. Received: '/proc/self/environ'"
    if case == "absolute /dev/zero":
        return "/dev/zero", f"extends: {RELATIVE}. Received: '/dev/zero'"
    if case == "not .yaml":
        write(tmp_path / "notes.txt", "seed: 3\n")
        return "notes.txt", "extends: expected a .yaml or .yml recipe file. Received: 'notes.txt'"
    if case == "relative escape to a non-recipe":
        return "../../../../../../../etc/passwd", ("extends: expected a .yaml or .yml recipe file. Received: "
                                                   "'../../../../../../../etc/passwd'")
    if case == "symlink to /etc/shadow":
        os.symlink("/etc/shadow", tmp_path / "base.yaml")
        return "base.yaml", f"extends: {tmp_path / 'base.yaml'} is a link to a file that is not a .yaml or .yml recipe"
    if case == "directory":
        (tmp_path / "dir.yaml").mkdir()
        return "dir.yaml", "cannot read recipe: it is a directory (expected a YAML file)"
    if case == "fifo":
        os.mkfifo(tmp_path / "pipe.yaml")
        return "pipe.yaml", "cannot read recipe: not a regular file (a FIFO, device or socket)"
    if case == "a secrets file":
        write(tmp_path / "secrets.yaml", SECRET)
        return "secrets.yaml", (f"extends: {tmp_path / 'secrets.yaml'} is not a recipe: it has 3 top-level keys "
                                f"that are not recipe sections (the first at line 1). Expected a mapping of "
                                f"{SECTION_NAMES}")
    if case == "a list":
        write(tmp_path / "list.yaml", "- a\n- b\n")
        return "list.yaml", (f"extends: {tmp_path / 'list.yaml'} is not a recipe: it has a list at the top. "
                             f"Expected a mapping of {SECTION_NAMES}")
    raise AssertionError(case)


EXTENDS = ["absolute /etc/shadow", "absolute /proc/self/environ", "absolute /dev/zero", "not .yaml",
           "relative escape to a non-recipe", "symlink to /etc/shadow", "directory", "fifo", "a secrets file", "a list"]


@pytest.mark.parametrize("case", EXTENDS)
def test_extends_refuses_what_is_not_a_recipe_file_and_never_echoes_it(tmp_path, capsys, case):
    name, expected = _base_setup(tmp_path, case)
    child = write(tmp_path / "child.yaml", f"extends: '{name}'\n" + BASE)
    (line,) = validate(capsys, child)
    if expected.startswith("cannot read"):  # refused when opened: the location is the base itself
        assert line == f"{tmp_path / name} {expected}"
    else:
        assert line == f"{child}:1:1 {expected}"
    printed = capsys.readouterr().err + line
    assert "hunter2" not in printed and "root:" not in printed  # neither a secret nor /etc/shadow's lines


def test_extends_reaches_sibling_folders_through_relative_paths(tmp_path, capsys):
    """The demanding user's layout: shared bases in a sibling folder, `..` allowed to .yaml files."""
    write((tmp_path / "shared").mkdir() or tmp_path / "shared" / "base.yaml", BASE)
    (tmp_path / "experiments").mkdir()
    os.symlink(tmp_path / "shared" / "base.yaml", tmp_path / "experiments" / "linked.yaml")  # a link to a recipe
    child = write(tmp_path / "experiments" / "child.yaml", "extends: [../shared/base.yaml, linked.yaml]\nseed: 5\n")
    assert main(["validate", str(child)]) == 0, capsys.readouterr().err


def test_extends_fan_out_is_bounded(tmp_path, capsys):
    """Each file extending the next one twice would be 2**30 loads; the 65th file is refused."""
    write(tmp_path / "b0.yaml", BASE)
    for i in range(1, 31):
        write(tmp_path / f"b{i}.yaml", f"extends: [b{i - 1}.yaml, b{i - 1}.yaml]\n")
    started = time.perf_counter()
    (line,) = validate(capsys, tmp_path / "b30.yaml")
    assert time.perf_counter() - started < 10
    assert line.endswith("extends: more than 64 files through extends: stopped at " + str(tmp_path / "b0.yaml"))


# -- value ranges (validate, no framework) ------------------------------------------------------------
NAME = "expected name (not empty, no '/' or '\\', not '.' or '..', printable, at most 200 characters). Received:"
FLOAT32 = "expected float (finite, |x| <= 3.4e+38: float32). Received:"
WITH_OPTIMIZER = "  optimizer: {type: sgd, learning_rate: 0.1}\n  loss"
RANGES = {
    "learning rate nan": (("  loss", WITH_OPTIMIZER.replace("0.1", ".nan")),
                          f"{{f}}:11:26 train.optimizer.learning_rate: {FLOAT32} nan"),
    "learning rate inf": (("  loss", WITH_OPTIMIZER.replace("0.1", ".inf")),
                          f"{{f}}:11:26 train.optimizer.learning_rate: {FLOAT32} inf"),
    "learning rate 1e308": (("  loss", WITH_OPTIMIZER.replace("0.1", "1e308")),
                            f"{{f}}:11:26 train.optimizer.learning_rate: {FLOAT32} 1e+308"),
    "learning rate negative": (("  loss", WITH_OPTIMIZER.replace("0.1", "-0.00172")),
                               "{f}:11:26 train.optimizer.learning_rate: expected float (> 0). Received: -0.00172"),
    "learning rate as a string": (("  loss", WITH_OPTIMIZER.replace("0.1", "'0.1'")),
                                  "{f}:11:26 train.optimizer.learning_rate: expected float (> 0). Received: '0.1'"),
    "dropout 1.5": (("{type: flatten}", "{type: dropout, rate: 1.5}"),
                    "{f}:7:23 model.layers[0].rate: expected float (>= 0, < 1). Received: 1.5"),
    "dropout -0.5": (("{type: flatten}", "{type: dropout, rate: -0.5}"),
                     "{f}:7:23 model.layers[0].rate: expected float (>= 0, < 1). Received: -0.5"),
    "dropout nan": (("{type: flatten}", "{type: dropout, rate: .nan}"),
                    f"{{f}}:7:23 model.layers[0].rate: {FLOAT32} nan"),
    "units 0": (("units: 10", "units: 0"), "{f}:8:21 model.layers[1].units: expected int (> 0). Received: 0"),
    "units 1.5": (("units: 10", "units: 1.5"), "{f}:8:21 model.layers[1].units: expected int (> 0). Received: 1.5"),
    "units true": (("units: 10", "units: true"), "{f}:8:21 model.layers[1].units: expected int (> 0). Received: True"),
    "units 2**40": (("units: 10", "units: 1099511627776"),
                    "{f}:8:21 model.layers[1].units: expected int (at most 2,147,483,647). Received: 1099511627776"),
    "filters -32": (("{type: flatten}", "{type: conv1d, filters: -32, kernel_size: 3}"),
                    "{f}:7:22 model.layers[0].filters: expected int (> 0). Received: -32"),
    "seed -1": (("seed: 1", "seed: -1"), "{f}:1:1 seed: input should be greater than or equal to 0. Received: -1"),
    "seed 1e22": (("seed: 1", "seed: 1e22"), "{f}:1:1 seed: input should be a valid integer. Received: 1e+22"),
    "seed 10**22": (("seed: 1", "seed: 10000000000000000000000"),
                    "{f}:1:1 seed: input should be less than or equal to 4294967295. "
                    "Received: 10000000000000000000000"),
    "layer seed -1": (("{type: flatten}", "{type: dropout, rate: 0.1, seed: -1}"),
                      "{f}:7:34 model.layers[0].seed: expected int (>= 0, <= 4294967295). Received: -1"),
    "epochs true": (("epochs: 2", "epochs: true"),
                    "{f}:10:3 train.epochs: input should be a valid integer. Received: True"),
    "epochs 2.0": (("epochs: 2", "epochs: 2.0"),
                   "{f}:10:3 train.epochs: input should be a valid integer. Received: 2.0"),
    "epochs 1e999": (("epochs: 2", "epochs: 1e999"),
                     "{f}:10:3 train.epochs: input should be a valid integer. Received: inf"),
    "batch size 0": (("epochs: 2", "epochs: 2\n  batch_size: 0"),
                     "{f}:11:3 train.batch_size: input should be greater than 0. Received: 0"),
    "verbose true": (("epochs: 2", "epochs: 2\n  verbose: true"),
                     "{f}:11:3 train.verbose: expected a number (not true or false). Received: True"),
    "empty experiment": (("seed: 1", "seed: 1\ntrack: {experiment: ''}"), f"{{f}}:2:9 track.experiment: {NAME} ''"),
    "experiment as a path": (("seed: 1", "seed: 1\ntrack: {experiment: ../../../x}"),
                             f"{{f}}:2:9 track.experiment: {NAME} '../../../x'"),
    "run name with a slash": (("seed: 1", "seed: 1\ntrack: {run_name: a/b}"),
                              f"{{f}}:2:9 track.run_name: {NAME} 'a/b'"),
    "recipe name ..": (("seed: 1", "seed: 1\nname: '..'"), f"{{f}}:2:1 name: {NAME} '..'"),
    "class weight key -1": (("  split: {val: 0.2}", "  split: {val: 0.2}\n  imbalance: {class_weight: {-1: 2.0}}"),
                            "{f}:5:30 data.imbalance.class_weight[-1]: input should be greater than or equal to 0. "
                            "Received: -1"),
    "search space of nan": (("seed: 1", "seed: 1\nsearch: {space: {train.epochs: {int: [1, .nan]}}}"),
                            "{f}:2:33 search.space.train.epochs.int: expected [low, high], two numbers. Received: "
                            "[1, nan]"),
}


@pytest.mark.parametrize("case", list(RANGES), ids=list(RANGES))
def test_values_out_of_range_are_refused_by_validate(tmp_path, capsys, case):
    (old, new), expected = RANGES[case]
    file = write(tmp_path / "r.yaml", edit(old, new))
    assert validate(capsys, file) == [expected.format(f=file)]


# -- --set --------------------------------------------------------------------------------------------
SETS = {
    "a.b.c.d=3": f"--set a.b.c.d=3 a: unknown key 'a'. {SECTIONS}",
    "train.epochs=\x00": "--set train.epochs=\\x00:1:14 control character U+0000 (NUL) is not allowed in a recipe",
    "name=\x1b[31mred": "--set name=\\x1b[31mred:1:6 control character U+001B (ESCAPE) is not allowed in a recipe",
    "name=\udcff": "--set name=\\udcff:1:6 unpaired surrogate U+DCFF is not allowed in a recipe",
    "train.epochs=1e999": "--set train.epochs=1e999 train.epochs: input should be a valid integer. Received: inf",
    "model.layers[-1].units=0": "--set model.layers[-1].units=0 model.layers[1].units: expected int (> 0). Received: 0",
    "extends=other.yaml": "--set extends=other.yaml extends: extends cannot be overridden: it is read while the "
                          "recipe file loads",
    "x" + ".x" * 40 + "=1": "{set} expected a key path of at most 32 parts. Received: 41",
    "name=&a [*a]": "--set name=&a [*a]:1:5 name: YAML error: alias *a is used inside its own anchor (a recursive "
                    "structure)",
    "name=!!python/name:os.system": f"--set name=!!python/name:os.system:1:1 name: {TYPES} YAML tag "
                                    "!!python/name:os.system",
    "model.layers[0]=" + "[" * 40 + "]" * 40: "{set}:1:33 model.layers[0]: YAML error: nesting deeper than 32 levels",
    "track.experiment=..": f"--set track.experiment=.. track.experiment: {NAME} '..'",
    "model.layers[5].units=3": "--set model.layers[5].units=3 model.layers[5]: cannot set 'model.layers[5].units': "
                               "no such item",
}


@pytest.mark.parametrize("assignment", list(SETS), ids=[a.encode("unicode_escape").decode()[:40] for a in SETS])
def test_set_values_go_through_the_loader_and_are_located_at_the_set(write_recipe, capsys, assignment):
    file = write_recipe("r.yaml", "# a comment, so line 2 is where a wrong location would point\n" + BASE)
    (line,) = validate(capsys, file, assignment)
    expected = SETS[assignment].replace("{set}", f"--set {printable(assignment)}")
    assert line == expected


def test_set_value_longer_than_the_limit(write_recipe, capsys, monkeypatch):
    monkeypatch.setenv(MAX_BYTES_ENV, str(10 * len(BASE)))
    file = write_recipe("r.yaml", BASE)
    (line,) = validate(capsys, file, "name=" + "x" * (10 * len(BASE) + 1))
    assert line.endswith(f"… name: the value is longer than the recipe size limit of {10 * len(BASE):,} bytes")


# -- real subprocesses: exit 2, no traceback, bounded time and memory ---------------------------------
# The child reports its own peak (VmHWM): a forked child's ru_maxrss would include the pytest parent.
# It also names the deep-learning frameworks it imported (none, for validate).
MEASURED = ("import sys\nfrom pipeline.cli import main\ncode = main(sys.argv[1:])\n"
            "loaded = sorted({'keras', 'jax', 'tensorflow', 'torch'} & set(sys.modules))\n"
            "sys.stderr.write(f'frameworks: {loaded}\\n')\n"
            "sys.stderr.write(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')))\nsys.exit(code)")


def run_measured(*args: str, cwd: Path = REPO, timeout: float = 60) -> tuple[int, str, float, float]:
    """(exit code, stderr, seconds, peak RSS in MiB) of the `pipeline` command in a fresh interpreter."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", MEASURED, *args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout)
    seconds = time.perf_counter() - started
    *err, frameworks, peak = result.stderr.splitlines()
    assert peak.startswith("VmHWM:") and peak.endswith("kB"), result.stderr
    return result.returncode, "\n".join([*err, frameworks]), seconds, int(peak.split()[1]) / 1024


def test_bomb_huge_file_and_dev_zero_are_refused_cheaply_by_the_real_command(tmp_path):
    bomb = write(tmp_path / "bomb.yaml", LOADER["alias bomb"][0])
    huge = write(tmp_path / "huge.yaml", "".join(f"k{i}: {i}\n" for i in range(1_500_000)))  # ~20 MB
    zero_child = write(tmp_path / "zero.yaml", "extends: ../../../../../../../../dev/zero.yaml\n")
    for command, file, needle in [("validate", bomb, "more than 20,000 values"),
                                  ("run", bomb, "more than 20,000 values"),
                                  ("validate", huge, "larger than the limit of 1,048,576 bytes"),
                                  ("show", huge, "larger than the limit of 1,048,576 bytes"),
                                  ("validate", Path("/dev/zero"), "not a regular file"),
                                  ("run", zero_child, "extended recipe not found")]:
        code, err, seconds, peak = run_measured(command, str(file))
        assert code == 2 and "Traceback" not in err and needle in err, (command, file, err)
        assert seconds < 30, (command, file, seconds)  # generous: about 1 s here, most of it Python's start
        assert peak < 200, (command, file, peak)        # MiB; 45-50 here


def test_a_missing_data_file_is_refused_by_validate_without_a_framework(tmp_path):
    recipe = write(tmp_path / "r.yaml", edit("{type: mnist1d}", "{type: csv, file: data/pets.csv}"))
    code, err, _, _ = run_measured("validate", str(recipe), cwd=tmp_path)
    assert code == 2 and "Traceback" not in err and err.endswith("frameworks: []")
    assert err.splitlines()[1] == (f"{recipe}:3:23 data.source.file: expected an existing file (not found: "
                                   f"{tmp_path / 'data' / 'pets.csv'}). Received: 'data/pets.csv'")
