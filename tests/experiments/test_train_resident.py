"""The device-memory trainer: packs real JPEGs, trains a few steps on the CPU, writes weights files that load as models
and differ from the ones it started from; its learning rate warms up and ends at 2 % of the peak; a missing pack or
source folder is one sentence."""

import argparse

import pytest

from pseudocolor.datamodules.photo_pack import write_pack
from pseudocolor.experiments.scripts import pack_photos, train_resident
from pseudocolor.lightning_modules.inference.model_spec import load_spec
from tests.conftest import write_photo


def test_a_few_steps_from_the_shipped_model_write_loadable_weights(tmp_path):
    photos = [write_photo(tmp_path / "photos" / f"{i}.jpg", height=64, width=64, seed=i) for i in range(8)]
    write_pack([(photos, 1.0)], tmp_path / "pack", size=64)
    argv = [
        "--pack",
        str(tmp_path / "pack"),
        "--output",
        str(tmp_path / "out"),
        "--init-weights",
        "pretrained",
        "--width",
        str(load_spec("pretrained").network.config()["width_multiplier"]),
        "--max-steps",
        "3",
        "--batch-size",
        "4",
        "--crop-size",
        "32",
        "--prior-crops",
        "256",
        "--workers",
        "1",
        "--device",
        "cpu",
        "--name",
        "tiny",
    ]
    assert train_resident.main(argv) == 0
    start = load_spec("pretrained").network.state_dict()
    for kind in ("ema", "raw"):
        trained = load_spec(str(tmp_path / "out" / f"tiny_{kind}.pt")).network.state_dict()
        assert trained.keys() == start.keys()
        moved = max(
            float((trained[k].float() - start[k].float()).abs().max()) for k in start if start[k].is_floating_point()
        )
        assert moved > 0


def test_the_learning_rate_warms_up_then_falls_to_its_floor():
    args = argparse.Namespace(lr=1e-3, warmup_steps=10, seconds=100.0)
    assert train_resident.learning_rate(args, 0, 0.0) == 1e-4
    assert train_resident.learning_rate(args, 50, 0.0) == 1e-3
    assert abs(train_resident.learning_rate(args, 500, 100.0) - 2e-5) < 1e-12
    assert train_resident.learning_rate(args, 500, 30.0) > train_resident.learning_rate(args, 500, 60.0)


def test_a_missing_pack_or_source_is_one_sentence(tmp_path):
    with pytest.raises(SystemExit, match=r"--pack .*absent: no part\*\.bin files; make a pack"):
        train_resident.main(["--pack", str(tmp_path / "absent"), "--output", str(tmp_path / "out"), "--device", "cpu"])
    with pytest.raises(SystemExit, match=r"--source .*absent is not a directory; pass a folder of photos"):
        pack_photos.main(["--source", str(tmp_path / "absent"), "1", "--output", str(tmp_path / "pack")])
