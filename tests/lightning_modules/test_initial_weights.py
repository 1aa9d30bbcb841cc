"""`model.init_weights`: a run starts from a trained network's weights (fine-tuning)."""

import pytest
import torch

from experiments.cli import main
from lightning_modules.colorization_module import ColorizationModule
from lightning_modules.colorizer import Colorizer
from lightning_modules.initial_weights import InitialWeightsError
from lightning_modules.networks.residual_caffenet import ResidualCaffeNet


@pytest.fixture
def trained_weights(tmp_path):
    """A width-0.25 network with non-default weights, exported as pseudocolor weights (fp32)."""
    torch.manual_seed(3)
    network = ResidualCaffeNet(width_multiplier=0.25)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.normal_()
    return network, Colorizer(network).save_weights(tmp_path / "trained.pt", half=False)


def test_init_weights_copies_every_tensor_of_the_trained_network(trained_weights):
    source, path = trained_weights
    module = ColorizationModule(network=ResidualCaffeNet(width_multiplier=0.25), init_weights=str(path))
    expected = source.state_dict()
    for name, value in module.network.state_dict().items():
        assert torch.equal(value, expected[name]), name


def test_init_weights_of_a_differently_built_network_is_refused_naming_both(trained_weights):
    _, path = trained_weights
    with pytest.raises(InitialWeightsError, match=r"width_multiplier': 0.25.*width_multiplier': 0.5.*set model.network"):
        ColorizationModule(network=ResidualCaffeNet(width_multiplier=0.5), init_weights=str(path))


def test_fit_with_a_missing_init_weights_file_stops_with_one_line(tmp_path, capsys):
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--model.init_weights", str(missing), "--trainer.logger", "false",
              "--trainer.default_root_dir", str(tmp_path)])
    assert str(stop.value) == f"error: model.init_weights: {missing}: model file not found; pass a .ckpt or exported weights file"
