"""`pseudocolor fit|validate|test|predict`: LightningCLI with the default config, MLflow tracking and resume."""

from __future__ import annotations

import sys
from pathlib import Path

from lightning.pytorch.cli import LightningCLI

from pseudocolor.datamodules.colorization_datamodule import ColorizationDataModule
from pseudocolor.experiments.resume import ResumeError, checkpoint_folders, checkpoint_run_id, newest_last_checkpoint
from pseudocolor.experiments.tracking.buffered_client import fail_fast_http
from pseudocolor.experiments.tracking.logger import MLflowSaveConfig, TrackedMLFlowLogger
from pseudocolor.experiments.tracking.store import find_experiment_id, is_launcher_rank, prepare_store, wait_for_store
from pseudocolor.experiments.tracking.unsent import UNSENT_STATUS, sync_hint
from pseudocolor.lightning_modules.training.callbacks import (
    BestAndLastCheckpoint,
    DatasetInputs,
    ImageGridLogger,
    RunTags,
    ShareMLflowRunId,
    SkippedImagesMonitor,
    StepCheckpoint,
    SystemMetrics,
)
from pseudocolor.lightning_modules.training.colorization_module import ColorizationModule

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"
LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")


def _flags(command_line: list[str]) -> list[tuple[str, str]]:
    """(key, value) of each `--key value`, `--key=value` or bare `--key` (value '') of a `pseudocolor fit` command
    line, in order."""
    flags, words = [], [word for word in command_line if word != "fit"]
    index = 0
    while index < len(words):
        word = words[index]
        key, _, value = word[2:].partition("=") if word.startswith("--") else ("", "", "")
        if key and not value and index + 1 < len(words) and not words[index + 1].startswith("--"):
            value, index = words[index + 1], index + 1
        index += 1
        if key:
            flags.append((key, value))
    return flags


def run_name(command_line: list[str]) -> str:
    """A readable MLflow run name from a `pseudocolor fit` command line: the config files' stems, then each value set
    on the command line as last-key=value (`--config a.yaml --model.optimizer.init_args.lr 0.001` -> 'a lr=0.001');
    'default' when nothing is set. MLflow's own random names repeat: `seed_everything` seeds the draw."""
    parts = []
    for key, value in _flags(command_line):
        if key == "config":
            parts.append(Path(value).stem)
        elif key not in ("run_name", "run_description", "resume"):
            parts.append(
                f"{key.rsplit('.', 1)[-1]}={Path(value).name if '/' in value else value}"
                if value
                else key.rsplit(".", 1)[-1]
            )
    return " ".join(parts) or "default"


def config_comment(command_line: list[str]) -> str:
    """The run description a `pseudocolor fit` command line implies: the comment lines at the top of the last
    `--config` file it names, without their '# ' (the configs in experiments/configs/ say there what they are for
    and why); '' without a config file or such a comment."""
    configs = [Path(value) for key, value in _flags(command_line) if key == "config" and Path(value).is_file()]
    if not configs:
        return ""
    lines = []
    for line in configs[-1].read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].removeprefix(" "))
    return "\n".join(lines).strip()


class PseudocolorCLI(LightningCLI):
    """LightningCLI with the default config, MLflow config logging and the always-on callbacks."""

    def __init__(self, args: list[str] | None = None) -> None:
        self._command_line = list(sys.argv[1:] if args is None else args)  # what the user typed names the run
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
        parser.add_lightning_class_args(BestAndLastCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/psnr",
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                "checkpoint.filename": "best-{epoch:03d}",
                "checkpoint.enable_version_counter": False,  # one last.ckpt, shared with step_checkpoint
            }
        )
        parser.add_lightning_class_args(StepCheckpoint, "step_checkpoint")
        parser.link_arguments("checkpoint.dirpath", "step_checkpoint.dirpath")
        parser.add_lightning_class_args(ImageGridLogger, "image_grid")
        parser.add_lightning_class_args(SkippedImagesMonitor, "skipped_images")
        parser.add_lightning_class_args(ShareMLflowRunId, "share_run_id")
        parser.add_lightning_class_args(DatasetInputs, "dataset_inputs")
        parser.add_lightning_class_args(RunTags, "run_tags")
        parser.add_lightning_class_args(SystemMetrics, "system_metrics")

    def _prepare_subcommand_parser(self, klass, subcommand: str, **kwargs):
        # LightningCLI has no public per-subcommand hook (add_arguments_to_parser is not told the subcommand);
        # tests/test_private_apis.py fails if this method disappears.
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if subcommand == "fit":
            parser.add_argument(
                "--resume", action="store_true", help="continue the newest run of the experiment (= --ckpt_path last)"
            )
            parser.add_argument(
                "--run_name",
                default=None,
                help="MLflow run name (default: the config files and the values set on the command line, "
                "e.g. 'photo_mix_cpu lr=0.001')",
            )
            parser.add_argument(
                "--run_description",
                default=None,
                help="MLflow run description, shown on the run's page (default: the comment lines at the top of the "
                "last --config file)",
            )
            parser.add_argument(
                "--tracking_wait",
                type=float,
                default=None,
                help="seconds the end of training waits for an unreachable MLflow server before keeping the unsent "
                "writes for later (default: trainer.logger.init_args.drain_timeout, 300)",
            )
        return parser

    def parse_arguments(self, parser, args) -> None:
        """After parsing, before LightningCLI reads a checkpoint file's hyperparameters: refuse an unreadable one
        (damaged, or holding pickled code) in one sentence instead of torch's traceback."""
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path and Path(ckpt_path).is_file():
            checkpoint_run_id(ckpt_path)  # raises ResumeError in one sentence

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        logger_config = config.trainer.logger
        tracked = bool(logger_config) and "MLFlowLogger" in str(logger_config.class_path)
        if tracked:
            fail_fast_http()
            init_args = logger_config.init_args
            store = (init_args.get("tracking_uri"), init_args.get("experiment_name", "pseudocolor"))
            # Rank 0 alone creates/migrates the store; other ranks wait for it before their logger opens it.
            if is_launcher_rank():
                prepare_store(*store)
            else:
                wait_for_store(*store)
        if self.subcommand == "fit":
            if tracked and config.get("tracking_wait") is not None:
                logger_config.init_args["drain_timeout"] = config.tracking_wait
            self._resolve_resume(config, store if tracked else None)
            if tracked and logger_config.init_args.get("run_id") is None:
                logger_config.init_args["run_name"] = (
                    config.get("run_name") or logger_config.init_args.get("run_name") or run_name(self._command_line)
                )
                description = config.get("run_description") or config_comment(self._command_line)
                if description:  # MLflow's UI shows this tag as the run's description
                    tags = dict(logger_config.init_args.get("tags") or {})
                    logger_config.init_args["tags"] = {**tags, "mlflow.note.content": description}

    @staticmethod
    def _resolve_resume(config, store: tuple[str | None, str] | None) -> None:
        """`--resume` / `--ckpt_path last`: the newest last checkpoint of the experiment; with any checkpoint
        file, training continues in the MLflow run that wrote it (unless the logger names a run)."""
        if config.get("resume"):
            if config.ckpt_path not in (None, "last"):
                raise ResumeError(f"--resume continues the newest run; drop it or --ckpt_path {config.ckpt_path}")
            config.ckpt_path = "last"
        if config.ckpt_path in (None, "best", "hpc", "registry"):
            return
        if config.ckpt_path == "last":
            experiment_id = find_experiment_id(*store) if store else None
            root, dirpath = config.trainer.default_root_dir, config.checkpoint.dirpath
            path = newest_last_checkpoint(checkpoint_folders(root, experiment_id, dirpath))
            if path is None:
                where = dirpath or Path(root, experiment_id or "<experiment id>", "*", "checkpoints")
                raise ResumeError(f"no last checkpoint to resume from in {where}; start without --ckpt_path/--resume")
            config.ckpt_path = str(path)
        run_id = checkpoint_run_id(config.ckpt_path)
        if store and run_id and config.trainer.logger.init_args.get("run_id") is None:
            config.trainer.logger.init_args["run_id"] = run_id

    def after_fit(self) -> None:
        logger = self.trainer.logger
        if self.trainer.is_global_zero and isinstance(logger, TrackedMLFlowLogger):
            print(
                f"\nMLflow run {logger.run_id} in experiment '{logger.experiment_name}' at {logger.tracking_uri}\n"
                f"best checkpoint: {self.trainer.checkpoint_callback.best_model_path}\n"
                f"look at it with: mlflow ui --backend-store-uri {logger.tracking_uri}"
            )
            if logger.unsent is not None:
                print(
                    f"tracking incomplete: the MLflow server at {logger.tracking_uri} did not answer, so run "
                    f"{logger.run_id}'s last writes wait in {logger.unsent.parent}; the next pseudocolor command on "
                    f"this store sends them, or now: {sync_hint(logger.unsent_dir)} (exit status {UNSENT_STATUS})",
                    flush=True,
                )
                sys.exit(UNSENT_STATUS)
