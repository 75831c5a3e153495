"""The code MLflow runs to load the run's model (MLflow's "models from code": no pickle in the model).

`pipeline.tracking.logged_model` logs this file as the model's code; it names the installed
project's `RecipeModel`, so the logged model needs the project installed where it is loaded.
"""

import mlflow.models

from pipeline.tracking.pyfunc_model import RecipeModel

mlflow.models.set_model(RecipeModel())
