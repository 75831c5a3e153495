"""The code MLflow runs to load the run's model (MLflow's "models from code": no pickle in the model).

`pipeline.tracking.logged_model` logs this file as the model's code; it names the installed
project's `RecipeModel`, so the logged model needs the project installed where it is loaded.
"""

from pipeline.tracking.pyfunc_model import RecipeModel  # first: it imports mlflow.pyfunc quietly

import mlflow.models  # noqa: E402

mlflow.models.set_model(RecipeModel())
