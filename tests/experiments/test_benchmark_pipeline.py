"""`benchmark_pipeline` end to end on two bundled photos with the smallest settings: every row of the table comes
out with a figure, and every ratio the issue targets is given."""

from __future__ import annotations

import re
import shutil

import pytest

from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from pseudocolor.experiments.scripts import benchmark_pipeline

ROWS = [
    "JPEG decode + resize to 64 px alone (1 workers)",
    "`pseudocolor evaluate --model gray`",
    "its own report (after imports and model loading; MLflow set-up included)",
    "`pseudocolor evaluate --model pretrained`",
    "its own report (after imports and model loading; MLflow set-up included)",
    "network alone, batch 2",
    "`pseudocolor colorize FOLDER -o TMP`",
    "its own report (after start-up and model loading)",
    "`pseudocolor colorize --help`",
    '`python -c "import torch, torchvision, kornia"`',
]
RATIOS = ["gray/decode", "pretrained/min(decode, network)", "colorize/network", "--help/imports"]


@pytest.mark.slow
def test_the_table_has_every_row_and_ratio(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("kodim03.jpg", "kodim23.jpg"):
        shutil.copy(SAMPLES_DIR / name, photos / name)
    argv = ["--data", str(photos), "--device", "cpu", "--size", "64", "--batch", "2", "--workers", "1"]

    benchmark_pipeline.main([*argv, "--network-batches", "1", "--repeats", "1"])

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"2 photos in {photos}, device cpu")
    table = lines[1:]
    assert table[:2] == ["| measurement | images/s or s | ratio (target) |", "|---|---:|---|"]
    assert [row.split(" | ")[0].strip("| ") for row in table[2:]] == ROWS
    assert all(re.search(r" \| \d+\.\d\d (images/s|s) \|", row) for row in table[2:])
    ratios = " ".join(table)
    assert all(f"{ratio} " in ratios for ratio in RATIOS)
