"""Train one recipe on one device and with `distribution: data_parallel` over every local device,
from the same initial weights; print the two loss curves as JSON (for tests/test_data_parallel.py,
which starts this in a process with 4 forced CPU devices)."""

from __future__ import annotations

import json
import math
import sys


def train(recipe_file: str, overrides: list[str], x, y, weights=None):
    from pipeline.speed import execution_scope
    from pipeline.recipe import load_recipe
    from pipeline.assemble import build_compiled_model

    loaded = load_recipe(recipe_file, overrides)
    train = loaded.plan.recipe.train
    steps = math.ceil(len(x) / train.batch_size)
    lines = []
    with execution_scope(loaded.plan, steps, echo=lines.append):
        model = build_compiled_model(loaded, x.shape[1:], steps)
        if weights is not None:
            model.set_weights(weights)
        initial = model.get_weights()
        history = model.fit(x, y, batch_size=train.batch_size, epochs=train.epochs, shuffle=False, verbose=0)
        devices = sorted(str(d) for d in model.weights[0].value.sharding.device_set)
    return initial, history.history["loss"], lines, devices


if __name__ == "__main__":
    import numpy as np

    from pipeline.keras_compat import set_seed
    from pipeline.plugins import load_plugins

    load_plugins()
    set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 40, 1)).astype(np.float32)
    y = (x[:, :20, 0].sum(axis=1) > 0).astype(np.int32)  # learnable
    weights, one, _, one_devices = train(sys.argv[1], [], x, y)
    _, four, lines, four_devices = train(sys.argv[1], ["distribution={type: data_parallel}"], x, y, weights)
    print(json.dumps({"one": one, "four": four, "lines": lines, "one_devices": one_devices,
                      "four_devices": four_devices}))
