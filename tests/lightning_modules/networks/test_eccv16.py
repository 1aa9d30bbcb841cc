"""The ECCV16-shaped reference network: shapes, parameter count, registry, gradients, bad input."""

import pytest
import torch

from pseudocolor.lightning_modules.networks import build_network, network_name
from pseudocolor.lightning_modules.networks.eccv16 import ECCV16Net


def test_output_is_a_quarter_resolution_distribution_over_the_bins():
    network = ECCV16Net()
    logits = network(torch.randn(2, 1, 64, 48))
    assert logits.shape == (2, network.num_bins, 16, 12)
    assert 31e6 < sum(p.numel() for p in network.parameters()) < 33e6  # the paper's 32M


def test_registered_and_rebuilt_from_its_config():
    network = build_network("eccv16", ab_grid=10.0)
    assert network_name(network) == "eccv16"
    assert ECCV16Net(**network.config()).num_bins == network.num_bins


def test_every_parameter_gets_a_gradient():
    network = ECCV16Net()
    network(torch.randn(2, 1, 32, 32)).logsumexp(dim=1).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in network.parameters())


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (2, 1, 30, 32)])
def test_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        ECCV16Net()(torch.randn(*shape))


def test_rejects_hints():
    with pytest.raises(ValueError, match="no local or global hints"):
        ECCV16Net()(torch.randn(1, 1, 32, 32), local_hints=torch.zeros(1, 3, 32, 32))
