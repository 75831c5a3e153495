"""A third-party plugin, end to end: tests/example_plugin is pip-installed as its own distribution,
found through its `pipeline.plugins` entry point, validated, trained, saved and reloaded (through
`pipeline.saving.load_model` and `model.init_from`, in fresh processes); a plugin that fails half-way
is rolled back whole, reported once and skipped; autoload can be switched off (docs/plugins.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline import plugins, registries
from pipeline.components import build_spec
from pipeline.recipe import RecipeError, load_recipe
from pipeline.registry import Provider, RegistryError

EXAMPLE_SOURCE = Path(__file__).resolve().parent / "example_plugin"
MODULE = "pipeline_example_plugin"
EXAMPLE = Provider("example", "pipeline-example-plugin", "0.1.0")
BROKEN_MESSAGE = "broken_plugin_mod needs a package that is not installed"
BROKEN_REASON = f"ImportError: {BROKEN_MESSAGE}"
#: The broken plugin registers a layer and a regularizer, then fails: half-way, as a real one would.
BROKEN_MODULE = f'''\
from pipeline.registries import layers, regularizers


@layers.register("wobble")
def wobble(units: int = 4):
    """A layer of a plugin that never finishes loading."""
    from broken_plugin_mod import Wobble  # would import (and register) this module again

    return Wobble(units)


regularizers.register("shake", lambda factor=0.1: None)
raise ImportError("{BROKEN_MESSAGE}")
'''
BROKEN_LINE = BROKEN_MODULE.count("\n")  # the `raise`, the module's last line
FRAMEWORKS = ("keras", "jax", "tensorflow", "torch")


# -- the two distributions ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def example_site(tmp_path_factory) -> Path:
    """tests/example_plugin installed by pip into a private `--target` folder (a site-packages)."""
    root = tmp_path_factory.mktemp("example_plugin")
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = shutil.copytree(EXAMPLE_SOURCE, root / "src",
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = root / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                           "--no-index", "--quiet", "--disable-pip-version-check", "--target",
                           str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return target


@pytest.fixture(scope="session")
def broken_site(tmp_path_factory) -> Path:
    """An installed distribution whose entry point `broken = "broken_plugin_mod"` registers two
    components and then fails to import."""
    site = tmp_path_factory.mktemp("broken_plugin")
    (site / "broken_plugin_mod.py").write_text(BROKEN_MODULE, encoding="utf-8")
    info = site / "broken_plugin-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1.0\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text("[pipeline.plugins]\nbroken = broken_plugin_mod\n",
                                           encoding="utf-8")
    return site


@pytest.fixture
def plugin_state():
    """Plugin discovery from scratch in this test (built-ins kept); the loader restored after.

    `fresh_registries` forgets the registrations after each test, but `plugins.loader` and
    `sys.modules` would remember the plugin as loaded, so a later test would get an empty namespace.
    """
    loader = plugins.loader
    saved = loader.snapshot()
    loader.restore(tuple({k: v for k, v in part.items() if k == plugins.BUILTIN} for part in saved))
    _forget_modules()
    yield loader
    _forget_modules()
    loader.restore(saved)


def _forget_modules() -> None:
    for name in [m for m in sys.modules if m == MODULE or m.startswith((f"{MODULE}.", "broken_plugin"))]:
        del sys.modules[name]


@pytest.fixture
def example(example_site, plugin_state, monkeypatch):
    """The example plugin installed on sys.path and discovered by `load_plugins()`."""
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    monkeypatch.syspath_prepend(str(example_site))
    return plugins.load_plugins()


# -- helpers ---------------------------------------------------------------------------------------------
RECIPE = """\
name: example-plugin
seed: 1
data:
  source: {{type: digits}}
  split: {{val: 0.1}}
model:
  layers:
    - {{type: flatten}}
    - {{type: dense, units: 16}}
{extra}    - {{type: dense, units: 10}}
train:
  epochs: 1
  batch_size: 64
  loss: {{type: sparse_categorical_crossentropy, from_logits: true}}
  metrics: [accuracy]
  verbose: 0
track: {{experiment: example-plugin}}
"""

SQUASH = ("    - {type: example.scaled_tanh, name: squash, learn_scale: true,\n"
          "       scale_regularizer: {type: example.smooth_l1, factor: 1.0e-3}}\n")


def recipe(write_recipe, extra: str = SQUASH, name: str = "recipe.yaml") -> Path:
    return write_recipe(name, RECIPE.format(extra=extra))


def python(*args: str, path: tuple[Path, ...] = (), cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """`python ARGS` in a fresh process that sees the distributions in `path`."""
    environ = {k: v for k, v in os.environ.items() if k != plugins.DISABLE_ENV}
    environ["PYTHONPATH"] = os.pathsep.join([*map(str, path), *filter(None, [os.environ.get("PYTHONPATH")])])
    environ.update(env)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=environ, capture_output=True, text=True,
                          timeout=300)


def cli(*args: str, path: tuple[Path, ...] = (), cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """`python -m pipeline.cli ARGS` in a fresh process that sees the distributions in `path`."""
    return python("-m", "pipeline.cli", *args, path=path, cwd=cwd, **env)


# -- discovery ---------------------------------------------------------------------------------------------
def test_discovered_namespaced_and_attributed(example):
    assert example.loaded["example"] == EXAMPLE
    assert not example.failed
    for registry, name in ((registries.layers, "example.scaled_tanh"),
                           (registries.regularizers, "example.smooth_l1")):
        assert registry.get(name).provider == EXAMPLE
    assert registries.layers.names("example.*") == ["example.scaled_tanh"]
    assert registries.layers.get("dense").provider.plugin == plugins.BUILTIN


def test_loading_twice_is_a_no_op(example):
    before = {kind: reg.names() for kind, reg in registries.ALL.items()}
    assert plugins.load_plugins() is example  # no duplicate-registration error either
    assert {kind: reg.names() for kind, reg in registries.ALL.items()} == before
    assert example.loaded["example"] == EXAMPLE


def test_validating_with_the_plugin_imports_no_framework(example_site, write_recipe):
    """Factories import Keras when called, so discovery and `pipeline validate` stay instant."""
    code = ("import sys; from pipeline.cli import main; rc = main(['validate', sys.argv[1]]); "
            f"print(sorted(set({FRAMEWORKS!r}) & set(sys.modules))); sys.exit(rc)")
    environ = {k: v for k, v in os.environ.items() if k != plugins.DISABLE_ENV}
    environ["PYTHONPATH"] = str(example_site)
    done = subprocess.run([sys.executable, "-c", code, str(recipe(write_recipe))], env=environ,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_bare_name_is_unknown_and_the_namespaced_one_is_suggested(example, write_recipe):
    with pytest.raises(RegistryError) as info:
        registries.layers.get("scaled_tanh")
    assert info.value.matches[0] == "example.scaled_tanh"
    with pytest.raises(RecipeError, match=r"model\.layers\[2\]\.type: unknown layer 'scaled_tanh'; "
                                          r"did you mean 'example\.scaled_tanh'"):
        load_recipe(recipe(write_recipe, "    - {type: scaled_tanh}\n"))


def test_arguments_are_checked_against_the_factory_signature(example, write_recipe):
    bad = ("    - {type: example.scaled_tanh, slop: 0.5, scale: big,\n"
           "       scale_regularizer: {type: example.smooth_l2}}\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe(write_recipe, bad))
    message = str(info.value)
    assert "model.layers[2].slop: unknown argument 'slop' for layer 'example.scaled_tanh'; " \
           "did you mean 'slope'?" in message
    assert "model.layers[2].scale: expected float" in message
    assert ("model.layers[2].scale_regularizer.type: unknown regularizer 'example.smooth_l2'; "
            "did you mean 'example.smooth_l1'?") in message


# -- behaviour ---------------------------------------------------------------------------------------------
def test_scaled_tanh_computes_a_tanh_bx_and_round_trips(example):
    import keras

    layer = build_spec(registries.layers, {"type": "example.scaled_tanh", "scale": 2.0, "slope": 0.5})
    x = np.array([[-3.0, -1.0, 0.0, 0.5, 2.0]], dtype="float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), 2.0 * np.tanh(0.5 * x), rtol=1e-6)
    assert not layer.trainable_weights  # the scale is fixed unless learn_scale

    config = keras.saving.serialize_keras_object(layer)
    assert config["registered_name"] == "pipeline_example_plugin>ScaledTanh"
    clone = keras.saving.deserialize_keras_object(config)
    assert clone.get_config() == layer.get_config()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(x)), 2.0 * np.tanh(0.5 * x), rtol=1e-6)


def test_smooth_l1_is_quadratic_then_linear(example):
    import keras

    penalty = build_spec(registries.regularizers, {"type": "example.smooth_l1", "factor": 0.1})
    w = np.array([0.5, -2.0], dtype="float32")  # 0.5 * 0.5^2 + 1 * (2 - 1/2)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(penalty(w))), 0.1 * 1.625, rtol=1e-6)
    assert type(penalty).from_config(penalty.get_config()).get_config() == penalty.get_config()


def test_recipe_validates_in_a_subprocess(example_site, write_recipe, tmp_path):
    done = cli("validate", str(recipe(write_recipe)), path=(example_site,), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout


@pytest.mark.slow
def test_recipe_trains_and_the_saved_model_reloads(example, example_site, write_recipe, tracking_uri,
                                                    tmp_path):
    import keras
    import mlflow

    from pipeline.train import run

    loaded = load_recipe(recipe(write_recipe))
    assert EXAMPLE in loaded.plan.providers
    result = run(loaded, tracking_uri=tracking_uri, echo=lambda *a: None)
    assert np.isfinite(result.test_metrics["test_loss"])
    assert "example (pipeline-example-plugin 0.1.0)" in \
        mlflow.get_run(result.run_id).data.tags["plugins"]

    file = mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path="model/model.keras",
                                               dst_path=str(tmp_path / "download"), tracking_uri=tracking_uri)
    model = keras.saving.load_model(file)
    squash = model.get_layer("squash")
    assert type(squash).__name__ == "ScaledTanh" and squash.learn_scale
    assert type(squash.scale_regularizer).__name__ == "SmoothL1"
    a = float(keras.ops.convert_to_numpy(squash.a))
    assert a != pytest.approx(1.7159)  # the learned scale was trained and saved
    x = np.linspace(-2, 2, 16, dtype="float32")[None]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(squash(x)), a * np.tanh(2 / 3 * x), rtol=1e-5)

    # Plain Keras in a fresh process: import the plugin's Keras classes, then reload (docs/plugins.md).
    code = ("import sys, keras, pipeline_example_plugin.keras_objects; "
            "print(float(keras.saving.load_model(sys.argv[1]).get_layer('squash').a.numpy()))")
    environ = {**os.environ, "PYTHONPATH": str(example_site)}
    done = subprocess.run([sys.executable, "-c", code, file], env=environ, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.splitlines()[-1]) == pytest.approx(a)


def test_plugin_model_from_the_cli_reloads_and_initializes_another_run(example_site, broken_site, write_recipe,
                                                                       tracking_uri, tmp_path):
    """`pipeline run` trains a model holding the plugin's layer and regularizer (the broken plugin
    installed beside it changes nothing); a second recipe's `model.init_from` takes its weights; a
    fresh process reloads both with `pipeline.saving.load_model`, importing no tuner and no gRPC."""
    import mlflow

    def runs() -> list:
        return mlflow.search_runs(experiment_names=["example-plugin"], output_format="list",
                                  order_by=["attributes.start_time"])

    mlflow.set_tracking_uri(tracking_uri)  # the store the CLI writes to (through $MLFLOW_TRACKING_URI)
    path = (example_site, broken_site)
    first = cli("run", str(recipe(write_recipe)), path=path, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (source,) = runs()
    second = cli("run", str(recipe(write_recipe)), "--set", f"model.init_from={{run: {source.info.run_id}}}",
                 "--set", "model.freeze={names: [squash]}", path=path, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    target = runs()[1]
    assert "squash" in target.data.params["model.init_from.copied"].split(",")

    files = [mlflow.artifacts.download_artifacts(run_id=r.info.run_id, artifact_path="model/model.keras",
                                                 dst_path=str(tmp_path / r.info.run_id)) for r in (source, target)]
    code = ("import sys; from pipeline.saving import load_model\n"
            "for file in sys.argv[1:]:\n"
            "    squash = load_model(file).get_layer('squash')\n"
            "    print(type(squash).__name__, type(squash.scale_regularizer).__name__, float(squash.a.numpy()))\n"
            "print(sorted({m.partition('.')[0] for m in sys.modules} & {'keras_tuner', 'grpc'}))")
    done = python("-c", code, *files, path=path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    *models, imported = done.stdout.splitlines()[-3:]
    kinds = [line.rsplit(" ", 1)[0] for line in models]
    trained, copied = (float(line.rsplit(" ", 1)[1]) for line in models)
    assert kinds == ["ScaledTanh SmoothL1"] * 2 and imported == "[]"
    assert trained != pytest.approx(1.7159) and copied == trained  # learned, then copied and kept frozen


# -- a broken plugin -----------------------------------------------------------------------------------
def test_broken_plugin_is_rolled_back_reported_once_and_skipped(example_site, broken_site, plugin_state,
                                                                monkeypatch):
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    monkeypatch.syspath_prepend(str(example_site))
    monkeypatch.syspath_prepend(str(broken_site))
    where = f"(raised at {broken_site / 'broken_plugin_mod.py'}:{BROKEN_LINE})"
    with pytest.warns(plugins.PluginWarning) as caught:
        loader = plugins.load_plugins()
    assert [str(w.message) for w in caught] == [
        f"plugin 'broken' (broken-plugin) failed to load and was skipped: {BROKEN_REASON} {where}"]
    assert loader.failed == {"broken": f"{BROKEN_REASON} {where}"}
    assert "broken" not in loader.loaded and "broken_plugin_mod" not in sys.modules
    # It had registered two components before failing: both are gone, the other plugins are whole.
    assert [n for reg in registries.ALL.values() for n in reg.names() if n.startswith("broken.")] == []
    assert "example.scaled_tanh" in registries.layers and "dense" in registries.layers
    assert loader.keras_modules["example"] == (f"{MODULE}.keras_objects",)

    plugins.load_plugins()  # not retried, not warned about twice (warnings are errors here)
    # Retried by hand it fails the same way again, never with a duplicate-registration error.
    with pytest.warns(plugins.PluginWarning), pytest.raises(ImportError) as info:
        plugins.load_plugin("broken", "broken_plugin_mod")
    assert str(info.value) == f"plugin 'broken' failed to load: {BROKEN_REASON} {where}"
    assert "broken.wobble" not in registries.layers and "broken.shake" not in registries.regularizers


def test_broken_plugin_cli(example_site, broken_site, write_recipe, tmp_path):
    path = (example_site, broken_site)
    listing = cli("plugins", path=path, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert f"FAILED plugin broken: {BROKEN_REASON}" in listing.stdout
    assert "example.scaled_tanh" in listing.stdout and "broken." not in listing.stdout
    assert listing.stderr.count("plugin 'broken' (broken-plugin) failed to load") == 1

    for command in ("validate", "run"):  # as if the plugin were absent: unknown, and why
        needs_it = cli(command, str(recipe(write_recipe, "    - {type: broken.wobble}\n", "broken.yaml")),
                       path=path, cwd=tmp_path)
        assert needs_it.returncode == 2, needs_it.stderr
        assert ("model.layers[2].type: unknown layer 'broken.wobble'" in needs_it.stderr
                and f"plugin 'broken' failed to load: {BROKEN_REASON}" in needs_it.stderr), needs_it.stderr
        assert "already registered" not in needs_it.stderr

    without = cli("validate", str(recipe(write_recipe)), path=path, cwd=tmp_path)
    assert without.returncode == 0, without.stderr


# -- autoload switched off ---------------------------------------------------------------------------
def test_disable_autoload_hides_third_party_keeps_builtins(example_site, write_recipe, tmp_path):
    listing = cli("plugins", path=(example_site,), cwd=tmp_path, **{plugins.DISABLE_ENV: "1"})
    assert listing.returncode == 0, listing.stderr
    assert "example." not in listing.stdout
    assert "\n  dense " in listing.stdout

    done = cli("validate", str(recipe(write_recipe)), path=(example_site,), cwd=tmp_path,
               **{plugins.DISABLE_ENV: "1"})
    assert done.returncode == 2
    assert "unknown layer 'example.scaled_tanh'" in done.stderr


def test_disable_autoload_in_process(example_site, plugin_state, monkeypatch):
    monkeypatch.setenv(plugins.DISABLE_ENV, "1")
    monkeypatch.syspath_prepend(str(example_site))
    state = plugins.load_plugins()
    assert "example" not in state.loaded and "example.scaled_tanh" not in registries.layers
    assert "dense" in registries.layers
