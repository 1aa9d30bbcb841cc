"""`pseudocolor evaluate` on a folder salted with the bad-photo zoo: it scores every usable photo, counts and
names the bad ones, and stops with one sentence, keeping what it did, above `--max-bad-fraction`."""

import csv
import json
from pathlib import Path

import mlflow
import pytest

from pseudocolor.datamodules.image_dataset import SKIP_BAD, SKIP_GREY
from pseudocolor.experiments.commands import evaluate
from tests.bad_photos import USED, file_permissions_enforced, write_zoo
from tests.conftest import write_photo

GOOD = 9  # with the zoo's 15 files (6 bad): 24 files, 6 / 24 = 0.25 of them unreadable


@pytest.fixture
def salted(tmp_path) -> tuple[Path, list, list[Path]]:
    """(folder, its zoo files, its good photos)."""
    folder = tmp_path / "photos"
    good = [write_photo(folder / "good" / f"{i}.jpg", 48, 64, seed=i) for i in range(GOOD)]
    return folder, write_zoo(folder / "zoo"), good


def run(folder: Path, output: Path, *flags: str) -> int:
    with file_permissions_enforced():  # decoding runs in this thread: --workers 0
        return evaluate.main([str(folder), "--output", str(output), "--size", "32", "--workers", "0", *flags])


def test_evaluate_scores_every_usable_photo_and_names_the_bad_ones(salted, tmp_path, tracking_uri):
    folder, zoo, good = salted
    output = tmp_path / "out"
    assert run(folder, output, "--max-bad-fraction", "0.25") == 0  # exactly 0.25 bad: not more, so it goes on

    with (output / "per_image.csv").open() as handle:
        scored = [row["file"] for row in csv.DictReader(handle)]
    assert sorted(scored) == sorted(map(str, good + [item.path for item in zoo if item.outcome == USED]))
    bad = [item for item in zoo if item.outcome == SKIP_BAD]
    summary = json.loads((output / "summary.json").read_text())
    assert (summary["n_skipped_unreadable"], summary["n_skipped_grey"]) == (len(bad), 2)
    assert sorted(summary["skipped_unreadable"]) == sorted(str(item.path) for item in bad)
    lines = (output / "skipped.txt").read_text().splitlines()
    for item in bad:
        [line] = [line for line in lines if line.startswith(f"{SKIP_BAD}\t{item.path}:")]
        assert item.reason in line, line
    assert sum(line.startswith(f"{SKIP_GREY}\t") for line in lines) == 2

    client = mlflow.MlflowClient(tracking_uri)
    [run_info] = client.search_runs([client.get_experiment_by_name("pseudocolor").experiment_id])
    assert run_info.data.metrics["n_skipped_unreadable"] == len(bad)
    assert run_info.data.params["max_bad_fraction"] == "0.25"
    logged = Path(client.download_artifacts(run_info.info.run_id, "evaluation/skipped.txt", str(tmp_path / "dl")))
    assert logged.read_text().splitlines() == lines


def test_evaluate_stops_above_max_bad_fraction_and_keeps_what_it_did(salted, tmp_path, tracking_uri, capsys):
    folder, zoo, good = salted
    output = tmp_path / "out"
    assert run(folder, output, "--batch-size", "2") == 1  # the default max_bad_fraction, 0.05 of 24: 1 bad file

    stderr = capsys.readouterr().err
    error = stderr.strip().splitlines()[-1]  # after the progress bar and a "skipped ..." line per bad file
    expected = "pseudocolor evaluate: 2 of the 24 files are unreadable, more than --max-bad-fraction 0.05;"
    assert error.startswith(expected)
    assert "Traceback" not in stderr
    with (output / "per_image.csv").open() as handle:
        scored = [row["file"] for row in csv.DictReader(handle)]
    usable = {str(path) for path in good} | {str(item.path) for item in zoo if item.outcome == USED}
    assert scored and set(scored) <= usable and f"the {len(scored)} photos done" in error
    bad = [line for line in (output / "skipped.txt").read_text().splitlines() if line.startswith(f"{SKIP_BAD}\t")]
    assert len(bad) == 2 and not (output / "summary.json").exists()
