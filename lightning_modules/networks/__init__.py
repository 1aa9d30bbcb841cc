"""Colorization networks and the name -> class table used to rebuild them from a plain config."""

from __future__ import annotations

from torch import nn

from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.networks.eccv16 import ECCV16Net
from pseudocolor.lightning_modules.networks.protocol import ColorizationNetwork
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet

NETWORKS: dict[str, type[ColorizationNetwork]] = {"residual_caffenet": ResidualCaffeNet, "eccv16": ECCV16Net}


def network_name(network: nn.Module) -> str:
    """The registry name of a network instance."""
    for name, cls in NETWORKS.items():
        if type(network) is cls:
            return name
    raise ValueError(f"{type(network).__name__} is not in the network registry {sorted(NETWORKS)}")


def build_network(name: str, **config) -> ColorizationNetwork:
    """Build a registered network from its name and plain constructor arguments."""
    if name not in NETWORKS:
        raise PseudocolorError(f"unknown network {name!r}; choose one of {sorted(NETWORKS)}")
    return NETWORKS[name](**config)
