import numpy as np
import pytest
import torch

from pseudocolor.lightning_modules.training.callbacks.image_grid import PADDING, comparison_grid, with_column_titles


def test_the_grid_gets_a_title_band_over_each_column_and_keeps_its_pixels():
    batch = torch.rand(2, 3, 48, 48)
    grid = comparison_grid(batch, batch, batch).numpy()
    titled = with_column_titles(grid, cell_width=48)
    band = titled.shape[0] - grid.shape[0]
    assert titled.shape[1:] == grid.shape[1:] and 8 < band < 40
    np.testing.assert_array_equal(titled[band:], grid)
    for column in range(3):
        left = PADDING + column * (48 + PADDING)
        assert (titled[:band, left:left + 48] < 100).any(), f"no title over column {column}"
    assert (titled[:band, :PADDING] == 255).all()  # white outside the titles


def test_a_grid_that_is_not_uint8_rgb_is_refused():
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) uint8 grid"):
        with_column_titles(np.zeros((10, 10), np.uint8), cell_width=4)
