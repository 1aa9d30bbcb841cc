"""Packs of WebP squares: written from real JPEG files, split into parts by size, read back with their weights."""

import numpy as np
import pytest
import torch
from PIL import Image

from pseudocolor.datamodules.photo_pack import encode_square, read_pack, write_pack
from tests.conftest import write_photo


def test_a_photo_becomes_its_centre_square_at_the_pack_size(tmp_path):
    path = write_photo(tmp_path / "wide.jpg", height=96, width=192, seed=1)
    square = np.asarray(Image.open(__import__("io").BytesIO(encode_square(path, size=48))).convert("RGB"))
    assert square.shape == (48, 48, 3)
    centre = np.asarray(Image.open(path).convert("RGB").resize((96, 48), Image.BICUBIC))[:, 24:72]
    assert np.abs(square.astype(float) - centre).mean() < 12  # WebP q75 is lossy, the content is the centre's


def test_parts_hold_every_readable_photo_with_its_weight_and_name_the_bad_one(tmp_path):
    first = [write_photo(tmp_path / "a" / f"{i}.jpg", seed=i) for i in range(6)]
    second = [write_photo(tmp_path / "b" / f"{i}.jpg", seed=10 + i) for i in range(3)]
    broken = tmp_path / "b" / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    parts, skipped = write_pack([(first, 1.0), (second + [broken], 3.0)], tmp_path / "pack", part_bytes=2000, size=32)
    assert len(parts) > 1  # 9 photos of about 700 bytes do not fit one 2 kB part
    assert len(skipped) == 1 and "broken.jpg" in skipped[0]
    photos, weights = read_pack([tmp_path / "pack"], workers=1)
    assert photos.shape == (9, 3, 32, 32) and photos.dtype == torch.uint8
    assert sorted(weights.tolist()) == [1.0] * 6 + [3.0] * 3


def test_a_folder_without_parts_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="empty: no part"):
        read_pack([tmp_path / "empty"], workers=1)
