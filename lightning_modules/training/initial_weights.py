"""Start a training run from a trained network's weights (fine-tuning), read only with weights_only."""

from __future__ import annotations

from torch import nn

from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.inference.model_spec import load_spec
from pseudocolor.lightning_modules.inference.weights import ModelLoadError
from pseudocolor.lightning_modules.networks import network_name


class InitialWeightsError(PseudocolorError):
    """`model.init_weights` names a model that cannot start this run; the message says why and what to do."""


def load_initial_weights(network: nn.Module, spec: str) -> None:
    """Copy the weights of the model SPEC (see `inference.model_spec`) into `network`, in place.

    Raises InitialWeightsError when SPEC cannot be loaded or its network is built differently.
    """
    try:
        source = load_spec(spec).network
    except ModelLoadError as error:
        raise InitialWeightsError(f"model.init_weights: {error}") from error
    ours = (network_name(network), network.config())
    theirs = (network_name(source), source.config())
    if ours != theirs:
        raise InitialWeightsError(
            f"model.init_weights {spec}: its network {theirs[0]} {theirs[1]} differs from this run's "
            f"{ours[0]} {ours[1]}; set model.network to match it"
        )
    network.load_state_dict(source.state_dict())
