"""A third-party plugin, end to end: tests/example_plugin is pip-installed as its own distribution,
found through its `pipeline.plugins` entry point, validated, trained, saved and reloaded; a broken
plugin is reported and skipped; autoload can be switched off (the README section "Writing a plugin package")."""

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
BROKEN_REASON = "ImportError: broken_plugin_mod needs a package that is not installed"
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
    """An installed distribution whose entry point `broken = "broken_plugin_mod"` fails to import."""
    site = tmp_path_factory.mktemp("broken_plugin")
    (site / "broken_plugin_mod.py").write_text(
        f'raise ImportError("{BROKEN_REASON.removeprefix("ImportError: ")}")\n', encoding="utf-8")
    info = site / "broken_plugin-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1.0\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text("[pipeline.plugins]\nbroken = broken_plugin_mod\n",
                                           encoding="utf-8")
    return site


@pytest.fixture
def plugin_state():
    """Plugin discovery from scratch in this test (built-ins kept); the global state restored after.

    `fresh_registries` forgets the registrations after each test, but `plugins.state` and
    `sys.modules` would remember the plugin as loaded, so a later test would get an empty namespace.
    """
    state = plugins.state
    saved = dict(state.loaded), dict(state.failed)
    state.loaded = {k: v for k, v in saved[0].items() if k == plugins.BUILTIN}
    state.failed = {}
    _forget_modules()
    yield state
    _forget_modules()
    state.loaded, state.failed = saved


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


def cli(*args: str, path: tuple[Path, ...] = (), cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """`python -m pipeline.cli ARGS` in a fresh process that sees the distributions in `path`."""
    environ = {k: v for k, v in os.environ.items() if k != plugins.DISABLE_ENV}
    environ["PYTHONPATH"] = os.pathsep.join([*map(str, path), *filter(None, [os.environ.get("PYTHONPATH")])])
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=300)


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

    # A fresh process imports the plugin's Keras classes, then reloads (the README section "Writing a plugin package").
    code = ("import sys, keras, pipeline_example_plugin.keras_objects; "
            "print(float(keras.saving.load_model(sys.argv[1]).get_layer('squash').a.numpy()))")
    environ = {**os.environ, "PYTHONPATH": str(example_site)}
    done = subprocess.run([sys.executable, "-c", code, file], env=environ, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.splitlines()[-1]) == pytest.approx(a)


# -- a broken plugin -----------------------------------------------------------------------------------
def test_broken_plugin_is_reported_and_skipped_in_process(example_site, broken_site, plugin_state,
                                                          monkeypatch):
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    monkeypatch.syspath_prepend(str(example_site))
    monkeypatch.syspath_prepend(str(broken_site))
    with pytest.warns(plugins.PluginWarning, match="plugin 'broken' \\(broken-plugin\\) failed to load"):
        state = plugins.load_plugins()
    assert state.failed == {"broken": BROKEN_REASON}
    assert "example.scaled_tanh" in registries.layers
    plugins.load_plugins()  # not retried, not warned about twice (warnings are errors here)


def test_broken_plugin_cli(example_site, broken_site, write_recipe, tmp_path):
    path = (example_site, broken_site)
    listing = cli("plugins", path=path, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert f"FAILED plugin broken: {BROKEN_REASON}" in listing.stdout
    assert "example.scaled_tanh" in listing.stdout

    needs_it = cli("validate", str(recipe(write_recipe, "    - {type: broken.something}\n", "broken.yaml")),
                   path=path, cwd=tmp_path)
    assert needs_it.returncode == 2
    assert ("model.layers[2].type: unknown layer 'broken.something'" in needs_it.stderr
            and f"plugin 'broken' failed to load: {BROKEN_REASON}" in needs_it.stderr), needs_it.stderr

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
