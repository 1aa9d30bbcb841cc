import numpy as np
import pytest
import torch
from skimage import color as skcolor

from pseudocolor.datamodules import color_space
from pseudocolor.lightning_modules import ab_encoding


def random_rgb(batch=2, height=5, width=7, dtype=torch.float32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, height, width, generator=generator, dtype=dtype)


def test_rgb_to_lab_matches_skimage():
    rgb = random_rgb(dtype=torch.float64)
    expected = np.stack([skcolor.rgb2lab(image.permute(1, 2, 0).numpy()) for image in rgb])
    actual = color_space.rgb_to_lab(rgb).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(actual, expected, atol=2e-3)


def test_lab_round_trip():
    rgb = random_rgb()
    torch.testing.assert_close(color_space.lab_to_rgb(color_space.rgb_to_lab(rgb)), rgb, atol=1e-4, rtol=0)


def test_normalised_l_spans_minus_one_to_one():
    assert ab_encoding.normalize_l(torch.tensor([0.0, 50.0, 100.0])).tolist() == [-1.0, 0.0, 1.0]


def test_grey_lab_has_no_colour_and_keeps_l():
    lab = color_space.rgb_to_lab(random_rgb())
    grey = color_space.grey_lab(lab[:, :1])
    assert torch.equal(grey[:, :1], lab[:, :1]) and grey[:, 1:].abs().max() == 0


def test_gamut_bins_cover_every_srgb_colour_within_half_a_cell():
    bins = ab_encoding.gamut_ab_bins(10)
    assert bins.shape == (257, 2)
    assert torch.equal(bins % 10, torch.zeros_like(bins))
    lab = color_space.rgb_to_lab(random_rgb(batch=1, height=100, width=100, seed=3))
    ab = lab[0, 1:].flatten(1).T
    nearest = torch.cdist(ab, bins).min(dim=1).values
    assert nearest.max() <= 5 * 2**0.5 + 1e-3


def test_hard_encoding_round_trip_of_bin_centres():
    bins = ab_encoding.gamut_ab_bins()
    ab = bins.T.reshape(1, 2, 1, -1)
    assert torch.equal(ab_encoding.hard_encode_ab(ab, bins).flatten(), torch.arange(len(bins)))


def test_soft_encoding_is_a_distribution_peaked_on_the_nearest_bin():
    bins = ab_encoding.gamut_ab_bins()
    ab = color_space.rgb_to_lab(random_rgb())[:, 1:]
    target = ab_encoding.soft_encode_ab(ab, bins)
    torch.testing.assert_close(target.sum(dim=1), torch.ones(2, 5, 7))
    assert ((target > 0).sum(dim=1) == ab_encoding.SOFT_ENCODING_NEIGHBOURS).all()
    assert torch.equal(target.argmax(dim=1), ab_encoding.hard_encode_ab(ab, bins))


def test_annealed_mean_at_temperature_one_is_the_plain_mean():
    bins = torch.tensor([[0.0, 0.0], [10.0, 20.0], [-30.0, 40.0]])
    logits = torch.log(torch.tensor([0.5, 0.25, 0.25])).reshape(1, 3, 1, 1)
    ab = ab_encoding.annealed_mean(logits, bins, temperature=1.0)
    torch.testing.assert_close(ab.flatten(), torch.tensor([0.25 * 10 - 0.25 * 30, 0.25 * 20 + 0.25 * 40]))


def test_annealed_mean_tends_to_the_mode_as_temperature_falls():
    bins = torch.tensor([[0.0, 0.0], [10.0, 20.0], [-30.0, 40.0]])
    logits = torch.log(torch.tensor([0.2, 0.5, 0.3])).reshape(1, 3, 1, 1)
    ab = ab_encoding.annealed_mean(logits, bins, temperature=0.01)
    torch.testing.assert_close(ab.flatten(), bins[1], atol=1e-3, rtol=0)


def test_annealed_mean_gradcheck():
    bins = ab_encoding.gamut_ab_bins()[:6].double()
    logits = torch.randn(1, 6, 2, 2, dtype=torch.float64, requires_grad=True)

    def decode(x):
        probabilities = torch.softmax(x / 0.38, dim=1)
        return torch.einsum("bqhw,qc->bchw", probabilities, bins)

    assert torch.autograd.gradcheck(decode, (logits,))
    torch.testing.assert_close(ab_encoding.annealed_mean(logits, bins).double(), decode(logits), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_annealed_mean_is_the_same_for_channels_last_logits(temperature):
    """The decoding reads each pixel's bins side by side; contiguous and channels-last logits give one result, which
    is contiguous (B, 2, H, W) either way."""
    bins = ab_encoding.gamut_ab_bins()
    logits = torch.randn(2, bins.shape[0], 5, 7, generator=torch.Generator().manual_seed(0))
    contiguous = ab_encoding.annealed_mean(logits, bins, temperature)
    channels_last = ab_encoding.annealed_mean(logits.contiguous(memory_format=torch.channels_last), bins, temperature)
    reference = torch.einsum("bqhw,qc->bchw", torch.softmax(logits / temperature, dim=1), bins)
    torch.testing.assert_close(contiguous, reference, atol=1e-4, rtol=0)
    torch.testing.assert_close(channels_last, contiguous)
    assert contiguous.is_contiguous() and channels_last.is_contiguous()


def test_histogram_and_mask():
    bins = ab_encoding.gamut_ab_bins()
    ab = color_space.rgb_to_lab(random_rgb())[:, 1:]
    histogram = ab_encoding.ab_histogram(ab, bins)
    torch.testing.assert_close(histogram.sum(dim=1), torch.ones(2))
    empty = ab_encoding.ab_histogram(ab, bins, mask=torch.zeros(2, 1, 5, 7))
    assert empty.abs().sum() == 0


def test_rebalancing_weights_favour_rare_bins_and_keep_expectation_one():
    prior = torch.tensor([0.7, 0.2, 0.1])
    weights = ab_encoding.rebalancing_weights(prior)
    assert weights[2] > weights[1] > weights[0]
    torch.testing.assert_close((prior * weights).sum(), torch.tensor(1.0))


@pytest.mark.parametrize(
    "call",
    [
        lambda: color_space.rgb_to_lab(torch.rand(3, 4, 4)),
        lambda: color_space.compose_lab(torch.rand(1, 2, 4, 4), torch.rand(1, 2, 4, 4)),
        lambda: ab_encoding.annealed_mean(torch.rand(1, 5, 2, 2), ab_encoding.gamut_ab_bins()),
        lambda: ab_encoding.annealed_mean(torch.rand(1, 257, 2, 2), ab_encoding.gamut_ab_bins(), temperature=0),
    ],
)
def test_bad_shapes_and_values_are_refused(call):
    with pytest.raises(ValueError):
        call()


def test_to_uint8_rounds_and_clamps():
    rgb = torch.tensor([-0.1, 0.0, 0.5 / 255, 1.49 / 255, 0.5, 1.0, 1.2])
    assert color_space.to_uint8(rgb).tolist() == [0, 0, 0, 1, 128, 255, 255]
    assert color_space.to_uint8(rgb).dtype == torch.uint8
