"""The run's model as MLflow's generic Python model (pyfunc): raw inputs in, answers out.

What `mlflow.pyfunc.load_model(uri)`, `mlflow models serve` and the model registry load. It wraps
the run's `model.keras` (which already holds the fitted preprocessing, `pipeline.data.preprocess_keras`,
and for regression the mapping back to the targets' units, `pipeline.model.target_scaling_keras`)
and says what its outputs mean (the `outputs_config` JSON artifact, written by `pipeline.tracking.logged_model`):

- classification: a table with the predicted class (`label`: the class name when the data named
  its classes, else the class id) and one probability column per class (`probability_<class>`);
- regression: the predictions, one column per target, in the targets' own units.

Imports mlflow at module top (the class must subclass `PythonModel`); Keras only when loaded, through
`pipeline.saving.load_model`, so the plugins' classes are registered first.
"""

import os
import sys
import warnings

import numpy as np

with warnings.catch_warnings():  # MLflow 3.17 warns about its own type hints when pyfunc is first imported
    warnings.filterwarnings("ignore", ".*Any type hint is inferred as AnyType", UserWarning)
    import mlflow.pyfunc

KERAS_FILE = "keras_model"  # the name of the `.keras` file among the pyfunc model's artifacts
# what the outputs mean, as a JSON artifact: MLflow would log a `model_config` as the run's params
CONFIG_FILE = "outputs_config"


class RecipeModel(mlflow.pyfunc.PythonModel):
    """Loads the `.keras` artifact and turns its outputs into labels or values (see the module doc)."""

    def load_context(self, context):
        import json

        with open(context.artifacts[CONFIG_FILE], encoding="utf-8") as f:
            config = json.load(f)
        if "keras" not in sys.modules:  # any backend loads a .keras file; the run's is known to work
            os.environ.setdefault("KERAS_BACKEND", config.get("backend", "jax"))
        from pipeline.saving import load_model

        self.config = config
        self.model = load_model(context.artifacts[KERAS_FILE], compile=False)

    def predict(self, context, model_input: np.ndarray, params=None):  # the hint: MLflow asks for one
        x = np.asarray(model_input, dtype=self.config["input_dtype"])
        outputs = self.model.predict(x, batch_size=self.config.get("batch_size", 256), verbose=0)
        return answer(outputs, self.config)


def answer(outputs, config: dict):
    """The network's raw `outputs` (logits, probabilities, values) as the pyfunc model returns them."""
    import pandas as pd

    outputs = np.asarray(outputs)
    if config["task"] == "regression":
        return outputs.reshape(len(outputs), -1).astype(np.float32)
    from pipeline.model.classification_report import probabilities

    p = probabilities(outputs, config.get("from_logits"))
    names = config.get("class_names") or list(range(p.shape[1]))
    table = pd.DataFrame({"label": np.asarray(names, dtype=object)[p.argmax(axis=1)]})
    if config.get("class_names") is None:
        table["label"] = table["label"].astype(np.int64)
    for i, name in enumerate(names):
        table[f"probability_{name}"] = p[:, i].astype(np.float32)
    return table
