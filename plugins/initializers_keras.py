"""The LSUV initializer (Mishkin & Matas, 2016): an orthogonal draw that the trainer rescales on data.

Imported by the `lsuv` factory in `initializers.py` only. Keras calls an initializer with a shape and
nothing else, so this class draws the orthogonal start (Saxe et al.) and offers `calibrate`, the
data-dependent half: `pipeline.model.data_init.apply_data_dependent_init` finds the layers whose
`kernel_initializer` offers it and hands each its output on a batch of training data until it is
done. Without that step the kernel simply stays orthogonal.
"""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np

PACKAGE = "pipeline"


@keras.saving.register_keras_serializable(package=PACKAGE)
class LSUV(keras.initializers.Orthogonal):
    """Orthogonal kernel, later rescaled until the layer's output variance is 1 (within `tol`).

    Args:
        tol: stop rescaling once |Var(output) - 1| < tol. Defaults to 0.1 (the paper's).
        max_iter: at most this many rescaling steps per layer. Defaults to 10 (the paper's).
        batch_size: examples in the calibration batch drawn from the training split. Defaults to 256.
        gain: factor of the orthogonal draw (irrelevant once rescaled). Defaults to 1.0.
        seed: seed of the orthogonal draw. Defaults to None.
    """

    def __init__(self, tol=0.1, max_iter=10, batch_size=256, gain=1.0, seed=None):
        if not tol > 0:
            raise ValueError(f"Expected tol > 0 for LSUV. Received: tol={tol}")
        if int(max_iter) < 1 or int(batch_size) < 1:
            raise ValueError(f"Expected max_iter >= 1 and batch_size >= 1 for LSUV. "
                             f"Received: max_iter={max_iter}, batch_size={batch_size}")
        super().__init__(gain=gain, seed=seed)
        self.tol = float(tol)
        self.max_iter = int(max_iter)
        self.batch_size = int(batch_size)

    def get_config(self):
        return {**super().get_config(), "tol": self.tol, "max_iter": self.max_iter,
                "batch_size": self.batch_size}

    def calibrate(self, layer, output, steps: int) -> dict | None:
        """One LSUV step (the `DataDependent` protocol of `pipeline.model.data_init`): the paper's
        `W <- W / sqrt(Var(B))`, where B is the layer's output on the calibration batch before any
        fused activation (one step is exact unless the bias differs between units), until
        |Var(B) - 1| < tol or max_iter steps. Returns {"variance": final Var(B), "steps": rescalings}."""
        variance = float(np.var(keras.ops.convert_to_numpy(output).astype(np.float64)))
        finite = variance > 0 and math.isfinite(variance)
        if finite and abs(variance - 1.0) >= self.tol and steps < self.max_iter:
            layer.kernel.assign(keras.ops.multiply(layer.kernel, 1.0 / math.sqrt(variance)))
            return None
        if not finite:
            warnings.warn(f"LSUV: layer '{layer.name}' outputs variance {variance} on the calibration "
                          f"batch; its kernel cannot be scaled to unit variance", UserWarning, stacklevel=2)
        return {"variance": variance, "steps": steps}
