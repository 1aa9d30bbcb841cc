import pytest
import torch

from pseudocolor.lightning_modules.inference import model_spec
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.weights import ModelLoadError
from tests.deploy_helpers import tiny_colorizer, write_checkpoint, write_weights


def same_network(a: Colorizer, b: Colorizer) -> bool:
    """Equal weights up to fp16 rounding of the exported file."""
    pairs = zip(a.network.state_dict().values(), b.network.state_dict().values())
    return all(torch.allclose(x.float(), y.float(), atol=1e-3) for x, y in pairs)


def test_weights_file(tmp_path):
    path = write_weights(tmp_path / "tiny.pt", seed=3)
    loaded = Colorizer.load(path)
    assert same_network(loaded, tiny_colorizer(seed=3))
    assert loaded.size == 64


def test_lightning_checkpoint(tmp_path):
    path = write_checkpoint(tmp_path / "last.ckpt", seed=4)
    loaded = Colorizer.load(str(path))
    assert same_network(loaded, tiny_colorizer(seed=4))
    assert not loaded.network.training


def test_missing_pretrained_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(model_spec, "PRETRAINED_WEIGHTS", tmp_path / "absent.pt")
    with pytest.raises(ModelLoadError, match="no pretrained model is bundled in this version"):
        Colorizer.load("pretrained")


def test_bundled_pretrained_is_loaded(monkeypatch, tmp_path):
    monkeypatch.setattr(model_spec, "PRETRAINED_WEIGHTS", write_weights(tmp_path / "colorizer.pt", seed=5))
    assert same_network(Colorizer.load("pretrained"), tiny_colorizer(seed=5))


def test_missing_and_foreign_files_are_named(tmp_path):
    with pytest.raises(ModelLoadError, match="absent.ckpt: model file not found"):
        Colorizer.load(tmp_path / "absent.ckpt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ModelLoadError, match="other.pt: holds no pseudocolor network config"):
        Colorizer.load(tmp_path / "other.pt")


def test_unknown_registered_model_is_named(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(ModelLoadError, match="models:/nobody@champion: cannot be downloaded"):
        Colorizer.load("models:/nobody@champion", tracking_uri=uri)
