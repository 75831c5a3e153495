"""Activation statistics: the course's Xavier experiment from the recipes, and the run's artifacts."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.diagnostics.activations import layer_stats
from tests.conftest import RECIPES

pytestmark = pytest.mark.usefixtures("backend_started")


def test_layer_stats_by_hand():
    a = np.array([[0.0, 0.995, -0.5], [0.0, -0.999, 0.5]])
    s = layer_stats(a, "tanh")
    assert s["mean"] == pytest.approx(a.mean()) and s["std"] == pytest.approx(a.std())
    assert s["saturated"] == pytest.approx(2 / 6) and np.isnan(s["dead"])
    r = layer_stats(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]]), "relu")
    assert r["dead"] == pytest.approx(1 / 3)  # unit 0 is zero for every example; units 1, 2 fire once


def _init_stats(recipe: str):
    """Statistics of the 10 tanh layers at initialization, on 256 standardized MNIST-1D examples."""
    from pipeline.diagnostics.activations_keras import ActivationStatistics
    from pipeline.keras_compat import set_seed
    from pipeline.recipe import load_recipe
    from pipeline.assemble import build_compiled_model, prepare_data

    loaded = load_recipe(RECIPES / recipe, ["data.source.num_samples=600"])
    set_seed(0)
    _, splits = prepare_data(loaded)
    model = build_compiled_model(loaded, splits.x_train.shape[1:], 10)
    stats = ActivationStatistics(histograms=False)
    stats.set_probe(splits.x_train[:256], splits.y_train[:256])
    rows = stats.snapshot(model, 0)
    return [r for r in rows if r["kind"] == "tanh"]


@pytest.mark.slow
def test_tanh_depth_small_std_collapses_and_xavier_does_not():
    small = _init_stats("tanh-depth-small-std.yaml")
    xavier = _init_stats("tanh-depth-xavier.yaml")
    assert len(small) == len(xavier) == 10
    s = [r["std"] for r in small]
    x = [r["std"] for r in xavier]
    # N(0, 0.01^2): each layer scales the std by ~ sqrt(500) * 0.01 = 0.22 -> 10 layers ~ 1e-7
    assert all(b < 0.35 * a for a, b in zip(s, s[1:]))
    assert s[-1] < 1e-5
    # Xavier keeps every layer on the same scale (the course's table: std stays ~ constant)
    assert min(x) > 0.1 and max(x) / min(x) < 3
    assert all(r["saturated"] < 0.05 for r in xavier)
    # and the gradient reaching the first layer vanishes with them (back through 9 layers x 0.22)
    assert small[0]["grad_norm"] < 1e-4 * xavier[0]["grad_norm"]
