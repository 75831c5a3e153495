"""Build a recipe's model, load given initial weights, predict, train a few steps: the same code
on every backend, for tests/test_backend_parity.py (run as a script in a fresh process for the
second backend: KERAS_BACKEND decides)."""

from __future__ import annotations

import sys

import numpy as np


def predict_and_train(recipe_file: str, arrays: dict) -> dict:
    """{'initial': weights, 'predictions' of the untrained model, 'losses' per step, 'loss_after'}."""
    from pipeline.keras_compat import set_seed
    from pipeline.plugins import load_plugins
    from pipeline.recipe import load_recipe
    from pipeline.assemble import build_compiled_model

    load_plugins()
    loaded = load_recipe(recipe_file)
    set_seed(loaded.plan.recipe.seed)
    x, y = arrays["x"], arrays["y"]
    batch = loaded.plan.recipe.train.batch_size
    model = build_compiled_model(loaded, x.shape[1:], steps_per_epoch=len(x) // batch)
    if "w0" in arrays:
        model.set_weights([arrays[f"w{i}"] for i in range(len(model.weights))])
    out = {f"w{i}": np.asarray(w) for i, w in enumerate(model.get_weights())}
    out["predictions"] = np.asarray(model.predict(x, batch_size=batch, verbose=0))
    history = model.fit(x, y, batch_size=batch, epochs=loaded.plan.recipe.train.epochs, shuffle=False,
                        verbose=0).history
    out["losses"] = np.asarray(history["loss"])
    out["loss_after"] = np.asarray(model.evaluate(x, y, batch_size=batch, verbose=0, return_dict=True)["loss"])
    return out


if __name__ == "__main__":
    recipe, inputs, output = sys.argv[1:]
    with np.load(inputs) as arrays:
        np.savez(output, **predict_and_train(recipe, dict(arrays)))
