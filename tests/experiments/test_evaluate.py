"""`pseudocolor evaluate` end to end on photos written by the test, into a real sqlite MLflow store."""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from PIL import Image

from pseudocolor.datamodules.color_space import rgb_to_lab, to_uint8
from pseudocolor.datamodules.transforms import squash_transform
from pseudocolor.experiments.commands import evaluate
from pseudocolor.experiments.commands.evaluation_plots import PLOT_FILES
from pseudocolor.experiments.tracking.store import DEFAULT_EXPERIMENT
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.metrics import METRICS, psnr
from pseudocolor.lightning_modules.networks.eccv16 import ECCV16Net
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet
from tests.conftest import write_grey_photo, write_photo

FAST = ["--size", "32", "--workers", "0", "--batch-size", "2", "--max-bad-fraction", "0.2"]  # `photos`: 1 of 5 bad


@pytest.fixture
def tracking_uri(shared_store, monkeypatch) -> str:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_store)
    return shared_store


@pytest.fixture
def photos(tmp_path) -> Path:
    """A folder of 3 colour photos (one in a sub-folder), 1 grey photo and 1 corrupt file."""
    folder = tmp_path / "photos"
    write_photo(folder / "a.jpg", seed=1)
    write_photo(folder / "b.png", height=64, width=48, seed=2)
    write_photo(folder / "sub" / "c.jpg", seed=3)
    write_grey_photo(folder / "grey.jpg")
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    return folder


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_gray_baseline_writes_consistent_outputs_and_an_mlflow_run(photos, tmp_path, tracking_uri, capsys):
    output = tmp_path / "out"
    assert evaluate.main([str(photos), "--model", "gray", "--output", str(output), *FAST]) == 0

    rows = read_csv(output / "per_image.csv")
    summary = json.loads((output / "summary.json").read_text())
    assert [Path(row["file"]).name for row in rows] == ["a.jpg", "b.png", "c.jpg"]
    assert (summary["n_images"], summary["n_skipped_grey"], summary["n_skipped_unreadable"]) == (3, 1, 1)
    assert summary["skipped_unreadable"] == [str(photos / "broken.jpg")]
    for name in METRICS:
        assert summary[name] == pytest.approx(statistics.fmean(float(row[name]) for row in rows), abs=1e-9), name
    assert summary["ssim_l"] > 0.99 and summary["colorfulness"] < 1 < summary["colorfulness_ground_truth"]
    assert all((output / name).stat().st_size > 0 for name in PLOT_FILES)

    client = mlflow.MlflowClient(tracking_uri)
    experiment_id = client.get_experiment_by_name("pseudocolor").experiment_id
    (run,) = client.search_runs(experiment_id, filter_string=f"params.data = '{photos}'")
    assert run.data.metrics["psnr"] == pytest.approx(summary["psnr"])
    assert run.data.params["model"] == "gray"
    artifacts = {Path(item.path).name for item in client.list_artifacts(run.info.run_id, "evaluation")}
    assert {"per_image.csv", "summary.json", *PLOT_FILES} <= artifacts
    assert "broken.jpg" in capsys.readouterr().err


def test_psnr_follows_the_protocol(photos, tmp_path, tracking_uri):
    """Resize to size x size, colourless output quantised to 8 bits, PSNR on the 0-255 scale."""
    output = tmp_path / "out"
    assert evaluate.main([str(photos / "a.jpg"), "--model", "gray", "--output", str(output), *FAST]) == 0
    truth = np.asarray(Image.open(photos / "a.jpg").convert("RGB"))
    truth = torch.from_numpy(truth.copy()).permute(2, 0, 1)
    truth = squash_transform(32)(truth)[None]
    expected = psnr(to_uint8(evaluate.gray_baseline(rgb_to_lab(truth / 255.0)[:, :1])), truth).item()
    assert float(read_csv(output / "per_image.csv")[0]["psnr"]) == pytest.approx(expected, abs=1e-4)


def test_weights_file_model_and_limit(photos, tmp_path, tracking_uri):
    weights = Colorizer(ResidualCaffeNet(width_multiplier=0.25), size=32).save_weights(tmp_path / "tiny.pt")
    output = tmp_path / "out"
    assert evaluate.main([str(photos), "--model", str(weights), "--output", str(output), "--limit", "2", *FAST]) == 0
    summary = json.loads((output / "summary.json").read_text())
    assert summary["n_images"] == 2 and summary["model"] == str(weights)
    assert len(read_csv(output / "per_image.csv")) == 2


def test_list_file_selects_from_one_folder(photos, tmp_path, tracking_uri):
    list_file = tmp_path / "ctest.txt"
    list_file.write_text("/sub/c.jpg 0\n/a.jpg 0\n")
    output = tmp_path / "out"
    argv = [str(photos), "--list", str(list_file), "--model", "gray", "--output", str(output), *FAST]
    assert evaluate.main(argv) == 0
    assert [Path(row["file"]).name for row in read_csv(output / "per_image.csv")] == ["c.jpg", "a.jpg"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["missing_folder"], "no such file or folder"),
        (["{photos}", "{photos}", "--list", "x.txt"], "--list needs exactly one DATA folder"),
        (["{photos}", "--model", "{photos}/grey.jpg"], "is damaged or not a PyTorch file"),
        (["{photos}/grey.jpg"], "no colour photo to evaluate"),
    ],
)
def test_user_errors_end_in_one_sentence(photos, tmp_path, tracking_uri, capsys, arguments, message):
    argv = [argument.format(photos=photos) for argument in arguments]
    assert evaluate.main([*argv, "--output", str(tmp_path / "out"), *FAST]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_hints_for_an_automatic_only_network_end_in_one_sentence(photos, tmp_path, tracking_uri, capsys):
    weights = Colorizer(ECCV16Net(), size=32).save_weights(tmp_path / "eccv16.pt")
    argv = [str(photos), "--model", str(weights), "--hints", "10", "--output", str(tmp_path / "out"), *FAST]
    assert evaluate.main(argv) == 2
    error = capsys.readouterr().err
    assert "needs a model with hint inputs, but this ECCV16Net colours automatically only" in error
    assert "Traceback" not in error


def test_hints_and_self_reference_run_change_the_output_and_are_recorded(photos, tmp_path, tracking_uri):
    weights = Colorizer(ResidualCaffeNet(width_multiplier=0.25), size=32).save_weights(tmp_path / "tiny.pt")
    summaries = {}
    runs = {
        "none": [],
        "hints": ["--hints", "10"],
        "network": ["--hints", "10", "--no-hint-spreading"],
        "self": ["--reference", "self"],
        "histogram": ["--reference", "self", "--reference-mode", "histogram"],
    }
    for name, flags in runs.items():
        output = tmp_path / name
        assert evaluate.main([str(photos), "--model", str(weights), "--output", str(output), *flags, *FAST]) == 0
        summaries[name] = json.loads((output / "summary.json").read_text())

    assert (summaries["none"]["hints"], summaries["none"]["reference"]) == (0, "none")
    assert (summaries["hints"]["hints"], summaries["hints"]["reference"]) == (10, "none")
    assert (summaries["self"]["hints"], summaries["self"]["reference"]) == (0, "self")
    assert summaries["hints"]["psnr"] != summaries["none"]["psnr"]  # the hints reach the network
    assert summaries["self"]["psnr"] != summaries["none"]["psnr"]
    assert (summaries["self"]["reference_mode"], summaries["histogram"]["reference_mode"]) == ("transfer", "histogram")
    assert summaries["histogram"]["psnr"] not in (summaries["self"]["psnr"], summaries["none"]["psnr"])
    assert summaries["self"]["psnr_auto"] == pytest.approx(summaries["none"]["psnr"])  # the same automatic colours
    assert (summaries["hints"]["hint_spreading"], summaries["network"]["hint_spreading"]) == (True, False)
    assert summaries["network"]["psnr"] not in (summaries["hints"]["psnr"], summaries["none"]["psnr"])
    client = mlflow.MlflowClient(tracking_uri)
    experiment_id = client.get_experiment_by_name("pseudocolor").experiment_id
    params = [run.data.params for run in client.search_runs(experiment_id, filter_string=f"params.model = '{weights}'")]
    assert sorted((p["hints"], p["reference"]) for p in params) == [
        ("0", "none"),
        ("0", "self"),
        ("0", "self"),
        ("10", "none"),
        ("10", "none"),
    ]


def test_hints_are_the_same_on_every_run():
    guidance = evaluate.SimulatedGuidance(hints=10, network_size=32)
    rgb = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    first, second = guidance.inputs(rgb, [0, 1])["local_hints"], guidance.inputs(rgb, [0, 1])["local_hints"]
    assert torch.equal(first, second)
    assert first[:, 2].sum(dim=(1, 2)).tolist() == [10, 10]  # 10 one-pixel hints per image (distinct here)
    assert not torch.equal(first[0, 2], first[1, 2])  # each photo index has its own positions


@pytest.mark.parametrize("flags", [["--hints", "5"], ["--reference", "self"]])
def test_the_gray_baseline_refuses_guidance(photos, tmp_path, tracking_uri, capsys, flags):
    assert evaluate.main([str(photos), "--model", "gray", "--output", str(tmp_path / "out"), *flags, *FAST]) == 2
    error = capsys.readouterr().err
    assert "gray baseline takes no hints" in error and "Traceback" not in error


def test_the_contact_sheet_keeps_the_best_and_worst_rows_of_the_table():
    """Rows arrive batch by batch; only the images of rows that are (still) among the extremes are kept."""
    generator = torch.Generator().manual_seed(3)
    psnrs = torch.rand(5, 6, generator=generator) * 40  # 5 batches of 6 photos
    result = evaluate.Evaluation(columns=["psnr"])
    for number, batch in enumerate(psnrs):
        images = torch.full((6, 3, 4, 4), number, dtype=torch.uint8)
        images[:, 0, 0, 0] = torch.arange(6, dtype=torch.uint8)
        result.add_rows([f"{number}-{i}.jpg" for i in range(6)], {"psnr": batch}, images, images + 1)
    ranked = sorted(range(30), key=lambda row: psnrs.flatten()[row].item())
    expected = ranked[: evaluate.EXTREMES] + ranked[-evaluate.EXTREMES :]
    assert sorted(result.extreme_images) == sorted(expected)
    assert [file for _, file, _, _ in result.extremes] == [f"{row // 6}-{row % 6}.jpg" for row in expected]
    for value, file, truth, output in result.extremes:
        batch, index = map(int, file.removesuffix(".jpg").split("-"))
        assert value == pytest.approx(psnrs[batch, index].item())
        assert (truth[0, 0, 0].item(), truth[1, 0, 0].item()) == (index, batch) and torch.equal(output, truth + 1)


def test_measuring_in_slices_on_threads_gives_the_whole_batchs_values():
    """Seven photos in slices of three on two threads: the same output and per-photo values, in the same order, as
    the batch measured at once."""
    generator = torch.Generator().manual_seed(5)
    target = (torch.rand(7, 3, 40, 48, generator=generator) * 255).round().to(torch.uint8)
    whole_output, whole = evaluate.measure_batch(target, list(range(7)), evaluate.gray_baseline)
    with ThreadPoolExecutor(2) as pool:
        output, values = evaluate.measure_in_slices(pool, 3, target, list(range(7)), evaluate.gray_baseline)
    alone_output, alone = evaluate.measure_in_slices(None, 3, target, list(range(7)), evaluate.gray_baseline)

    assert torch.equal(output, whole_output) and torch.equal(alone_output, whole_output)
    assert list(values) == list(whole) == list(alone)
    for name in whole:
        torch.testing.assert_close(values[name], whole[name], rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(alone[name], whole[name], rtol=1e-6, atol=1e-6)


def test_evaluate_imports_mlflow_matplotlib_torchvision_only_to_run_never_lightning_or_torchmetrics(tmp_path):
    """Importing the command costs torch and kornia only; a run adds MLflow and matplotlib, and torchvision where
    the photos are decoded (here: --workers 0)."""
    code = (
        "import json, sys\n"
        "heavy = lambda: sorted({m.split('.')[0] for m in sys.modules} & {'lightning', 'pytorch_lightning', "
        "'torchmetrics', 'mlflow', 'matplotlib', 'torchvision'})\n"
        "from pseudocolor.experiments.commands import evaluate\n"
        "from pseudocolor.datamodules.sample_photos import SAMPLES_DIR\n"
        "imported = heavy()\n"
        f"status = evaluate.main([str(SAMPLES_DIR / 'kodim05.jpg'), '--output', {str(tmp_path / 'out')!r}, "
        "'--size', '32', '--workers', '0'])\n"
        "print(json.dumps([imported, status, heavy()]))\n"
    )
    environment = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=environment, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [[], 0, ["matplotlib", "mlflow", "torchvision"]]


def test_the_default_experiment_is_the_tracking_stores():
    assert evaluate.DEFAULT_EXPERIMENT == DEFAULT_EXPERIMENT
