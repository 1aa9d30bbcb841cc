"""The `pseudocolor` command: LightningCLI's fit/validate/test/predict plus the project's own tools."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import MLFlowLogger

from datamodules.colorization_datamodule import ColorizationDataModule
from experiments.tracking import MLflowSaveConfig, is_launcher_rank, prepare_store, wait_for_store
from lightning_modules.callbacks import ImageGridLogger, ShareMLflowRunId, SkippedImagesMonitor
from lightning_modules.colorization_module import ColorizationModule

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"
LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")
# Subcommands that are not LightningCLI's: name -> module whose `main(argv) -> int` runs it.
TOOLS = {
    "evaluate": "experiments.evaluate",
    "colorize": "experiments.colorize",
    "register": "experiments.register",
    "export": "experiments.export",
}


class PseudocolorCLI(LightningCLI):
    """LightningCLI with the default config, MLflow config logging and the always-on callbacks."""

    def __init__(self, args: list[str] | None = None) -> None:
        super().__init__(
            ColorizationModule,
            ColorizationDataModule,
            subclass_mode_data=True,
            save_config_callback=MLflowSaveConfig,
            save_config_kwargs={"save_to_log_dir": False},
            parser_kwargs={name: {"default_config_files": [str(DEFAULT_CONFIG)]} for name in LIGHTNING_SUBCOMMANDS},
            args=args,
            auto_configure_optimizers=False,  # the module takes optimizer/scheduler callables itself
        )

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/psnr",
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                "checkpoint.filename": "best-{epoch:03d}",
            }
        )
        parser.add_lightning_class_args(ImageGridLogger, "image_grid")
        parser.add_lightning_class_args(SkippedImagesMonitor, "skipped_images")
        parser.add_lightning_class_args(ShareMLflowRunId, "share_run_id")

    def before_instantiate_classes(self) -> None:
        logger_config = self.config[self.subcommand].trainer.logger
        if logger_config and "MLFlowLogger" in str(logger_config.class_path):
            init_args = logger_config.init_args
            store = (init_args.get("tracking_uri"), init_args.get("experiment_name", "pseudocolor"))
            # Rank 0 alone creates/migrates the store; other ranks wait for it before their logger opens it.
            if is_launcher_rank():
                prepare_store(*store)
            else:
                wait_for_store(*store)

    def after_fit(self) -> None:
        logger = self.trainer.logger
        if self.trainer.is_global_zero and isinstance(logger, MLFlowLogger):
            print(
                f"\nMLflow run {logger.run_id} in experiment '{logger._experiment_name}' at {logger._tracking_uri}\n"
                f"best checkpoint: {self.trainer.checkpoint_callback.best_model_path}\n"
                f"look at it with: mlflow ui --backend-store-uri {logger._tracking_uri}"
            )


def main(args: list[str] | None = None) -> None:
    """Entry point of the `pseudocolor` console script."""
    args = sys.argv[1:] if args is None else args
    if args and args[0] in TOOLS:
        sys.exit(importlib.import_module(TOOLS[args[0]]).main(args[1:]))
    PseudocolorCLI(args=args)


if __name__ == "__main__":
    main()
