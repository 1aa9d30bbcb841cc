"""`pseudocolor fit` on folders salted with the bad-photo zoo: it skips, counts and names the bad files, and
stops with a clear message only when more than `--skipped_images.max_bad_fraction` of them are unreadable."""

from pathlib import Path

import mlflow
import pytest

from pseudocolor.datamodules.image_dataset import SKIP_BAD, SKIP_GREY
from pseudocolor.experiments.cli import main
from tests.bad_photos import file_permissions_enforced, write_zoo
from tests.conftest import write_photo

GOOD = 9  # with the zoo's 15 files (6 bad): 24 per split, 6 / 24 = 0.25 of them unreadable


def salted_folders(tmp_path: Path) -> dict:
    """train/ and val/, each GOOD colour photos plus the zoo -> {"train": zoo files, "val": zoo files}."""
    zoos = {}
    for split in ("train", "val"):
        for i in range(GOOD):
            write_photo(tmp_path / split / "good" / f"{i}.jpg", 48, 64, seed=i + (100 if split == "val" else 0))
        zoos[split] = write_zoo(tmp_path / split / "zoo")
    return zoos


def fit(tmp_path: Path, max_bad_fraction: float) -> None:
    arguments = {
        "trainer.max_epochs": 1,
        "trainer.default_root_dir": tmp_path / "checkpoints",
        "data.init_args.root": tmp_path / "train",
        "data.init_args.val_root": tmp_path / "val",
        "data.init_args.batch_size": 4,
        "data.init_args.crop_size": 64,
        "data.init_args.eval_size": 64,
        "data.init_args.num_workers": 0,  # decoding in this thread, where the file permissions bind
        "model.network.init_args.width_multiplier": 0.25,
        "model.prior_images": 8,
        "skipped_images.max_bad_fraction": max_bad_fraction,
    }
    with file_permissions_enforced():
        main(["fit", *(item for name, value in arguments.items() for item in (f"--{name}", str(value)))])


def skipped_lines(client: mlflow.MlflowClient, run_id: str, name: str, tmp_path: Path) -> list[str]:
    return Path(client.download_artifacts(run_id, name, str(tmp_path / "download"))).read_text().splitlines()


@pytest.mark.slow
def test_fit_goes_on_past_bad_files_and_names_each_with_its_reason(tmp_path, tracking_uri):
    zoos = salted_folders(tmp_path)
    fit(tmp_path, max_bad_fraction=0.25)  # exactly 0.25 of each split is bad: not more, so the run goes on

    client = mlflow.MlflowClient(tracking_uri)
    [run] = client.search_runs([client.get_experiment_by_name("pseudocolor").experiment_id])
    assert run.info.status == "FINISHED"
    bad = {split: [item for item in zoo if item.outcome == SKIP_BAD] for split, zoo in zoos.items()}
    grey = [item for item in zoos["train"] if item.outcome == SKIP_GREY]
    assert run.data.metrics["data/train_skipped_bad"] == len(bad["train"]) == 6
    assert run.data.metrics["data/train_skipped_grey"] == len(grey) == 2
    assert run.data.metrics["data/val_skipped_bad"] == len(bad["val"])
    assert run.data.metrics["data/val_skipped_grey"] == 0  # validation scores grey photos too
    for split in ("train", "val"):
        lines = skipped_lines(client, run.info.run_id, f"data/skipped_{split}_e000.txt", tmp_path / split)
        expected = bad[split] + (grey if split == "train" else [])
        assert len(lines) == len(expected)
        for item in expected:
            [line] = [line for line in lines if line.split("\t")[1].startswith(f"{item.path}:")]
            assert line.startswith(f"{item.outcome}\t") and item.reason in line, line


@pytest.mark.slow
def test_fit_stops_with_a_clear_message_above_max_bad_fraction(tmp_path, tracking_uri):
    salted_folders(tmp_path)
    with pytest.raises(RuntimeError, match=r"of the 24 train images are unreadable, more than max_bad_fraction=0.2 "):
        fit(tmp_path, max_bad_fraction=0.2)

    client = mlflow.MlflowClient(tracking_uri)
    [run] = client.search_runs([client.get_experiment_by_name("pseudocolor").experiment_id])
    lines = skipped_lines(client, run.info.run_id, "data/skipped_train_e000.txt", tmp_path)
    # stopped in the batch whose bad files first made more than 0.2 x 24 (one batch can hold two of the six)
    assert 5 <= sum(line.startswith(f"{SKIP_BAD}\t") for line in lines) <= 6
