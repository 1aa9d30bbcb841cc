"""`pseudocolor colorize --box-region / --auto-region` with real (randomly initialised) Mask R-CNN files."""

import numpy as np
import pytest
import torch
from PIL import Image

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.experiments.commands.colorize import main
from pseudocolor.lightning_modules.guided.segmentation import InstanceSegmenter
from pseudocolor.lightning_modules.propagation.fusion import grow_mask
from tests.conftest import write_photo
from tests.deploy_helpers import tiny_colorizer

BOX = (40, 40, 184, 120)  # in a 224 x 160 photo: a frame more than the 32 px seam band stays outside


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A tiny colorizer that follows its global hint strongly: the random tiny one barely reacts to it
    (measured below 0.2 ab units, lost in 8-bit output)."""
    colorizer = tiny_colorizer()
    with torch.no_grad():
        colorizer.network.global_hint.weight.mul_(1e3)
        colorizer.network.head.weight.mul_(10)
    return colorizer.save_weights(tmp_path_factory.mktemp("model") / "follows-hints.pt")


@pytest.fixture()
def photos(tmp_path):
    return write_photo(tmp_path / "photo.jpg", height=160, width=224), write_photo(tmp_path / "ref.jpg", seed=7)


def colorize(*args) -> int:
    return main(["--segmenter-size", "128", *map(str, args), "--device", "cpu", "--no-progress"])  # later flags win


def _ab(path) -> torch.Tensor:
    rgb = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)
    return rgb_to_lab(rgb[None].float() / 255)[0, 1:]


def test_a_box_region_recolours_inside_the_box_only(tmp_path, photos, weights, maskrcnn_weights, capsys):
    source, reference = photos
    box = ",".join(map(str, BOX))
    assert colorize(source, "--output", tmp_path / "plain", "--model", weights) == 0
    status = colorize(
        source, "--output", tmp_path / "box", "--model", weights,
        "--box-region", f"{box}={reference}", "--segmenter-weights", maskrcnn_weights["person"],
    )

    assert status == 0 and "warning" not in capsys.readouterr().err  # a person was found in the box
    difference = (_ab(tmp_path / "box" / "photo.png") - _ab(tmp_path / "plain" / "photo.png")).abs().amax(dim=0)
    inside = torch.zeros(160, 224, dtype=torch.bool)
    inside[BOX[1] : BOX[3], BOX[0] : BOX[2]] = True
    # the region is cut to the box; its seam (a Poisson band) reaches at most 32 px beyond it
    assert difference[~grow_mask(inside, 32)].max() < 1.0  # farther out: the automatic colouring (8-bit rounding)
    # well above 8-bit rounding: the region took the reference's colours (transferred, not from the tiny network)
    assert difference[inside].max() > 5, f"max |d ab| inside the box = {difference[inside].max():.2f}"


def test_no_instance_colours_automatically_and_warns_naming_it(tmp_path, photos, weights, maskrcnn_weights, capsys):
    source, reference = photos
    assert colorize(source, "--output", tmp_path / "plain", "--model", weights) == 0
    status = colorize(
        source, "--output", tmp_path / "auto", "--model", weights,
        "--auto-region", reference, "--segmenter-weights", maskrcnn_weights["nothing"],
    )

    assert status == 0
    assert f"warning: {source}: no instance scoring 0.5 or more was detected" in capsys.readouterr().err
    automatic, plain = _ab(tmp_path / "auto" / "photo.png"), _ab(tmp_path / "plain" / "photo.png")
    torch.testing.assert_close(automatic, plain, atol=1.0, rtol=0)  # 8-bit rounding of one colour path or the other


BAD_FLAGS = [
    (["--auto-region", "{ref}"], "--box-region and --auto-region need --segmenter-weights FILE: download"),
    (["--box-region", "10,10,50,50={ref}"], "need --segmenter-weights FILE: download https://download"),
    (["--box-region", "10,10,50={ref}", "--segmenter-weights", "{person}"], "is not X0,Y0,X1,Y1"),
    (["--box-region", "10,10,10,50={ref}", "--segmenter-weights", "{person}"], "is empty: it needs X1 > X0"),
    (["--box-region", "10,10,500,50={ref}", "--segmenter-weights", "{person}"], "not inside the 224x160 image"),
    (["--box-region", "10,10,50,50", "--segmenter-weights", "{person}"], "expected X0,Y0,X1,Y1=REFERENCE.jpg"),
    (["--box-region", "10,10,50,50={tmp}/no.jpg", "--segmenter-weights", "{person}"], "--box-region"),
    (["--auto-region", "{ref}", "--segmenter-weights", "{tmp}/no.pth"], "Mask R-CNN weights file not found"),
    (["--auto-region", "{ref}", "--segmenter-weights", "{model}"], "is not a torchvision Mask R-CNN state dict"),
    (["--auto-region", "{ref}", "--segmenter-weights", "{person}", "--segmenter-size", "8"], "at least 32 pixels"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS)
def test_bad_flags_exit_2_with_one_line_naming_them(
    tmp_path, photos, weights, maskrcnn_weights, capsys, flags, message
):
    source, reference = photos
    names = {"ref": reference, "tmp": tmp_path, "person": maskrcnn_weights["person"], "model": weights}
    argv = [flag.format(**names) for flag in flags]

    assert colorize(source, "--output", tmp_path / "out", "--model", weights, *argv) == 2

    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_auto_region_and_two_boxes_cost_one_detection_per_photo(
    tmp_path, photos, weights, maskrcnn_weights, monkeypatch
):
    source, reference = photos
    calls = []
    detect = InstanceSegmenter._detect
    monkeypatch.setattr(InstanceSegmenter, "_detect", lambda self, *a: calls.append(1) or detect(self, *a))
    status = colorize(
        source, "--output", tmp_path / "out", "--model", weights, "--segmenter-weights", maskrcnn_weights["person"],
        "--auto-region", reference,
        "--box-region", f"10,10,100,100={reference}", "--box-region", f"50,40,200,150={reference}",
    )
    assert status == 0 and len(calls) == 1  # Mask R-CNN costs seconds per pass on a CPU
