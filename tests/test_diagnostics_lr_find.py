"""The LR range test: suggestion vs a known best rate, divergence stop, the CLI with --write."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.diagnostics.lr_find import lr_range_test, smooth, suggest

pytestmark = pytest.mark.usefixtures("backend_started")

#: Best constant Adam rate for the model below after 200 steps of batch 32 (final loss on all of
#: digits, grid of 16 rates over 1e-4..10, run here): 0.00464 -> 0.086, 0.01 -> 0.052, 0.0215 -> 0.064.
KNOWN_BEST = 0.01


def _digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return ((x - x.mean(0)) / (x.std(0) + 1e-8)).astype("float32"), y


def _model(lr):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_suggestion_is_within_3x_of_the_known_best_rate_and_the_test_stops_at_divergence():
    x, y = _digits()
    found = lr_range_test(_model(1e-5), x, y, steps=200, min_lr=1e-5, max_lr=10.0, batch_size=32)
    assert KNOWN_BEST / 3 <= found.suggestion <= 3 * KNOWN_BEST
    assert len(found.lrs) < 200 and found.lrs[-1] < 10  # stopped once the loss ran away
    assert found.smoothed[-1] > 4 * min(found.smoothed)
    assert found.min_loss_lr > found.suggestion


def test_smoothing_and_steepest_descent_by_hand():
    assert smooth([2.0, 4.0], beta=0.5) == pytest.approx([2.0, (0.25 * 2 + 0.5 * 4) / 0.75])
    lrs = list(np.logspace(-4, 0, 81))
    # a loss that falls fastest (per decade) at 1e-2 and is lowest at 1e-1
    loss = [1.0 - 0.5 * np.tanh(2 * (np.log10(lr) + 2)) + (2.0 * (np.log10(lr) + 1) ** 2 if lr > 0.1 else 0)
            for lr in lrs]
    steep, lowest = suggest(lrs, loss)
    assert steep == pytest.approx(1e-2, rel=0.15) and lowest == pytest.approx(0.1, rel=0.15)
    assert suggest(lrs, list(np.linspace(1, 2, 81))) == (None, lrs[0])  # never falls: no suggestion


def test_lr_find_command_plots_and_writes_an_override(write_recipe, tmp_path, capsys):
    recipe = write_recipe("lr.yaml", """
seed: 0
data: {source: {type: digits}, preprocess: [{type: standardize}]}
model: {layers: [{type: flatten}, {type: dense, units: 32, activation: relu}, {type: dense, units: 10}]}
train:
  epochs: 1
  optimizer: {type: adam, learning_rate: 1.0}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
""")
    plot, override = tmp_path / "lr.png", tmp_path / "tuned.yaml"
    assert main(["lr-find", str(recipe), "--steps", "150", "--min-lr", "1e-5", "--plot", str(plot),
                 "--write", str(override)]) == 0
    out = capsys.readouterr().out
    assert "suggested learning rate:" in out and plot.stat().st_size > 0
    from pipeline.recipe import load_recipe

    tuned = load_recipe(override)
    lr = tuned.plan.optimizer.kwargs["learning_rate"]
    assert f"suggested learning rate: {lr:.3g}" in out and 1e-4 < lr < 0.1
