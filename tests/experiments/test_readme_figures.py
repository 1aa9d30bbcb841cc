"""The README's pictures can be remade from the bundled samples with any model."""

import numpy as np
from PIL import Image

from pseudocolor.experiments.scripts import readme_figures
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet


def test_the_five_pictures_are_made_with_one_panel_per_column(tmp_path):
    weights = Colorizer(ResidualCaffeNet(width_multiplier=0.25)).save_weights(tmp_path / "tiny.pt")
    assert readme_figures.main(["--model", str(weights), "--output", str(tmp_path / "figures")]) == 0
    label = readme_figures.LABEL_HEIGHT
    sizes = {name: Image.open(tmp_path / "figures" / name).size for name in readme_figures.FIGURES}
    assert sizes["strip.png"] == (3 * 256, label + 256 * len(readme_figures.STRIP_PHOTOS))
    assert sizes["hints.png"] == (5 * 256, label + 256 * len(readme_figures.HINT_PHOTOS))
    assert sizes["reference.png"] == (5 * 256, label + 256 * len(readme_figures.REFERENCE_PAIRS))
    assert sizes["video.jpg"] == (len(readme_figures.VIDEO_SHOWN) * 320, label + 4 * 240)
    assert sizes["region.png"][0] == 6 * Image.open(readme_figures.SAMPLES_DIR / readme_figures.REGION_PHOTO).size[0]
    clicks = np.asarray(Image.open(tmp_path / "figures" / "hints.png"))[label:, :256].astype(int)
    colourful = (clicks.max(axis=2) - clicks.min(axis=2) > 20).sum()
    assert 0 < colourful < 0.05 * clicks.shape[0] * clicks.shape[1]  # a grey photo with a few coloured dots
