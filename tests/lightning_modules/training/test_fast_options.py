"""channels_last and compile change how the network runs, not what it computes or what a checkpoint holds."""

import copy

import torch

from pseudocolor.lightning_modules.ab_encoding import normalize_l
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet
from pseudocolor.lightning_modules.training.colorization_module import ColorizationModule


def modules(**options) -> tuple[ColorizationModule, ColorizationModule]:
    """(a plain module, one with `options`) holding the same weights, in eval mode."""
    torch.manual_seed(0)
    network = ResidualCaffeNet(width_multiplier=0.25)
    plain = ColorizationModule(copy.deepcopy(network)).eval()
    fast = ColorizationModule(network, **options).eval()
    fast.configure_model()
    return plain, fast


def test_channels_last_gives_the_same_colours():
    plain, fast = modules(channels_last=True)
    kernels = [p for p in fast.network.parameters() if p.ndim == 4]
    assert kernels and all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)
    l = torch.rand(2, 1, 32, 32) * 100
    with torch.no_grad():
        torch.testing.assert_close(fast(l), plain(l), atol=1e-4, rtol=1e-4)


def test_compiled_module_gives_the_same_colours_and_its_checkpoint_loads_into_colorizer(tmp_path):
    plain, fast = modules(compile=True, channels_last=True)
    l = torch.rand(2, 1, 32, 32) * 100
    with torch.no_grad():
        torch.testing.assert_close(fast(l), plain(l), atol=1e-4, rtol=1e-4)
    assert fast.state_dict().keys() == plain.state_dict().keys()
    checkpoint = {"state_dict": fast.state_dict(), "hyper_parameters": dict(fast.hparams)}
    fast.on_save_checkpoint(checkpoint)  # what Lightning adds to every checkpoint of the module
    torch.save(checkpoint, tmp_path / "compiled.ckpt")
    colorizer = Colorizer.load(tmp_path / "compiled.ckpt")
    with torch.no_grad():
        expected = plain.network(normalize_l(l))
        torch.testing.assert_close(colorizer.network(normalize_l(l)), expected, atol=1e-4, rtol=1e-4)
