"""Where a model comes from: the one `--model SPEC` string every command understands.

SPEC is a Lightning checkpoint (.ckpt), an exported weights file, `models:/NAME@ALIAS`,
`models:/NAME/VERSION`, `runs:/RUN_ID/PATH` (a pseudocolor MLflow model or a checkpoint artifact),
or `pretrained` (the weights shipped in the package). MLflow models are downloaded to a temporary
folder and only their weights file is read, with `torch.load(weights_only=True)`. MLflow is imported only
for `models:/` and `runs:/` specs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pseudocolor.lightning_modules.inference.weights import LoadedNetwork, ModelLoadError, load_network

PRETRAINED = "pretrained"
PRETRAINED_WEIGHTS = Path(__file__).resolve().parents[1] / "pretrained" / "colorizer.pt"
MLFLOW_SCHEMES = ("models:/", "runs:/")
WEIGHTS_ARTIFACT = "weights"  # key of the weights file among a pseudocolor MLflow model's artifacts


def load_spec(spec: str | Path, tracking_uri: str | None = None) -> LoadedNetwork:
    """The network of SPEC (see the module docstring), on the CPU; raises ModelLoadError naming SPEC.

    `tracking_uri` is the MLflow store for `models:/` and `runs:/` specs (default: $MLFLOW_TRACKING_URI,
    else the project's sqlite store).
    """
    spec = str(spec)
    if spec == PRETRAINED:
        if not PRETRAINED_WEIGHTS.is_file():
            raise ModelLoadError(
                "no pretrained model is bundled in this version; pass --model with a checkpoint, "
                "weights file or models:/NAME@ALIAS"
            )
        return load_network(PRETRAINED_WEIGHTS)
    if spec.startswith(MLFLOW_SCHEMES):
        with tempfile.TemporaryDirectory(prefix="pseudocolor-model-") as folder:
            return load_network(_download(spec, Path(folder), tracking_uri))
    return load_network(spec)


def _download(spec: str, folder: Path, tracking_uri: str | None) -> Path:
    """Download an MLflow model or artifact into `folder` -> the path of its weights or checkpoint file."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    from pseudocolor.lightning_modules.inference.mlflow_store import resolve_tracking_uri, using_store

    try:  # download_artifacts' tracking_uri argument does not reach the registry that `models:/` resolves through
        with using_store(resolve_tracking_uri(tracking_uri)):
            local = Path(mlflow.artifacts.download_artifacts(spec, dst_path=str(folder)))
    except (MlflowException, OSError) as error:
        message = getattr(error, "message", str(error)).splitlines()[0]
        raise ModelLoadError(
            f"{spec}: cannot be downloaded ({message}); check the name, alias or run id and MLFLOW_TRACKING_URI"
        ) from error
    if local.is_file():
        return local
    if not (local / "MLmodel").is_file():
        raise ModelLoadError(f"{spec}: is a folder without an MLmodel file; point at a pseudocolor model or checkpoint")
    artifacts = Model.load(local / "MLmodel").flavors.get("python_function", {}).get("artifacts", {})
    if WEIGHTS_ARTIFACT not in artifacts:
        raise ModelLoadError(
            f"{spec}: is not a pseudocolor model (no '{WEIGHTS_ARTIFACT}' artifact); use `pseudocolor register`"
        )
    return local / artifacts[WEIGHTS_ARTIFACT]["path"]
