import io

import numpy as np
import pytest
import torch
from PIL import Image

from pseudocolor.datamodules.masks import MaskLoadError, decode_mask_bytes, load_masks


def _save(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)
    return path


def test_binary_masks_in_file_order(tmp_path):
    first, second = np.zeros((6, 8), np.uint8), np.zeros((6, 8, 3), np.uint8)
    first[1:3, 2:5] = 255
    second[4, 7, 2] = 1  # any nonzero channel counts
    masks = load_masks([_save(tmp_path / "a.png", first), _save(tmp_path / "b.png", second)], (6, 8))
    assert masks.dtype == torch.bool and masks.shape == (2, 6, 8)
    assert masks[0].sum() == 6 and masks[1].nonzero().tolist() == [[4, 7]]


def test_label_map_gives_one_region_per_label_ascending(tmp_path):
    labels = np.zeros((6, 8), np.uint8)
    labels[:, :2], labels[:, 5:] = 7, 3
    masks = load_masks(_save(tmp_path / "labels.png", labels), (6, 8), label_map=True)
    assert masks.shape == (2, 6, 8) and masks[0, :, 5:].all() and masks[1, :, :2].all()
    colours = np.zeros((6, 8, 3), np.uint8)
    colours[0, 0], colours[1, 1] = (255, 0, 0), (0, 0, 255)
    assert load_masks(_save(tmp_path / "rgb.png", colours), (6, 8), label_map=True).shape == (2, 6, 8)


@pytest.mark.parametrize(
    ("make", "kwargs", "match"),
    [
        (lambda p: _save(p, np.full((5, 8), 255, np.uint8)), {}, "is 8x5 pixels but the image is 8x6"),
        (lambda p: _save(p, np.zeros((6, 8), np.uint8)), {}, "mask is empty"),
        (lambda p: p.write_bytes(b"not a png") and p, {}, "cannot read this mask"),
        (lambda p: _save(p, np.zeros((6, 8), np.uint8)), {"label_map": True}, "only background"),
    ],
)
def test_clear_errors_name_the_file(tmp_path, make, kwargs, match):
    path = make(tmp_path / "mask.png")
    with pytest.raises(MaskLoadError, match=f"mask.png.*{match}|{match}"):
        load_masks(path, (6, 8), **kwargs)
    with pytest.raises(MaskLoadError, match="mask.png"):
        load_masks(path, (6, 8), **kwargs)


def test_mask_bytes_decode_like_files_and_errors_name_the_source():
    mask = np.zeros((6, 8), np.uint8)
    mask[2:4, 1:3] = 255
    buffer = io.BytesIO()
    Image.fromarray(mask).save(buffer, format="PNG")
    decoded = decode_mask_bytes(buffer.getvalue(), (6, 8), "row 0 mask")
    assert decoded.dtype == torch.bool and decoded.nonzero().tolist() == [[2, 1], [2, 2], [3, 1], [3, 2]]
    with pytest.raises(MaskLoadError, match="row 0 mask: mask is 8x6 pixels but the image is 8x5"):
        decode_mask_bytes(buffer.getvalue(), (5, 8), "row 0 mask")
    with pytest.raises(MaskLoadError, match="row 0 mask: cannot read this mask"):
        decode_mask_bytes(b"not a png", (6, 8), "row 0 mask")
    with pytest.raises(MaskLoadError, match="row 0 mask: empty"):
        decode_mask_bytes(b"", (6, 8), "row 0 mask")
