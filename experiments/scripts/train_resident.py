"""Train the colorizer on photos held in device memory, for a lent GPU with neither MLflow nor the network:
`python -m pseudocolor.experiments.scripts.train_resident --pack PACK [--pack PACK2] --output OUT`.

Why not `pseudocolor fit`: the lent machine has no MLflow and no network, and takes at most 64 MiB of files a call,
so the photos come as `pack_photos` packs, decoded once into one uint8 tensor on the device; every batch is cut from it
there (`device_crops.random_resized_crops`). Measured on the H200 (2026-12-04), two runs sharing it: 3,330 photos/s at
width 0.5 and 2,850 at width 0.75, batch 512, bf16 (fit with 14 JPEG workers: about 3,100 for one run).
The loss and the hints are `fit`'s: the package's ColorizationModule computes the loss (rebalanced CE +
L1 at annealed-mean temperature 1, the class weights from the ab histogram of 4,096 training crops, as at the start
of `fit`) and its HintSampler simulates the hints. AdamW, a linear warm-up, then a cosine to 2 % of the peak over a
fixed wall-clock budget (`--seconds`: the lent machine is given back at a fixed time), and a moving average (0.999)
of the weights and BatchNorm statistics. Every `--save-every` seconds and at the end, fp16 weights files
(`<name>_ema.pt`, `<name>_raw.pt`) that `--model` and `--model.init_weights` read. Progress lines, no MLflow.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import torch

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.datamodules.device_crops import random_resized_crops
from pseudocolor.datamodules.photo_pack import read_pack
from pseudocolor.lightning_modules.ab_encoding import ab_histogram, rebalancing_weights
from pseudocolor.lightning_modules.guided.hint_sampler import HintSampler
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet
from pseudocolor.lightning_modules.training.colorization_module import ColorizationModule

EMA_DECAY = 0.999
FINAL_LR_FRACTION = 0.02


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", type=Path, action="append", required=True, help="a pack folder (repeatable)")
    parser.add_argument("--output", type=Path, required=True, help="folder for the weights files")
    parser.add_argument("--name", default="resident", help="weights files are NAME_ema.pt and NAME_raw.pt")
    parser.add_argument("--width", type=float, default=0.5, help="ResidualCaffeNet width multiplier")
    parser.add_argument("--init-weights", help="model spec to start from (as fit's --model.init_weights)")
    parser.add_argument("--seconds", type=float, default=480.0, help="training time; the cosine ends there")
    parser.add_argument("--max-steps", type=int, default=0, help="stop earlier after this many steps (0: no limit)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup-steps", type=int, default=200)
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--min-area", type=float, default=0.2, help="smallest crop, as a fraction of the photo")
    parser.add_argument("--prior-crops", type=int, default=4096, help="crops whose ab histogram sets the class weights")
    parser.add_argument("--save-every", type=float, default=90.0, help="seconds between weights files")
    parser.add_argument("--workers", type=int, default=16, help="processes decoding the packs")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser


def learning_rate(args: argparse.Namespace, step: int, elapsed: float) -> float:
    """Linear warm-up over `warmup_steps`, then a cosine over the time budget down to FINAL_LR_FRACTION of `lr`."""
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed / args.seconds)))
    return args.lr * min(1.0, (step + 1) / args.warmup_steps) * (FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * cosine)


class Averaged:
    """An exponential moving average of a network's state dict (weights and BatchNorm statistics), as the
    `WeightAverage` callback keeps during `fit` (that callback's package imports MLflow, which the device lacks)."""

    def __init__(self, network: ResidualCaffeNet) -> None:
        self.network = network
        live = network.state_dict()  # the network's own tensors, updated in place by the optimizer
        self.average = {name: value.detach().clone() for name, value in live.items()}
        floating = [name for name, value in live.items() if value.is_floating_point()]
        self._pairs = [self.average[name] for name in floating], [live[name] for name in floating]

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Blend in the current values; early steps weigh more, so the average does not start at the first weights."""
        torch._foreach_lerp_(*self._pairs, 1 - min(EMA_DECAY, (1 + step) / (10 + step)))

    def copy(self, averaged: bool) -> ResidualCaffeNet:
        """A CPU copy of the network with the averaged or the current values."""
        state = self.average if averaged else self.network.state_dict()
        copy = ResidualCaffeNet(**self.network.config())
        copy.load_state_dict({name: value.detach().float().cpu().contiguous() for name, value in state.items()})
        return copy


def save(args: argparse.Namespace, averaged: Averaged) -> None:
    args.output.mkdir(parents=True, exist_ok=True)
    for kind, use_average in (("ema", True), ("raw", False)):
        Colorizer(averaged.copy(use_average), temperature=0.5, size=256).save_weights(
            args.output / f"{args.name}_{kind}.pt"
        )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # training_step logs through Lightning's self.log, which has no Trainer to log to here (and says so each run)
    warnings.filterwarnings("ignore", message=r".*self\.trainer. reference is not registered")
    start = time.time()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    try:
        photos, weights = read_pack(args.pack, args.workers)
    except FileNotFoundError as error:
        raise SystemExit(f"error: --pack {error}") from None
    photos, weights = photos.to(device), weights.to(device)
    print(f"{len(photos)} photos {tuple(photos.shape[1:])} on {device} in {time.time() - start:.0f} s", flush=True)
    module = ColorizationModule(
        network=ResidualCaffeNet(width_multiplier=args.width),
        ce_weight=1.0,
        l1_weight=5.0,
        temperature=1.0,
        uniform_mix=1.0,
        hint_sampler=HintSampler(p_none=0.5, p_global=0.3),
        init_weights=args.init_weights,
        channels_last=device.type == "cuda",
    )
    module.configure_model()
    module.to(device)
    network, bins = module.network, module.network.ab_bins

    def batch(size: int, crop_size: int) -> torch.Tensor:
        return random_resized_crops(
            photos[torch.multinomial(weights, size, replacement=True)], crop_size, args.min_area
        )

    with torch.no_grad():
        histogram = sum(
            ab_histogram(rgb_to_lab(batch(256, 64))[:, 1:], bins).sum(0) for _ in range(max(1, args.prior_crops // 256))
        )
        module.ab_prior.copy_(histogram / histogram.sum())
        module.class_weights.copy_(rebalancing_weights(module.ab_prior, module.hparams.uniform_mix))
    optimizer = torch.optim.AdamW(network.parameters(), lr=args.lr, weight_decay=1e-4)
    averaged = Averaged(network)
    step, loss, train_start, last_save = 0, torch.zeros(()), time.time(), time.time()
    while (elapsed := time.time() - train_start) < args.seconds and not (args.max_steps and step >= args.max_steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(args, step, elapsed)
        with torch.no_grad():
            rgb = batch(args.batch_size, args.crop_size)
            lab = rgb_to_lab(rgb)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = module.training_step({"lab": lab, "rgb": rgb}, step)  # adds the hints, checks the loss is finite
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        averaged.update(step)
        step += 1
        if step % 200 == 0:
            print(
                f"step {step}  {elapsed:.0f} s  loss {loss.item():.4f}  "
                f"{step * args.batch_size / (time.time() - train_start):.0f} photos/s",
                flush=True,
            )
        if time.time() - last_save > args.save_every:
            save(args, averaged)
            last_save = time.time()
    save(args, averaged)
    print(
        f"done: {step} steps of {args.batch_size}, {time.time() - train_start:.0f} s, last loss {loss.item():.4f}; "
        f"weights in {args.output}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
