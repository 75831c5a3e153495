"""The model builder on both topologies: sequential lists and graphs with named inputs."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.model.network import build_model
from pipeline.recipe import load_recipe
from tests.conftest import RECIPES

BASE = """
data: {source: {type: digits}}
train: {epochs: 1, loss: sparse_categorical_crossentropy}
model:
"""


def _plan(write_recipe, model_yaml: str):
    path = write_recipe("r.yaml", BASE + model_yaml)
    return load_recipe(path).plan


def test_sequential_layers_chain_and_take_input_shape_from_data(write_recipe):
    plan = _plan(write_recipe, """
  layers:
    - {type: flatten}
    - {type: dense, units: 16, activation: relu}
    - {type: dense, units: 3}
""")
    model = build_model(plan.layers, plan.outputs, (8, 8, 1))
    assert model.input_shape == (None, 8, 8, 1)
    assert model.output_shape == (None, 3)
    # 64*16+16 + 16*3+3: each layer reads the previous one.
    assert model.count_params() == 64 * 16 + 16 + 16 * 3 + 3
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Flatten", "Dense", "Dense"]


def test_graph_residual_connection_adds_shortcut_to_branch(write_recipe):
    plan = _plan(write_recipe, """
  layers:
    - {type: flatten, name: x}
    - {type: dense, units: 64, use_bias: false, kernel_initializer: zeros, name: branch}
    - {type: add, inputs: [x, branch], name: out}
""")
    model = build_model(plan.layers, plan.outputs, (8, 8, 1))
    x = np.random.default_rng(0).normal(size=(5, 8, 8, 1)).astype("float32")
    # With a zero branch, x + F(x) is exactly x: the shortcut really is wired to the input.
    np.testing.assert_allclose(model.predict(x, verbose=0), x.reshape(5, 64), rtol=1e-6)
    # And the branch is really used: a non-zero kernel changes the output.
    branch = model.get_layer("branch")
    branch.kernel.assign(np.eye(64, dtype="float32"))
    np.testing.assert_allclose(model.predict(x, verbose=0), 2 * x.reshape(5, 64), rtol=1e-5)


def test_graph_skip_connection_concatenates_channels(write_recipe):
    plan = _plan(write_recipe, """
  layers:
    - {type: conv2d, filters: 4, kernel_size: 3, padding: same, name: a}
    - {type: conv2d, filters: 6, kernel_size: 3, padding: same, name: b}
    - {type: concatenate, inputs: [a, b, input]}
""")
    model = build_model(plan.layers, plan.outputs, (8, 8, 1))
    assert model.output_shape == (None, 8, 8, 4 + 6 + 1)


def test_model_defaults_apply_to_every_layer_that_accepts_them(write_recipe):
    plan = _plan(write_recipe, """
  defaults:
    kernel_initializer: zeros
    kernel_regularizer: {type: l2, factor: 0.5}
  layers:
    - {type: flatten}
    - {type: dense, units: 4}
    - {type: dropout, rate: 0.1}
    - {type: dense, units: 2, kernel_initializer: he_normal}
""")
    model = build_model(plan.layers, plan.outputs, (8, 8, 1))
    first, second = model.layers[2], model.layers[4]
    assert np.all(np.asarray(first.kernel) == 0)  # default applied
    assert np.any(np.asarray(second.kernel) != 0)  # a layer's own value wins over the default
    assert float(first.kernel_regularizer.l2) == pytest.approx(0.5)
    assert float(second.kernel_regularizer.l2) == pytest.approx(0.5)


def test_multiple_outputs(write_recipe):
    plan = _plan(write_recipe, """
  outputs: [left, right]
  layers:
    - {type: flatten, name: f}
    - {type: dense, units: 2, name: left}
    - {type: dense, units: 3, inputs: [f], name: right}
""")
    model = build_model(plan.layers, plan.outputs, (8, 8, 1))
    assert [tuple(s) for s in model.output_shape] == [(None, 2), (None, 3)]


@pytest.fixture(scope="module")
def sources() -> dict:
    """Recipes share sources: each is built once for all the shipped recipes, freed after the module."""
    return {}


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*.yaml")), ids=lambda path: path.name)
def test_every_shipped_recipe_builds(recipe, sources):
    from pipeline.components import build

    loaded = load_recipe(recipe)
    plan = loaded.plan
    key = repr((plan.source.name, sorted(plan.source.kwargs.items())))
    # the recipe's own data: its input shape and classes (or masks)
    data = sources[key] = sources.get(key) or build(plan.source)
    shape = data.x.shape[1:]
    if plan.preprocess:  # the model reads what the fitted preprocessing makes (e.g. PCA)
        from pipeline.kfold import fold_recipe
        from pipeline.assemble import prepare_data

        if plan.recipe.data.split.kfold and plan.recipe.data.split.fold is None:
            loaded = fold_recipe(loaded, 0)
        shape = prepare_data(loaded)[1].x_train.shape[1:]
    model = build_model(plan.layers, plan.outputs, shape)
    expected = (data.num_classes,) if data.num_classes else data.y.shape[1:]
    if plan.recipe.task == "regression":  # one output per target column
        expected = data.y.shape[1:] or (1,)
    elif data.num_classes == 2 and plan.loss.name == "binary_crossentropy":  # one unit: P(class 1)
        expected = (1,)
    assert tuple(model.output_shape[1:]) == tuple(expected)
