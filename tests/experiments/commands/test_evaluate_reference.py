"""The fair reference protocols of `pseudocolor evaluate` (`--reference self`, `--region`): the simulated references
themselves, and end-to-end runs of the shipped model on bundled Kodak photos into a real sqlite MLflow store."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import mlflow
import pytest
import torch

from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from pseudocolor.experiments.commands import evaluate
from pseudocolor.lightning_modules.guided.reference_protocols import (
    EDGE_MARGIN,
    REFERENCE_SCALE,
    centre_mask,
    far_outside,
    mirrored_reference,
    rest_reference,
)

PHOTOS = [str(SAMPLES_DIR / name) for name in ("kodim03.jpg", "kodim05.jpg", "kodim23.jpg")]
RUN = ["--model", "pretrained", "--workers", "0", "--batch-size", "3"]
REFERENCE_COLUMNS = ["psnr_auto", "psnr_gain", "delta_l"]
REGION_COLUMNS = ["region_psnr", "region_psnr_auto", "region_gain", "outside_delta_ab"]


@pytest.fixture
def tracking_uri(shared_store, monkeypatch) -> str:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_store)
    return shared_store


def run_evaluate(output: Path, *flags: str) -> tuple[list[dict[str, str]], dict]:
    """Evaluate PHOTOS with the shipped model -> (per_image.csv rows, summary.json)."""
    assert evaluate.main([*PHOTOS, "--output", str(output), *RUN, *flags]) == 0
    with (output / "per_image.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return rows, json.loads((output / "summary.json").read_text())


def column(rows: list[dict[str, str]], name: str) -> list[float]:
    return [float(row[name]) for row in rows]


# ---------------------------------------------------------------------------------------- the references
def test_centre_mask_is_the_middle_half_of_each_side():
    mask = centre_mask(8, 12)
    expected = torch.zeros(8, 12, dtype=torch.bool)
    expected[2:6, 3:9] = True
    assert torch.equal(mask, expected)


def test_mirrored_reference_is_flipped_left_right_and_shrunk_to_three_quarters():
    rgb = torch.zeros(3, 40, 60)
    rgb[0, :, :15] = 1  # red on the left quarter, black elsewhere
    reference = mirrored_reference(rgb)
    assert REFERENCE_SCALE == 0.75 and reference.shape == (3, 30, 45)
    assert reference.min() >= 0 and reference.max() <= 1
    assert reference[:, 15, -1].tolist() == pytest.approx([1, 0, 0], abs=1e-6)  # red is now on the right
    assert reference[:, 15, 0].tolist() == pytest.approx([0, 0, 0], abs=1e-6)


def test_rest_reference_is_transparent_exactly_on_the_mask():
    rgb = torch.rand(3, 16, 20, generator=torch.Generator().manual_seed(0))
    mask = centre_mask(16, 20)
    reference = rest_reference(rgb, mask)
    assert reference.shape == (4, 16, 20)
    assert torch.equal(reference[:3], rgb)
    assert torch.equal(reference[3] == 0, mask) and torch.equal(reference[3] == 1, ~mask)


def test_far_outside_keeps_the_pixels_beyond_the_margin_in_chessboard_distance():
    mask = torch.zeros(20, 24, dtype=torch.bool)
    mask[8:10, 5:7] = True
    rows, cols = torch.meshgrid(torch.arange(20), torch.arange(24), indexing="ij")
    distance = torch.maximum((rows - rows.clamp(8, 9)).abs(), (cols - cols.clamp(5, 6)).abs())
    assert torch.equal(far_outside(mask, margin=3), distance > 3)
    assert EDGE_MARGIN == 32 and not far_outside(centre_mask(128, 128)).any()  # nothing lies 32 px beyond it


# ---------------------------------------------------------------------------------------- evaluate
@pytest.mark.slow
def test_region_mirrored_beats_automatic_inside_and_keeps_the_rest(tmp_path, tracking_uri):
    rows, summary = run_evaluate(tmp_path / "region", "--region", "mirrored")

    assert list(rows[0]) == ["file", *evaluate.PER_IMAGE, *REFERENCE_COLUMNS, *REGION_COLUMNS]
    for name in (*REFERENCE_COLUMNS, *REGION_COLUMNS):
        assert summary[name] == pytest.approx(statistics.fmean(column(rows, name)), abs=1e-9), name
    gains = [inside - auto for inside, auto in zip(column(rows, "region_psnr"), column(rows, "region_psnr_auto"))]
    assert column(rows, "region_gain") == pytest.approx(gains, abs=1e-4)
    assert summary["region_gain"] > 0  # transfer from the mirrored photo colours the region better than automatic
    assert summary["region_gain_min"] == pytest.approx(min(column(rows, "region_gain")))
    assert max(column(rows, "outside_delta_ab")) <= 1.0  # the background stays automatic beyond 32 px
    assert max(column(rows, "delta_l")) <= 1.0  # the photo's L is kept
    assert summary["reference_protocol"] == "the photo mirrored left-right and shrunk to 75 %"
    assert summary["region_protocol"].startswith("centre region (middle half of each side) from the photo mirrored")
    assert (summary["region"], summary["reference_mode"], summary["reference"]) == ("mirrored", "transfer", "none")

    client = mlflow.MlflowClient(tracking_uri)
    experiment_id = client.get_experiment_by_name("pseudocolor").experiment_id
    (run,) = client.search_runs(experiment_id, filter_string="params.region = 'mirrored'")
    assert run.data.params["reference_mode"] == "transfer"
    assert run.data.params["reference_protocol"] == summary["reference_protocol"]
    for name in ("region_gain", "region_gain_min", "outside_delta_ab", "psnr_gain", "delta_l", "region_gain_std"):
        expected = summary[name] if name in summary else summary["std"][name.removesuffix("_std")]
        assert run.data.metrics[name] == pytest.approx(expected), name


@pytest.mark.slow
def test_reference_self_transfer_beats_automatic_and_leaves_the_metrics_as_they_were(tmp_path, tracking_uri):
    automatic_rows, _ = run_evaluate(tmp_path / "automatic")
    rows, summary = run_evaluate(tmp_path / "self", "--reference", "self")

    assert list(rows[0]) == ["file", *evaluate.PER_IMAGE, *REFERENCE_COLUMNS]
    assert column(rows, "psnr_auto") == pytest.approx(column(automatic_rows, "psnr"), abs=1e-4)
    gains = [value - auto for value, auto in zip(column(rows, "psnr"), column(rows, "psnr_auto"))]
    assert column(rows, "psnr_gain") == pytest.approx(gains, abs=1e-4)
    assert summary["psnr_gain"] > 0 and "region_gain_min" not in summary
    assert (summary["reference"], summary["region"], summary["region_protocol"]) == ("self", "none", "no region")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--hints", "5", "--region", "rest"], "--hints cannot be combined with --reference self or --region"),
        (["--hints", "5", "--reference", "self"], "--hints cannot be combined with --reference self or --region"),
        (["--model", "gray", "--region", "mirrored"], "the gray baseline takes no hints"),
        (["--region", "rest", "--size", "64"], "--region needs --size >= 132"),
    ],
)
def test_incompatible_flags_end_in_one_sentence(tmp_path, tracking_uri, capsys, flags, message):
    argv = [*PHOTOS, "--output", str(tmp_path / "out"), *RUN, *flags]
    assert evaluate.main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
