import os

import numpy as np
import pytest
import torch
from PIL import Image

from pseudocolor.datamodules.decoding import (
    ImageDecodeError,
    ImageTooLargeError,
    decode_image,
    is_grey,
    list_images,
    read_image_size,
)
from tests.bad_photos import file_permissions_enforced
from tests.conftest import colourful_array, write_photo
from tests.serve_helpers import flat_png


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "I;16", "1"])
def test_every_mode_becomes_uint8_rgb(tmp_path, mode):
    rgb = Image.fromarray(colourful_array(20, 30))
    if mode == "I;16":
        image = Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)
        assert image.mode == "I;16"
    else:
        image = rgb.convert(mode)
    path = tmp_path / ("photo.jpg" if mode == "CMYK" else "photo.png")
    image.save(path)
    decoded = decode_image(path)
    assert decoded.shape == (3, 20, 30) and decoded.dtype == torch.uint8
    if mode in ("L", "I;16"):
        expected = torch.from_numpy(np.asarray(rgb.convert("L")).copy())
        assert (decoded[0].int() - expected.int()).abs().max() <= 1


def test_rgba_is_composited_on_white(tmp_path):
    transparent = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    transparent.save(tmp_path / "a.png")
    assert decode_image(tmp_path / "a.png").min() == 255


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(colourful_array(20, 40))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert decode_image(tmp_path / "rotated.jpg").shape == (3, 40, 20)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "not a readable image"),
        (b"this is a text file", "not a readable image"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path, content, match):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageDecodeError, match=match) as error:
        decode_image(path)
    assert str(path) in str(error.value)


def test_truncated_jpeg_is_refused(tmp_path):
    good = write_photo(tmp_path / "good.jpg", 200, 200)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:800])
    with pytest.raises(ImageDecodeError, match="truncated.jpg"):
        decode_image(truncated)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ImageDecodeError, match="not found"):
        decode_image(tmp_path / "nope.jpg")
    locked = write_photo(tmp_path / "locked.jpg")
    locked.chmod(0)
    with file_permissions_enforced(), pytest.raises(ImageDecodeError, match="locked.jpg: permission denied"):
        decode_image(locked)
    if os.geteuid() == 0:  # the capabilities are back after the block
        assert decode_image(locked).shape == (3, 96, 128)


def test_decompression_bomb_limit(tmp_path):
    path = write_photo(tmp_path / "big.png", 100, 100)
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        decode_image(path, max_pixels=5_000)
    assert decode_image(path, max_pixels=10_000).shape == (3, 100, 100)


def test_grey_detection():
    colourful = torch.from_numpy(colourful_array(32, 32)).permute(2, 0, 1)
    grey = colourful.float().mean(dim=0, keepdim=True).to(torch.uint8).expand(3, -1, -1)
    noisy_grey = (grey.int() + torch.randint(-1, 2, grey.shape)).clamp(0, 255).to(torch.uint8)
    assert not is_grey(colourful) and is_grey(grey) and is_grey(noisy_grey)


def test_list_images_any_case_recursive(tmp_path):
    for name in ["a.JPG", "b.jpeg", "sub/c.PNG", "sub/deeper/d.webp", "e.TIF"]:
        write_photo(tmp_path / name)
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.jpeg", "e.TIF", "c.PNG", "d.webp"]
    with pytest.raises(FileNotFoundError, match="not a directory"):
        list_images(tmp_path / "missing")


def test_the_size_comes_from_the_header_alone():
    assert read_image_size(flat_png(300, 200)) == (300, 200)
    assert read_image_size(flat_png(12000, 9000)) == (12000, 9000)  # 108 MP: past PIL's warning, not its error
    with pytest.raises(ImageTooLargeError) as error:
        read_image_size(flat_png(20000, 20000), "row 0")  # 400 MP: PIL refuses to open it at all
    assert error.value.more_than == 2 * Image.MAX_IMAGE_PIXELS and str(error.value).startswith("row 0: more than")
    truncated = flat_png(300, 200)[:50]  # IHDR and the start of IDAT survive: the size is still known
    assert read_image_size(truncated) == (300, 200)


@pytest.mark.parametrize(("data", "reason"), [(b"", "empty"), (b"not an image", "not a readable image")])
def test_unreadable_bytes_have_no_size(data, reason):
    with pytest.raises(ImageDecodeError, match=f"^photo: {reason}"):
        read_image_size(data, "photo")
