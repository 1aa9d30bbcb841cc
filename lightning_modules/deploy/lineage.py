"""Where a registered model comes from: its training run, checkpoint and validation figures.

`model_registry` logs a model into its training run when the store holds that run (the model version's source run
is then the training run), gives the LoggedModel the run's key params and the validation metrics of the
checkpoint's epoch, and gives the version the tags `source_run_id` and `checkpoint` and a description written here.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Run
from mlflow.entities.lifecycle_stage import LifecycleStage
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from pseudocolor.lightning_modules.inference.weights import load_weights_only

RUN_ID_KEY = "mlflow_run_id"  # top-level key of Lightning checkpoints: the run that wrote them (ShareMLflowRunId)
SOURCE_RUN_TAG = "source_run_id"
CHECKPOINT_TAG = "checkpoint"
COMMAND_TAG = "pseudocolor.command"  # set on the runs a command makes (evaluate, register): not training runs
REGISTER_COMMAND = "register"
# Run params that say how the weights were trained, matched by the end of their config key ('/' read as '.').
KEY_PARAMS = (
    "optimizer.init_args.lr",
    "width_multiplier",
    "data.init_args.root",
    "data.init_args.val_root",
    "data.init_args.batch_size",
    "trainer.max_epochs",
)
PSNR, SSIM, GRAY_PSNR, GRAY_SSIM, PSNR_GAIN = "val/psnr", "val/ssim", "val/gray_psnr", "val/gray_ssim", "val/psnr_gain"
VAL_METRICS = (PSNR, SSIM, GRAY_PSNR, GRAY_SSIM, PSNR_GAIN)
EPOCH_METRIC = "epoch"  # logged by Lightning beside every metric, 0-based


@dataclass(frozen=True)
class Lineage:
    """Where the weights of a model to register come from.

    Args:
        checkpoint: the checkpoint or weights file (relative to the working directory when inside it), the
            `runs:/` or `models:/` URI, or `pretrained`.
        run_id: the training run that wrote the weights, when known; it may lie in another store.
        epoch: the checkpoint's epoch (0-based); with `step` None, the metrics are those of that epoch's validation.
        step: the step of the validation that describes the weights, when known (a model registered before).
            Both None: the run's last validation.
        command: what registered the model, e.g. `pseudocolor register --model best.ckpt`.
    """

    checkpoint: str
    run_id: str | None = None
    epoch: int | None = None
    step: int | None = None
    command: str | None = None

    def tags(self) -> dict[str, str]:
        """`checkpoint`, and `source_run_id` when the training run is known."""
        return {CHECKPOINT_TAG: self.checkpoint} | ({SOURCE_RUN_TAG: self.run_id} if self.run_id else {})


def command_line(argv: list[str] | None = None) -> str:
    """The command being run, as a shell would take it: `pseudocolor fit --config ...` (default: sys.argv)."""
    argv = sys.argv if argv is None else argv
    return shlex.join([Path(argv[0]).name, *argv[1:]]) if argv else ""


def relative_to_cwd(path: str | Path) -> str:
    """`path` relative to the working directory when inside it, else absolute (normalised: no `..`)."""
    path = Path(os.path.abspath(path))
    return path.relative_to(Path.cwd()).as_posix() if path.is_relative_to(Path.cwd()) else path.as_posix()


def checkpoint_origin(path: str | Path) -> tuple[str | None, int | None]:
    """(MLflow run id, epoch) stored in a Lightning checkpoint by a fit; (None, None) for an exported weights file.
    Read with weights_only=True: no pickled code runs."""
    checkpoint = load_weights_only(path, "checkpoint")
    epoch = checkpoint.get("epoch")
    return checkpoint.get(RUN_ID_KEY), int(epoch) if isinstance(epoch, int) else None


def source_run_id(client: MlflowClient, run_id: str) -> str | None:
    """The training run behind run `run_id`: the run itself; for a run made by `pseudocolor register`, the run named
    in its `source_run_id` tag; None for another command's run or an empty one (what `register` made before it
    recorded lineage). A run this store does not hold is taken as it is: it may lie in another store."""
    try:
        run = client.get_run(run_id)
    except MlflowException:
        return run_id
    command = run.data.tags.get(COMMAND_TAG)
    if command is not None:
        return run.data.tags.get(SOURCE_RUN_TAG) if command == REGISTER_COMMAND else None
    return run_id if run.data.params or run.data.metrics else None


def training_run(client: MlflowClient, run_id: str | None) -> Run | None:
    """Run `run_id` when this store holds it, not deleted, and it is not a command's run: the run to log the model
    into. None otherwise."""
    if run_id is None:
        return None
    try:
        run = client.get_run(run_id)
    except MlflowException:
        return None
    if run.info.lifecycle_stage != LifecycleStage.ACTIVE or COMMAND_TAG in run.data.tags:
        return None
    return run


def validation_step(client: MlflowClient, run: Run, epoch: int | None) -> int | None:
    """The step of the run's last validation up to `epoch` (of its last validation when `epoch` is None or the run
    did not log Lightning's `epoch` metric); None when it logged no `val/psnr`."""
    steps = {metric.step for metric in client.get_metric_history(run.info.run_id, PSNR)}
    if epoch is not None and EPOCH_METRIC in run.data.metrics:
        epoch_at = {metric.step: metric.value for metric in client.get_metric_history(run.info.run_id, EPOCH_METRIC)}
        steps = {step for step in steps if step in epoch_at and epoch_at[step] <= epoch}
    return max(steps, default=None)


def validation_metrics(client: MlflowClient, run_id: str, step: int) -> dict[str, Metric]:
    """The run's VAL_METRICS logged at `step`, as logged (value, timestamp): name -> Metric."""
    found = {}
    for name in VAL_METRICS:
        at_step = [metric for metric in client.get_metric_history(run_id, name) if metric.step == step]
        if at_step:
            found[name] = at_step[-1]
    return found


def key_params(params: dict[str, str]) -> dict[str, str]:
    """The run params named in KEY_PARAMS (learning rate, network width, data folders, batch size, epochs)."""
    return {key: value for key, value in params.items() if key.replace("/", ".").endswith(KEY_PARAMS)}


def data_folders(run: Run) -> tuple[str | None, str | None]:
    """(training data, validation data) of a fit: its `data.init_args.root` / `val_root` params, else the sources of
    its dataset inputs (the DatasetInputs callback; they hold the photo folders' absolute paths)."""
    params = run.data.params
    train, val = params.get("data.init_args.root"), params.get("data.init_args.val_root")
    if train is not None:
        return train, val
    sources: dict[str, list[str]] = {"training": [], "validation": []}
    for dataset_input in run.inputs.dataset_inputs if run.inputs else []:
        context = {tag.key: tag.value for tag in dataset_input.tags}.get(MLFLOW_DATASET_CONTEXT)
        try:
            source = json.loads(dataset_input.dataset.source).get("uri", dataset_input.dataset.source)
        except (ValueError, AttributeError):
            source = dataset_input.dataset.source
        if context in sources and source not in sources[context]:
            sources[context].append(source)
    return ", ".join(sources["training"]) or None, ", ".join(sources["validation"]) or None


def describe(lineage: Lineage, run: Run | None, metrics: dict[str, Metric]) -> str:
    """The model version's description: the weights, the training run (data, epochs, settings), the validation
    figures against the colourless grey input, and the command that registered it."""
    epoch = f", epoch {lineage.epoch} (0-based)" if lineage.epoch is not None else ""
    lines = [f"Weights: {lineage.checkpoint}{epoch}."]
    if run is None:
        lines.append(
            f"Training run {lineage.run_id}: not in this store." if lineage.run_id else "No training run recorded."
        )
    else:
        lines.append(_training_summary(run))
    if PSNR in metrics:
        lines.append(_validation_summary(metrics))
    if lineage.command:
        lines.append(f"Registered by: {lineage.command}")
    return "\n".join(lines)


def _training_summary(run: Run) -> str:
    params = run.data.params
    train, val = data_folders(run)
    data = f" on {train}" if train else ""
    data += f" (validation: {val})" if val else ""
    epochs = run.data.metrics.get(EPOCH_METRIC)
    trained = f", {int(epochs) + 1} epochs" if epochs is not None else ""
    settings = [
        f"{label} {params[key]}"
        for label, key in (
            ("max_epochs", "trainer.max_epochs"),
            ("batch size", "data.init_args.batch_size"),
            ("lr", "model.optimizer.init_args.lr"),
            ("width", "model.network.init_args.width_multiplier"),
        )
        if key in params
    ]
    settings_text = f" ({', '.join(settings)})" if settings else ""
    return f"Training run: {run.info.run_name} ({run.info.run_id}){data}{trained}{settings_text}."


def _validation_summary(metrics: dict[str, Metric]) -> str:
    psnr = metrics[PSNR].value
    text = f"Validation (step {metrics[PSNR].step}): PSNR {psnr:.2f} dB"
    if GRAY_PSNR in metrics:
        gray = metrics[GRAY_PSNR].value
        gain = metrics[PSNR_GAIN].value if PSNR_GAIN in metrics else psnr - gray
        text += f" vs {gray:.2f} dB for the colourless grey input ({gain:+.2f} dB)"
    if SSIM in metrics:
        text += f"; SSIM {metrics[SSIM].value:.3f}"
        text += f" vs {metrics[GRAY_SSIM].value:.3f}" if GRAY_SSIM in metrics else ""
    return text + "."
