import numpy as np
import pytest
import torch
from PIL import Image

from pseudocolor.datamodules.decoding import image_to_rgb
from tests.conftest import colourful_array
from tests.deploy_helpers import assert_same_lightness, tiny_colorizer


@pytest.fixture(scope="module")
def colorizer():
    return tiny_colorizer()


def test_pil_in_pil_out(colorizer):
    for image in (Image.fromarray(colourful_array(40, 56)), Image.fromarray(colourful_array(40, 56)).convert("L")):
        result = colorizer.colorize(image)
        assert isinstance(result, Image.Image) and result.mode == "RGB" and result.size == (56, 40)
        assert_same_lightness(np.asarray(result), np.asarray(image.convert("RGB")))


@pytest.mark.parametrize("shape", [(40, 56), (40, 56, 3)])
def test_numpy_in_numpy_out(colorizer, shape):
    rgb = colourful_array(40, 56)
    image = rgb if len(shape) == 3 else rgb.mean(axis=2).astype(np.uint8)
    result = colorizer.colorize(image)
    assert isinstance(result, np.ndarray) and result.shape == (40, 56, 3) and result.dtype == np.uint8
    reference = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    assert_same_lightness(result, reference)


def test_tensor_in_tensor_out_keeps_shape_and_dtype(colorizer):
    uint8 = torch.from_numpy(colourful_array(40, 56)).permute(2, 0, 1)
    result = colorizer.colorize(uint8)
    assert result.shape == (3, 40, 56) and result.dtype == torch.uint8
    assert_same_lightness(result, uint8)

    floats = uint8[None].float().div(255).repeat(2, 1, 1, 1)
    batch = colorizer.colorize(floats)
    assert batch.shape == (2, 3, 40, 56) and batch.dtype == torch.float32
    assert 0 <= batch.min() and batch.max() <= 1
    assert colorizer.colorize(floats[:, :1]).shape == (2, 3, 40, 56)  # grey tensors get three channels


def test_a_batch_of_mixed_sizes_matches_one_by_one(colorizer):
    images = [torch.from_numpy(colourful_array(h, w, seed=h)).permute(2, 0, 1) for h, w in [(40, 56), (90, 30)]]
    together = colorizer.colorize_batch(images)
    for image, result in zip(images, together):
        assert result.shape == image.shape
        assert (result.int() - colorizer.colorize_batch([image])[0].int()).abs().max() <= 1


def test_pil_orientation_is_applied(colorizer):
    image = Image.fromarray(colourful_array(40, 56))
    exif = Image.Exif()
    exif[0x0112] = 6
    image.info["exif"] = exif.tobytes()
    assert image_to_rgb(image).shape == (3, 56, 40)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((8, 8, 4), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((8, 8, 3), np.float32), "uint8"),
        (torch.zeros(2, 8, 8), r"\(C, H, W\)"),
        ([[0, 1]], "PIL image, numpy array or tensor"),
    ],
)
def test_bad_inputs_are_named(colorizer, image, message):
    with pytest.raises((ValueError, TypeError), match=message):
        colorizer.colorize(image)


def test_the_network_runs_in_channels_last_and_colours_as_before():
    """Colorizer keeps its network's weights channels-last (faster convolutions on the CPU); its colours are those of
    the same network in the default layout."""
    colorizer = tiny_colorizer()
    weights = [p for p in colorizer.network.parameters() if p.ndim == 4]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
    l = torch.rand(2, 1, 32, 48, generator=torch.Generator().manual_seed(0)) * 100
    channels_last = colorizer.predict_small_ab(l)
    colorizer.network.to(memory_format=torch.contiguous_format)
    torch.testing.assert_close(channels_last, colorizer.predict_small_ab(l), atol=1e-4, rtol=0)
