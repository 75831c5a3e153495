"""Reloading saved models: the declared Keras modules are complete, and the reload snippets of
docs/plugins.md work verbatim, in a fresh process, on a run's model compiled with the built-in
`roc_auc` and `pr_auc` metrics (whose classes plain `keras.saving.load_model` cannot find alone)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

import plugins as builtin_plugin
from pipeline import plugins, registries, saving
from tests.conftest import MINIMAL_RECIPE, REPO

DOC = REPO / "docs" / "plugins.md"
#: The smallest recipe, its metrics the built-in Keras classes a plain reload cannot find alone.
AUC_RUN = ("train.epochs=1", "train.verbose=0",
           "train.metrics=[accuracy, {type: roc_auc, from_logits: true}, {type: pr_auc, from_logits: true}]")


def test_declared_keras_modules_are_the_modules_that_register_keras_classes():
    """A module holding a class Keras may save but missing from a declaration would make models
    holding it unloadable in a fresh process; a declared module without one costs imports."""
    registering = sorted(
        ".".join(path.relative_to(REPO).with_suffix("").parts)
        for package in ("pipeline", "plugins") for path in (REPO / package).rglob("*.py")
        if "@keras.saving.register_keras_serializable" in path.read_text(encoding="utf-8"))
    declared = [*saving.CORE_KERAS_MODULES, *builtin_plugin.KERAS_MODULES]
    assert sorted(declared) == registering
    assert saving.keras_modules() == declared  # the core's, then the loaded built-in plugin's


def test_a_declaration_is_checked_at_discovery_and_imported_only_when_loading(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "decl_bad.py").write_text("from pipeline.registries import layers\n"
                                          "layers.register('thing', lambda: None)\n"
                                          "KERAS_MODULES = 'decl_bad_keras'\n", encoding="utf-8")
    (tmp_path / "decl_good.py").write_text("KERAS_MODULES = ('decl_good_keras', 'decl_missing_keras')\n\n\n"
                                           "def register():\n"
                                           "    from pipeline.registries import layers\n"
                                           "    layers.register('thing', lambda: None)\n", encoding="utf-8")
    (tmp_path / "decl_good_keras.py").write_text("", encoding="utf-8")
    try:
        with pytest.warns(plugins.PluginWarning), pytest.raises(
                ImportError, match=r"plugin 'bad' failed to load: TypeError: KERAS_MODULES must be a tuple "
                                   r"of module names. Received: 'decl_bad_keras'"):
            plugins.load_plugin("bad", "decl_bad")
        assert "bad.thing" not in registries.layers  # rolled back

        plugins.load_plugin("good", "decl_good:register")  # a register() function: its module declares
        assert "good.thing" in registries.layers and "decl_good_keras" not in sys.modules  # not yet
        with pytest.warns(plugins.PluginWarning, match="plugin 'good' declares Keras module 'decl_missing_keras', "
                                                       "which failed to import: ModuleNotFoundError"):
            imported = saving.import_keras_classes()
        assert imported[-1] == "decl_good_keras" and "decl_good_keras" in sys.modules
    finally:
        for name in ("decl_bad", "decl_good", "decl_good_keras"):
            sys.modules.pop(name, None)


def reload_snippets() -> list[str]:
    """The python blocks of the doc's "Reloading a saved model" section."""
    section = DOC.read_text(encoding="utf-8").split("### Reloading a saved model", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_doc_shows_two_reload_snippets():
    snippets = reload_snippets()
    assert len(snippets) == 2 and all('load_model("model.keras")' in s for s in snippets)


@pytest.fixture(scope="module")
def auc_model(tmp_path_factory) -> str:
    """model/model.keras of a run whose metrics include roc_auc and pr_auc."""
    import mlflow

    from pipeline.recipe import load_recipe
    from pipeline.train import run

    folder = tmp_path_factory.mktemp("auc_run")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    (folder / "recipe.yaml").write_text(MINIMAL_RECIPE, encoding="utf-8")
    result = run(load_recipe(folder / "recipe.yaml", AUC_RUN), tracking_uri=uri, echo=lambda *a: None)
    return mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path="model/model.keras",
                                               dst_path=str(folder / "download"), tracking_uri=uri)


@pytest.mark.parametrize("which", [0, 1], ids=["pipeline_load_model", "plain_keras"])
def test_documented_reload_snippet_runs_verbatim_in_a_fresh_process(auc_model, which):
    snippet = reload_snippets()[which].replace('"model.keras"', repr(auc_model))
    check = ("import numpy as np\n"
             "x = np.zeros((4, *model.input_shape[1:]), 'float32'); y = np.arange(4)\n"
             "print(sorted(model.evaluate(x, y, return_dict=True, verbose=0)))\n")
    done = subprocess.run([sys.executable, "-c", snippet + check], cwd=REPO, env=dict(os.environ),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == str(["accuracy", "loss", "pr_auc", "roc_auc"])
