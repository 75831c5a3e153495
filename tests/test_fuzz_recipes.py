"""Fuzz test (issue 13): a few hundred seeded mutants of every shipped recipe, and of `--set` overrides,
through `pipeline validate`.

Each mutant (a typo, a wrong type, a deleted or duplicated line, a truncation, a flipped bit, a control
character, an alias, a bomb: tests/recipe_mutator.py) must exit 0 or 2 with no traceback. The failing
mutant's recipe, seed and mutation are in the assertion message, so it can be replayed.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import main
from tests.conftest import RECIPES, REPO
from tests.recipe_mutator import mutate, override

SEED = 13
MUTANTS = 300
OVERRIDES = 200


@pytest.fixture(scope="module")
def workshop(tmp_path_factory) -> Path:
    """A copy of recipes/: a mutant sits beside the originals, so its `extends:` still resolve."""
    folder = tmp_path_factory.mktemp("fuzz")
    for recipe in RECIPES.glob("*.yaml"):
        shutil.copy(recipe, folder / recipe.name)
    return folder


def mutants(folder: Path, count: int, seed: int):
    """(description, path) of `count` mutants written one after another to the same file per recipe."""
    rng = random.Random(seed)
    originals = sorted(p for p in folder.glob("*.yaml") if not p.name.startswith("mutant-"))
    texts = {p: p.read_text(encoding="utf-8") for p in originals}
    for i in range(count):
        original = rng.choice(originals)
        what, mutant = mutate(texts[original], rng)
        target = folder / f"mutant-{original.name}"
        if isinstance(mutant, bytes):
            target.write_bytes(mutant)
        else:
            target.write_text(mutant, encoding="utf-8", errors="surrogatepass")
        yield f"mutant {i} (seed {seed}) of {original.name}: {what}", target


@pytest.mark.slow
def test_mutants_of_every_shipped_recipe_exit_0_or_2_without_a_traceback(workshop):
    seen = set()
    for description, path in mutants(workshop, MUTANTS, SEED):
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(["validate", str(path)])
        except BaseException as exc:  # noqa: BLE001 - the point is that nothing escapes
            raise AssertionError(f"{description}: raised {type(exc).__name__}: {exc}") from exc
        assert code in (0, 2), (description, code, err.getvalue())
        assert "Traceback" not in err.getvalue(), (description, err.getvalue())
        seen.add(code)
        seen.add(description.split(": ")[1].split(" ")[0])
    assert {0, 2, "truncate", "flip", "alias", "value", "key_typo", "name_typo"} <= seen  # the mix ran


def test_random_overrides_exit_0_or_2_without_a_traceback():
    rng = random.Random(SEED)
    for i in range(OVERRIDES):
        assignment = override(rng)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["validate", str(RECIPES / "mnist1d-cnn.yaml"), "--set", assignment])
        assert code in (0, 2) and "Traceback" not in err.getvalue(), (i, assignment, err.getvalue())


def test_a_few_mutants_through_the_real_command(workshop):
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO)}
    for description, path in mutants(workshop, 6, SEED + 1):
        result = subprocess.run([sys.executable, "-m", "pipeline.cli", "validate", str(path)], cwd=REPO, env=env,
                                capture_output=True, timeout=60)
        assert result.returncode in (0, 2), (description, result.stderr.decode(errors="replace"))
        assert b"Traceback" not in result.stderr + result.stdout, description
