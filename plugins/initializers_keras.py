"""The LSUV initializer (Mishkin & Matas, 2016): an orthogonal draw that the trainer rescales on data.

Imported by the `lsuv` factory in `initializers.py` only. Keras calls an initializer with a shape and
nothing else, so the data-dependent half of LSUV cannot live here: this class draws the orthogonal
start (Saxe et al.) and carries LSUV's settings; `pipeline.model.data_init.apply_data_dependent_init`
finds the layers whose `kernel_initializer` is an `LSUV` and rescales their kernels on a batch of
training data. Without that step the kernel simply stays orthogonal.
"""

from __future__ import annotations

import keras

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
