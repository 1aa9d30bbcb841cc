"""JPEGs decoded in `on_after_batch_transfer` (jpeg_decode="device", here on the CPU device: the same code that
runs nvjpeg on a GPU) give the batches and the used / skipped outcomes of decoding in the loader workers."""

from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback, Trainer

from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.datamodules.folder_datamodule import FolderDataModule
from pseudocolor.datamodules.image_dataset import SKIP_BAD, SKIP_GREY
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet
from pseudocolor.lightning_modules.training.callbacks.step_checkpoint import StepCheckpoint
from pseudocolor.lightning_modules.training.colorization_module import ColorizationModule
from tests.bad_photos import USED, file_permissions_enforced, write_zoo
from tests.conftest import write_photo

SIZE = 32


def photo_folder(folder: Path, count: int = 6) -> list[Path]:
    """`count` colourful JPEGs of assorted sizes and one PNG."""
    files = [write_photo(folder / f"{i}.jpg", 40 + 7 * i, 64 - 3 * i, seed=i) for i in range(count)]
    return [*files, write_photo(folder / "p.png", 48, 40, seed=99)]


def corrupt_jpeg(path: Path) -> Path:
    """A JPEG with zeros over its middle that still ends in its end-of-image marker: decode_jpeg and PIL refuse it."""
    data = write_photo(path, 96, 128, seed=3).read_bytes()
    path.write_bytes(data[:400] + bytes(200) + data[600:])
    return path


def datamodule(root: Path, jpeg_decode: str, **kwargs) -> FolderDataModule:
    options = dict(batch_size=4, crop_size=SIZE, eval_size=SIZE, num_workers=0, jpeg_decode=jpeg_decode)
    return FolderDataModule(str(root), val_root=str(root), **{**options, **kwargs})


def attach(data: FolderDataModule, training: bool) -> FolderDataModule:
    """Attach a CPU trainer in the training (or validation) state, as `fit` does before batches arrive."""
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    trainer.training, trainer.validating = training, not training
    data.trainer = trainer
    return data


def batches(data: FolderDataModule, train: bool) -> list[dict]:
    loader = data.train_dataloader() if train else data.val_dataloader()
    return [data.on_after_batch_transfer(batch, 0) for batch in loader]


def outcomes(batches_: list[dict]) -> dict[str, str]:
    """file name -> USED, or the kind it was skipped as."""
    used = {Path(path).name: USED for batch in batches_ for path in batch["paths"]}
    return used | {Path(path).name: kind for batch in batches_ for path, kind, _ in batch["skipped"]}


def test_eval_batches_equal_the_workers_decoding(tmp_path):
    photo_folder(tmp_path)
    device = datamodule(tmp_path, "device")
    raw = list(device.val_dataloader())
    assert sum(len(batch.get("encoded", [])) for batch in raw) == 6  # the JPEGs are left undecoded,
    assert sum(batch["image"].shape[0] for batch in raw) == 1  # the PNG is decoded by the loader
    expected = {path: (batch, i) for batch in batches(datamodule(tmp_path, "workers"), False)
                for i, path in enumerate(batch["paths"])}
    got = batches(device, False)
    assert sum(len(batch["paths"]) for batch in got) == len(expected) == 7
    for batch in got:
        assert "encoded" not in batch and "encoded_paths" not in batch
        for i, path in enumerate(batch["paths"]):
            reference, j = expected[path]
            assert batch["image"][i].dtype == torch.uint8
            assert (batch["image"][i].int() - reference["image"][j].int()).abs().max() <= 1
            torch.testing.assert_close(batch["lab"][i], reference["lab"][j], atol=0.5, rtol=0)


def test_training_batches_have_the_crop_shape_and_ranges(tmp_path):
    photo_folder(tmp_path)
    workers = batches(attach(datamodule(tmp_path, "workers"), training=True), True)[0]
    device = batches(attach(datamodule(tmp_path, "device"), training=True), True)[0]
    assert device.keys() == workers.keys()
    assert device["image"].shape == (4, 3, SIZE, SIZE) and device["image"].dtype == torch.uint8
    assert device["rgb"].dtype == device["lab"].dtype == torch.float32
    assert device["rgb"].shape == device["lab"].shape == (4, 3, SIZE, SIZE)
    assert 0 <= device["rgb"].min() and device["rgb"].max() <= 1
    assert 0 <= device["lab"][:, 0].min() and device["lab"][:, 0].max() <= 100


@pytest.mark.parametrize("training", [True, False])
def test_bad_and_odd_files_have_the_outcomes_of_the_workers_decoding(tmp_path, training):
    zoo = write_zoo(tmp_path / "zoo")
    photo_folder(tmp_path / "zoo", count=3)
    corrupt_jpeg(tmp_path / "zoo" / "corrupt.jpg")
    results = {}
    with file_permissions_enforced():
        for mode in ("workers", "device"):
            data = attach(datamodule(tmp_path / "zoo", mode, batch_size=5), training)
            results[mode] = outcomes(batches(data, training))
    assert results["device"] == results["workers"]
    assert results["device"]["corrupt.jpg"] == SKIP_BAD
    for item in zoo:
        expected = item.outcome if training or item.outcome != SKIP_GREY else USED  # evaluation scores grey photos
        assert results["device"][item.path.name] == expected, item.path.name


def test_one_undecodable_jpeg_loses_only_itself(tmp_path):
    photo_folder(tmp_path, count=3)
    corrupt_jpeg(tmp_path / "corrupt.jpg")
    data = datamodule(tmp_path, "device", batch_size=8)
    (batch,) = batches(data, False)
    assert sorted(Path(path).name for path in batch["paths"]) == ["0.jpg", "1.jpg", "2.jpg", "p.png"]
    ((path, kind, reason),) = batch["skipped"]
    assert kind == SKIP_BAD and reason.startswith(f"{path}: not a readable image")


def test_auto_decodes_in_the_workers_on_a_cpu_trainer(tmp_path):
    photo_folder(tmp_path)
    data = attach(datamodule(tmp_path, "auto"), training=True)
    assert not data.decodes_jpegs_on_device()
    assert "encoded" not in next(iter(data.train_dataloader()))
    with pytest.raises(PseudocolorError, match="jpeg_decode must be one of"):
        datamodule(tmp_path, "gpu")


class RecordFiles(Callback):
    """The files of every training batch as the step sees them, and the batches' shapes."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.shapes: set[tuple[int, ...]] = set()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.batches.append(sorted(batch["paths"]))
        self.shapes.add(tuple(batch["lab"].shape))


def test_fit_with_device_decoding_resumes_mid_epoch(tmp_path):
    photo_folder(tmp_path / "photos", count=8)  # 9 files, 7 for training: batches of 2, 2, 2 (last dropped)

    def fit(ckpt_path: Path | None = None) -> RecordFiles:
        data = FolderDataModule(
            str(tmp_path / "photos"), batch_size=2, crop_size=SIZE, eval_size=SIZE, num_workers=0, jpeg_decode="device"
        )
        record = RecordFiles()
        trainer = Trainer(
            accelerator="cpu", max_steps=3, limit_val_batches=1, logger=False, enable_progress_bar=False,
            enable_model_summary=False, callbacks=[record, StepCheckpoint(2, dirpath=str(tmp_path / "ckpt"))],
        )
        module = ColorizationModule(ResidualCaffeNet(width_multiplier=0.25), prior_images=4)
        trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
        return record

    uninterrupted = fit()  # writes last.ckpt after its second step, mid-epoch
    resumed = fit(ckpt_path=tmp_path / "ckpt" / "last.ckpt")
    assert uninterrupted.shapes == resumed.shapes == {(2, 3, SIZE, SIZE)}
    assert len(uninterrupted.batches) == 3
    assert resumed.batches == uninterrupted.batches[2:]  # the third batch, as the uninterrupted run had it
