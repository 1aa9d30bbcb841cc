"""MLflow models-from-code entry: loading the served model executes this file instead of unpickling one."""

import mlflow

from lightning_modules.serving import ColorizerModel

mlflow.models.set_model(ColorizerModel())
