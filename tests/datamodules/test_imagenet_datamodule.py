from pathlib import Path

import pytest
import torch

from pseudocolor.datamodules.image_dataset import SKIP_BAD, SKIP_GREY
from pseudocolor.datamodules.imagenet_datamodule import ImageNetDataModule
from tests.conftest import write_grey_photo, write_photo

WNIDS = ["n01440764", "n02102040"]


def val_name(class_index: int, image_index: int) -> str:
    return f"ILSVRC2012_val_{10 * class_index + image_index + 1:08d}.JPEG"


def ilsvrc_tree(root: Path, flat_val: bool) -> Path:
    """A miniature ILSVRC2012 layout: 3 train photos per class (one grey, one corrupt), 2 val per class."""
    for c, wnid in enumerate(WNIDS):
        for i in range(2):
            write_photo(root / "train" / wnid / f"{wnid}_{i}.JPEG", seed=10 * c + i)
        write_grey_photo(root / "train" / wnid / f"{wnid}_grey.JPEG")
        (root / "train" / wnid / f"{wnid}_broken.JPEG").write_bytes(b"not a jpeg")
        for i in range(2):
            write_photo(root / "val" / ("" if flat_val else wnid) / val_name(c, i), seed=100 + 10 * c + i)
    return root


def ctest_list(root: Path) -> Path:
    lines = [f"/{wnid}/{val_name(c, 0)} {c}" for c, wnid in enumerate(WNIDS)]
    path = root / "ctest.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def device_batches(datamodule, loader):
    for batch in loader:
        yield datamodule.on_after_batch_transfer(batch, 0)


@pytest.mark.parametrize("flat_val", [False, True])
def test_list_file_selects_val_images_in_either_layout(tmp_path, flat_val):
    root = ilsvrc_tree(tmp_path, flat_val)
    datamodule = ImageNetDataModule(str(root), list_file=str(ctest_list(root)), batch_size=4, eval_size=32, num_workers=0)
    assert [p.name for p in datamodule.val_files()] == [val_name(0, 0), val_name(1, 0)]
    batch = next(device_batches(datamodule, datamodule.val_dataloader()))
    assert batch["lab"].shape == (2, 3, 32, 32)
    assert 0 <= batch["lab"][:, 0].min() and batch["lab"][:, 0].max() <= 100
    torch.testing.assert_close(batch["rgb"], batch["image"].float() / 255)


def test_without_a_list_every_val_image_is_used(tmp_path):
    datamodule = ImageNetDataModule(str(ilsvrc_tree(tmp_path, flat_val=False)))
    assert len(datamodule.val_files()) == 4 and len(datamodule.train_files()) == 8
    assert datamodule.source_folders("train") == [tmp_path / "train"]  # the files' common folder
    assert datamodule.source_folders("val") == [tmp_path / "val"]


def test_training_skips_and_reports_grey_and_corrupt_photos(tmp_path):
    root = ilsvrc_tree(tmp_path, flat_val=False)
    datamodule = ImageNetDataModule(str(root), batch_size=8, crop_size=32, num_workers=0)
    batch = next(iter(datamodule.train_dataloader()))
    kinds = sorted(kind for _, kind, _ in batch["skipped"])
    assert kinds == [SKIP_BAD, SKIP_BAD, SKIP_GREY, SKIP_GREY]
    assert batch["image"].shape == (4, 3, 32, 32) and batch["image"].dtype == torch.uint8
    assert all("broken" in reason for _, kind, reason in batch["skipped"] if kind == SKIP_BAD)


def test_list_entry_missing_from_val_is_a_clear_error(tmp_path):
    root = ilsvrc_tree(tmp_path, flat_val=False)
    bad_list = root / "bad.txt"
    bad_list.write_text("/n01440764/ILSVRC2012_val_99999999.JPEG 0\n")
    with pytest.raises(FileNotFoundError, match=r"bad.txt:1: .*ILSVRC2012_val_99999999"):
        ImageNetDataModule(str(root), list_file=str(bad_list)).val_files()


def test_missing_train_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="train/ and val/"):
        ImageNetDataModule(str(tmp_path)).train_files()
