"""`pseudocolor colorize` starts cheaply: --help and flag errors import no torch, and a run imports neither the
training stack (Lightning, MLflow, torchmetrics) nor torchvision (only --box-region/--auto-region need it).

Each case runs the command in a fresh interpreter and lists the heavy packages it left in `sys.modules`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from pseudocolor.experiments.commands import colorize
from pseudocolor.lightning_modules.guided import regions, segmentation
from pseudocolor.lightning_modules.inference import model_spec

HEAVY = ("torch", "torchvision", "kornia", "lightning", "pytorch_lightning", "mlflow", "torchmetrics")
TRAINING_STACK = {"torchvision", "lightning", "pytorch_lightning", "mlflow", "torchmetrics"}
# Runs `pseudocolor ARGS...` and prints, as its last line, the exit status and the heavy packages it imported.
PROBE = f"""
import json, sys
from pseudocolor.experiments.cli import main
try:
    main(sys.argv[1:])
    status = 0
except SystemExit as exit:
    status = exit.code
print(json.dumps([status, sorted({{name.split(".")[0] for name in sys.modules}} & set({HEAVY!r}))]))
"""


def pseudocolor(*args: str) -> tuple[int, set[str], str]:
    """Run `pseudocolor ARGS...` in a new interpreter -> (exit status, heavy packages imported, stderr)."""
    command = [sys.executable, "-c", PROBE, *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    status, imported = json.loads(done.stdout.strip().splitlines()[-1])
    return status, set(imported), done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--help"], ""),
        (["photo.jpg"], "the following arguments are required: --output"),
        (["photo.jpg", "-o", "out", "--format", "gif"], "invalid choice: 'gif'"),
        (["photo.jpg", "-o", "out", "--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_help_and_flag_errors_import_no_torch(args, message):
    status, imported, err = pseudocolor("colorize", *args)

    assert status == (0 if args == ["--help"] else 2)
    assert message in err
    assert not imported, f"colorize {' '.join(args)} imported {sorted(imported)}; import them only after parsing"


def test_a_run_imports_neither_the_training_stack_nor_torchvision(tmp_path):
    photo = str(SAMPLES_DIR / "kodim01.jpg")
    status, imported, err = pseudocolor("colorize", photo, "-o", str(tmp_path), "--device", "cpu", "--no-progress")

    assert status == 0, err
    assert (tmp_path / "kodim01.png").is_file()
    assert "torch" in imported  # the probe sees a real run
    assert not imported & TRAINING_STACK, f"colorize imported {sorted(imported & TRAINING_STACK)}"


def test_the_defaults_help_shows_are_those_of_the_modules_that_own_them():
    assert colorize.PRETRAINED == model_spec.PRETRAINED
    assert colorize.REFERENCE_MODES == regions.REFERENCE_MODES
    assert colorize.SEGMENTER_MIN_SIZE == segmentation.DEFAULT_MIN_SIZE
    assert colorize.SEGMENTER_WEIGHTS_URL == segmentation.WEIGHTS_URL
