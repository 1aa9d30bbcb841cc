"""MLflow models-from-code entry: loading the served model executes this file instead of unpickling one."""

import mlflow

from pseudocolor.lightning_modules.deploy.serving import ColorizerModel

mlflow.models.set_model(ColorizerModel())
