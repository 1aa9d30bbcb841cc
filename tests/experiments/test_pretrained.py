"""The model shipped in the package (`--model pretrained`): small, safe to load, and better than no colour on
photos it never saw (the bundled Kodak samples; it was trained on photo-mix and imagenette-mini)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pseudocolor.experiments.commands import colorize, evaluate
from pseudocolor.lightning_modules.inference.model_spec import PRETRAINED_WEIGHTS

SAMPLES = Path(__file__).resolve().parents[2] / "datamodules" / "samples"
MAX_BYTES = 16 * 2**20


def summary(tmp_path: Path, name: str, *flags: str) -> dict:
    output = tmp_path / name
    assert evaluate.main([str(SAMPLES), "--output", str(output), "--workers", "0", *flags]) == 0
    return json.loads((output / "summary.json").read_text())


def test_the_shipped_weights_are_small():
    assert PRETRAINED_WEIGHTS.stat().st_size <= MAX_BYTES


@pytest.mark.slow
def test_pretrained_beats_the_colourless_baseline_with_real_colours_and_uses_hints(tmp_path, tracking_uri):
    gray = summary(tmp_path, "gray", "--model", "gray")
    automatic = summary(tmp_path, "auto", "--model", "pretrained")
    assert automatic["psnr"] > gray["psnr"]
    assert automatic["colorfulness"] >= 0.5 * automatic["colorfulness_ground_truth"]  # coloured, not sepia
    hinted = [summary(tmp_path, f"hints{n}", "--model", "pretrained", "--hints", str(n))["psnr"] for n in (10, 100)]
    assert automatic["psnr"] < hinted[0] < hinted[1]  # the hint curve rises
    # the network alone, without spreading, must use 100 hints too
    alone = summary(tmp_path, "network100", "--model", "pretrained", "--hints", "100", "--no-hint-spreading")["psnr"]
    assert automatic["psnr"] < alone < hinted[1]
    assert summary(tmp_path, "self", "--model", "pretrained", "--reference", "self")["psnr"] > automatic["psnr"]


def test_colorize_works_with_no_model_flag(tmp_path):
    assert colorize.main([str(SAMPLES / "kodim05.jpg"), "-o", str(tmp_path)]) == 0
    assert (tmp_path / "kodim05.png").is_file()
