import pytest
import torch

from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.networks import build_network, network_name
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet


@pytest.mark.parametrize("size", [(64, 64), (70, 50), (33, 97)])
def test_logits_cover_a_quarter_of_any_input_size(size):
    network = ResidualCaffeNet(width_multiplier=0.25)
    logits = network(torch.randn(2, 1, *size))
    assert logits.shape == (2, network.num_bins, -(-size[0] // 4), -(-size[1] // 4))


def test_every_parameter_receives_a_gradient():
    network = ResidualCaffeNet(width_multiplier=0.25)
    hints = torch.randn(2, 3, 64, 64)
    global_hint = torch.rand(2, network.num_bins + 1)
    network(torch.randn(2, 1, 64, 64), hints, global_hint).square().mean().backward()
    missing = [name for name, p in network.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


def test_hints_change_the_output():
    torch.manual_seed(0)
    network = ResidualCaffeNet(width_multiplier=0.25).eval()
    l = torch.randn(1, 1, 64, 64)
    plain = network(l)
    assert not torch.allclose(plain, network(l, torch.ones(1, 3, 64, 64)))
    assert not torch.allclose(plain, network(l, global_hint=torch.ones(1, network.num_bins + 1)))


def test_width_multiplier_shrinks_the_network():
    def count(net):
        return sum(p.numel() for p in net.parameters())

    assert count(ResidualCaffeNet(width_multiplier=0.5)) < count(ResidualCaffeNet()) / 3


def test_rebuild_from_plain_config():
    network = ResidualCaffeNet(width_multiplier=0.25, hints=False)
    rebuilt = build_network(network_name(network), **network.config())
    rebuilt.load_state_dict(network.state_dict())
    network.eval(), rebuilt.eval()
    l = torch.randn(1, 1, 32, 32)
    torch.testing.assert_close(network(l), rebuilt(l))


def test_wrong_input_shape_and_unknown_network_are_refused():
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        ResidualCaffeNet(width_multiplier=0.25)(torch.randn(1, 3, 32, 32))
    with pytest.raises(PseudocolorError, match="unknown network"):
        build_network("alexnet")
