"""`model.init_weights`: a run starts from a trained network's weights (fine-tuning)."""

import pytest
import torch

from pseudocolor.experiments.cli import main
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet
from pseudocolor.lightning_modules.training.colorization_module import ColorizationModule
from pseudocolor.lightning_modules.training.initial_weights import InitialWeightsError


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
    module.configure_model()
    expected = source.state_dict()
    for name, value in module.network.state_dict().items():
        assert torch.equal(value, expected[name]), name


def test_init_weights_of_a_differently_built_network_is_refused_naming_both(trained_weights):
    _, path = trained_weights
    with pytest.raises(InitialWeightsError, match=r"width_multiplier': 0.25.*width_multiplier': 0.5.*set model.network"):
        ColorizationModule(network=ResidualCaffeNet(width_multiplier=0.5), init_weights=str(path)).configure_model()


def test_init_weights_are_read_in_configure_model_not_when_the_module_is_built(tmp_path):
    """load_from_checkpoint and every DDP rank build the module: that alone must not read the spec."""
    module = ColorizationModule(network=ResidualCaffeNet(width_multiplier=0.25), init_weights=str(tmp_path / "gone.pt"))
    with pytest.raises(InitialWeightsError, match="gone.pt"):
        module.configure_model()


def test_fit_with_a_missing_init_weights_file_stops_with_one_line(tmp_path, capsys):
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--model.init_weights", str(missing), "--trainer.logger", "false",
              "--trainer.default_root_dir", str(tmp_path)])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: model.init_weights: {missing}: model file not found; pass an existing file"
    )
