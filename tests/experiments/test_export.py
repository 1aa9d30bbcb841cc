import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from pseudocolor.experiments.commands.export import PARITY_TOLERANCE, main
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.prediction import predict_ab
from tests.deploy_helpers import write_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_weights(tmp_path_factory.mktemp("model") / "tiny.pt", seed=11)


@pytest.mark.slow
def test_onnx_matches_pytorch_at_any_batch_and_size(weights, tmp_path, capsys):
    path = tmp_path / "tiny.onnx"

    assert main(["--model", str(weights), "--format", "onnx", "--output", str(path)]) == 0

    assert "max |ab difference|" in capsys.readouterr().out
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    colorizer = Colorizer.load(weights)
    for shape in [(1, 1, 64, 64), (4, 1, 45, 123)]:
        l = torch.rand(shape, generator=torch.Generator().manual_seed(1)) * 100
        with torch.no_grad():
            expected = predict_ab(colorizer.network, l, temperature=colorizer.temperature).numpy()
        actual = session.run(["ab"], {"l": l.numpy()})[0]
        assert actual.shape == expected.shape == (shape[0], 2, -(-shape[2] // 4), -(-shape[3] // 4))
        assert np.abs(actual - expected).max() < PARITY_TOLERANCE
    metadata = {prop.key: prop.value for prop in onnx.load(str(path)).metadata_props}
    assert metadata["pseudocolor.size"] == "64"


def test_weights_export_is_fp16_and_loads_back(weights, tmp_path):
    path = tmp_path / "out" / "exported.pt"

    assert main(["--model", str(weights), "--format", "weights", "--output", str(path)]) == 0

    payload = torch.load(path, weights_only=True)
    assert all(v.dtype == torch.float16 for v in payload["state_dict"].values() if v.is_floating_point())
    reloaded, original = Colorizer.load(path), Colorizer.load(weights)
    for name, value in original.network.state_dict().items():
        torch.testing.assert_close(reloaded.network.state_dict()[name], value)


def test_a_bad_model_spec_is_named(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "absent.pt"), "--format", "onnx", "--output", str(tmp_path / "x.onnx")]) == 2
    assert "absent.pt: model file not found" in capsys.readouterr().err


def test_decoding_settings_written_by_export_reach_every_colouring(weights, tmp_path):
    """--temperature and --chroma-gain go into the weights file; Colorizer scales the decoded ab by the gain."""
    path = tmp_path / "vivid.pt"
    argv = ["--model", str(weights), "--format", "weights", "--output", str(path), "--temperature", "0.5"]
    assert main([*argv, "--chroma-gain", "1.5"]) == 0
    vivid, plain = Colorizer.load(path), Colorizer.load(weights)
    assert (vivid.temperature, vivid.chroma_gain) == (0.5, 1.5)
    l = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(2)) * 100
    plain.temperature = 0.5
    torch.testing.assert_close(vivid.predict_small_ab(l), 1.5 * plain.predict_small_ab(l), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("flag", ["--temperature", "--chroma-gain"])
def test_a_non_positive_decoding_setting_is_refused(weights, tmp_path, capsys, flag):
    argv = ["--model", str(weights), "--format", "weights", "--output", str(tmp_path / "x.pt"), flag, "0"]
    assert main(argv) == 2
    assert "must be positive" in capsys.readouterr().err
