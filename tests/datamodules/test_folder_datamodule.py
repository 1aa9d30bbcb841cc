import pytest
import torch

from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.datamodules.folder_datamodule import FolderDataModule
from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from tests.conftest import colourful_array, write_photo


def test_default_is_the_bundled_sample_photos():
    datamodule = FolderDataModule()
    train, val = datamodule.train_files(), datamodule.val_files()
    assert len(train) + len(val) == len(list(SAMPLES_DIR.glob("*.jpg"))) >= 12
    assert not set(train) & set(val)


def test_split_is_seeded(tmp_path):
    for i in range(10):
        write_photo(tmp_path / f"{i}.png", 16, 16, seed=i)
    first = FolderDataModule(str(tmp_path), seed=1).val_files()
    assert first == FolderDataModule(str(tmp_path), seed=1).val_files()
    assert first != FolderDataModule(str(tmp_path), seed=2).val_files()
    assert len(first) == 2


def test_separate_val_folder(tmp_path):
    write_photo(tmp_path / "train" / "a.jpg")
    write_photo(tmp_path / "val" / "b.jpg")
    datamodule = FolderDataModule(str(tmp_path / "train"), val_root=str(tmp_path / "val"))
    assert [p.name for p in datamodule.train_files()] == ["a.jpg"]
    assert [p.name for p in datamodule.val_files()] == ["b.jpg"]


def test_lists_of_folders_pool_their_photos(tmp_path):
    for folder, name in (("one", "a.jpg"), ("two", "b.jpg"), ("val1", "c.jpg"), ("val2", "d.jpg")):
        write_photo(tmp_path / folder / name)
    (tmp_path / "empty").mkdir()
    datamodule = FolderDataModule(
        [str(tmp_path / "one"), str(tmp_path / "two")], val_root=[str(tmp_path / "val1"), str(tmp_path / "val2")]
    )
    assert [p.name for p in datamodule.train_files()] == ["a.jpg", "b.jpg"]
    assert [p.name for p in datamodule.val_files()] == ["c.jpg", "d.jpg"]
    with pytest.raises(FileNotFoundError, match="empty holds no photos"):
        FolderDataModule([str(tmp_path / "one"), str(tmp_path / "empty")]).train_files()
    assert datamodule.source_folders("train") == [tmp_path / "one", tmp_path / "two"]
    assert datamodule.source_folders("val") == [tmp_path / "val1", tmp_path / "val2"]
    assert FolderDataModule(str(tmp_path / "one")).source_folders("val") == [tmp_path / "one"]  # held out of root


def test_empty_folder_and_bad_fraction_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no photos"):
        FolderDataModule(str(tmp_path)).train_files()
    with pytest.raises(PseudocolorError, match="val_fraction"):
        FolderDataModule(str(tmp_path), val_fraction=1.5)


def test_prior_samples_are_ab_maps():
    ab = next(FolderDataModule(num_workers=0).ab_samples(4))
    assert ab.shape == (4, 2, 64, 64)


def test_crop_min_scale_bounds_how_much_training_crops_are_enlarged(tmp_path):
    photo = torch.from_numpy(colourful_array(48, 48, seed=3)).permute(2, 0, 1)
    write_photo(tmp_path / "train" / "a.png", 48, 48, seed=3)
    write_photo(tmp_path / "val" / "b.png", 48, 48)

    def first_crop(crop_min_scale: float) -> torch.Tensor:
        datamodule = FolderDataModule(
            str(tmp_path / "train"),
            val_root=str(tmp_path / "val"),
            crop_size=48,
            crop_min_scale=crop_min_scale,
            num_workers=0,
            batch_size=1,
        )
        return next(iter(datamodule.train_dataloader()))["image"][0]

    torch.manual_seed(0)
    assert all(torch.equal(first_crop(1.0), photo) for _ in range(5))  # the whole photo, never enlarged
    assert not all(torch.equal(first_crop(0.2), photo) for _ in range(5))
    with pytest.raises(PseudocolorError, match="crop_min_scale"):
        FolderDataModule(str(tmp_path / "train"), crop_min_scale=0.0)
