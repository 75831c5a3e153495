"""Logging the run's model as an MLflow 3 logged model: loadable, servable, registrable.

A pyfunc model (`pipeline.tracking.pyfunc_model.RecipeModel`) around the run's `model.keras`, not
MLflow's Keras flavor: the flavor reloads with plain `keras.saving.load_model`, which cannot find
the classes of the plugins a model uses (`Could not locate class ...`), and it answers with the
network's raw outputs (logits, class ids, a one-unit logit). The wrapper loads through
`pipeline.saving.load_model` and answers in the data's terms (class names and probabilities,
regression values in the targets' units); the preprocessing is inside the `.keras` file, so it
takes raw inputs. Signature and input example come from the run's raw data; the model is linked to
the run's end-of-run metrics (those logged at its `step`), and registered when the recipe says
`track: {register: NAME}`.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

NAME = "model"  # the logged model's name (the run's "Logged models" list)
ENTRY = Path(__file__).with_name("pyfunc_entry.py")  # the model's code (MLflow's "models from code")


def requirements(backend: str, distributions: dict[str, str]) -> list[str]:
    """What the model needs installed: the project, Keras, the backend, MLflow and the plugins'
    distributions (`{distribution: version}`). Given explicitly: MLflow would otherwise infer them by
    loading the model in a subprocess, which costs seconds per run."""
    from importlib.metadata import PackageNotFoundError, version

    names = {"keras-recipe-pipeline", "keras", "mlflow", backend if backend in ("tensorflow", "torch") else "jax"}
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    out.update({d: v for d, v in distributions.items() if v})
    return [f"{name}=={v}" for name, v in sorted(out.items())]


@contextmanager
def _quiet(logger: str):
    """The logger's INFO lines off for the block ("Inferring model signature from input example":
    inferring it is what we ask for, not news for the run's terminal output)."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def log_model(run_id: str, keras_file: str | Path, raw_example, config: dict, step: int,
              pip_requirements: list[str], register: str | None = None) -> str:
    """Log `keras_file` (a model taking raw inputs) as the run's MLflow model; its `models:/` URI.

    Args:
        raw_example: a few raw inputs (NumPy), the input example; the signature is inferred from it.
        config: what the outputs mean (`pyfunc_model.RecipeModel`): task, class_names, from_logits,
            input_dtype, backend.
        step: the run's metrics logged at this step are linked to the model (its end-of-run metrics).
        register: a registered model name to add this model to as a new version, or None.
    """
    from pipeline.tracking.pyfunc_model import CONFIG_FILE, KERAS_FILE  # first: imports mlflow.pyfunc quietly

    import mlflow
    from mlflow.models import Model

    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    # made here, in the run's experiment (Model.log would put it in the global "active" experiment)
    created = client.create_logged_model(run.info.experiment_id, NAME, source_run_id=run_id,
                                         params=dict(run.data.params))
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp, _quiet("mlflow"):
        # about missing values in integer inputs; ours is the output class id
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer column", UserWarning)
        config_file = Path(tmp) / f"{CONFIG_FILE}.json"  # not `model_config`: MLflow logs that as run params
        config_file.write_text(json.dumps(config), encoding="utf-8")
        info = Model.log(None, name=NAME, flavor=mlflow.pyfunc, run_id=run_id, model_id=created.model_id,
                         step=step, python_model=str(ENTRY),
                         artifacts={KERAS_FILE: str(keras_file), CONFIG_FILE: str(config_file)},
                         input_example=raw_example, pip_requirements=pip_requirements,
                         registered_model_name=register)
    return info.model_uri
