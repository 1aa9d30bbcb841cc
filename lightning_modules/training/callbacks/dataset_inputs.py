"""Records the photos a fit trains and validates on as MLflow dataset inputs of its run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from lightning.pytorch import Callback
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.utilities import rank_zero_warn
from mlflow.data.meta_dataset import MetaDataset
from mlflow.data.sources import LocalArtifactDatasetSource
from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

CONTEXTS = {"train": "training", "val": "validation"}  # datamodule split -> MLflow's dataset context
DIGEST_LENGTH = 16


def file_list_digest(root: Path, files: list[Path]) -> str:
    """Hex digest of the sorted file names relative to `root` (the same photos elsewhere give the same digest)."""
    names = sorted(Path(file).relative_to(root).as_posix() for file in files)
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:DIGEST_LENGTH]


def photo_folder_dataset(root: Path, files: list[Path]) -> Dataset:
    """`files` below `root` as an MLflow dataset: named after the folder, its source the folder's absolute path,
    its digest `file_list_digest`, its profile {"photos": count}."""
    source = LocalArtifactDatasetSource(str(Path(root).resolve()))
    fields = MetaDataset(source, name=Path(root).resolve().name, digest=file_list_digest(root, files)).to_dict()
    return Dataset(
        name=fields["name"], digest=fields["digest"], source_type=fields["source_type"], source=fields["source"],
        profile=json.dumps({"photos": len(files)}),
    )


class DatasetInputs(Callback):
    """At fit start, on rank 0, logs one MLflow dataset input per folder of the training and validation photos
    (datamodules with `train_files`, `val_files` and `source_folders`), tagged with the context "training" or
    "validation": the runs table and each run's page then show what it was trained on. A store that refuses the
    record gets a warning, not a failed fit."""

    def on_fit_start(self, trainer, pl_module) -> None:
        logger, datamodule = trainer.logger, trainer.datamodule
        if not trainer.is_global_zero or not isinstance(logger, MLFlowLogger):
            return
        if not all(hasattr(datamodule, name) for name in ("train_files", "val_files", "source_folders")):
            return
        inputs = []
        for split, context in CONTEXTS.items():
            files = datamodule.train_files() if split == "train" else datamodule.val_files()
            for root in datamodule.source_folders(split):
                below = [file for file in files if Path(file).is_relative_to(root)]
                tags = [InputTag(MLFLOW_DATASET_CONTEXT, context)]
                inputs.append(DatasetInput(photo_folder_dataset(Path(root), below), tags))
        try:
            logger.experiment.log_inputs(logger.run_id, datasets=inputs)
        except Exception as error:  # noqa: BLE001 - a record of the data is not worth stopping the fit for
            rank_zero_warn(f"the run's dataset inputs were not recorded: {error}")
