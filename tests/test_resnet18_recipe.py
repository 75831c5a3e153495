"""The synthetic source and recipes/resnet18-cifar.yaml, which must be exactly the reference ResNet-18."""

from __future__ import annotations

import sys

import numpy as np

from pipeline import registries
from pipeline.components import build_spec
from pipeline.speed import precision_scope
from pipeline.recipe import load_recipe
from pipeline.assemble import build_compiled_model
from tests.conftest import REPO, RECIPES

sys.path.insert(0, str(REPO / "bench"))
from gpu_resnet18 import handwritten_resnet18  # noqa: E402


def test_synthetic_is_random_but_fixed():
    spec = {"type": "synthetic", "shape": [4, 4, 3], "classes": 5, "size": 300, "test_size": 50, "seed": 7}
    a, b = build_spec(registries.datasets, spec), build_spec(registries.datasets, spec)
    assert a.x.shape == (300, 4, 4, 3) and a.x.dtype == np.float32 and a.x_test.shape == (50, 4, 4, 3)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.fingerprint() == b.fingerprint()
    assert set(np.unique(a.y)) == set(range(5)) and a.num_classes == 5
    assert abs(a.x.mean()) < 0.05 and abs(a.x.std() - 1) < 0.05  # standard normal
    other = build_spec(registries.datasets, {**spec, "seed": 8})
    assert not np.array_equal(other.x, a.x)
    assert build_spec(registries.datasets, {**spec, "test_size": 0}).x_test is None


def test_resnet18_recipe_is_the_reference_model():
    loaded = load_recipe(RECIPES / "resnet18-cifar.yaml")
    assert loaded.plan.recipe.train.precision == "mixed_bfloat16"
    with precision_scope("mixed_bfloat16"):
        ours = build_compiled_model(loaded, (32, 32, 3), steps_per_epoch=96)
        reference = handwritten_resnet18()
    assert ours.count_params() == reference.count_params() == 11_183_562  # + 2 x 4,800 BN moving statistics
    trainable = sum(int(np.prod(w.shape)) for w in ours.trainable_weights)
    assert trainable == 11_173_962  # the usual CIFAR ResNet-18 count (PyTorch's, same architecture)
    assert sorted(w.shape for w in ours.weights) == sorted(w.shape for w in reference.weights)
    convs = [w for w in ours.weights if len(w.shape) == 4]
    assert len(convs) == 1 + 8 * 2 + 3  # stem, two per block, three 1x1 projections
    assert ours.layers[-1].compute_dtype == reference.layers[-1].compute_dtype == "float32"
    assert ours.output_shape == (None, 10)
