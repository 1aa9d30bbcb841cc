"""Speed figures of the data path, the training step, fit and inference, ours and the ECCV16 shape,
measured in one run on one machine:

    python -m pseudocolor.experiments.scripts.benchmark --device cpu --steps 3 --fit-epochs 1
    python -m pseudocolor.experiments.scripts.benchmark --device cuda --bf16 --channels-last --data /data/imagenet/train

On CUDA, `fit` decodes JPEGs on the GPU (the datamodule's jpeg_decode="device"); --fit-decode workers measures
the CPU-decoding fit for comparison.

Prints one line per figure: images/s (or ms per image) and peak memory (CUDA allocator peak on the GPU,
process max RSS on the CPU).
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import time
from collections.abc import Callable
from pathlib import Path

import torch
from lightning.pytorch import Callback, Trainer

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.datamodules.decoding import list_images
from pseudocolor.datamodules.folder_datamodule import SAMPLES_DIR, FolderDataModule
from pseudocolor.lightning_modules.ab_encoding import normalize_l
from pseudocolor.lightning_modules.networks import build_network
from pseudocolor.lightning_modules.training.colorization_module import ColorizationModule


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], int], device: torch.device, warmup: int, repeats: int) -> tuple[float, int]:
    """Run fn (returns images processed) warmup + repeats times -> (seconds for the repeats, images)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    start, images = time.perf_counter(), 0
    for _ in range(repeats):
        images += fn()
    _sync(device)
    return time.perf_counter() - start, images


def _report(name: str, seconds: float, images: int, device: torch.device, per_image_ms: bool = False) -> None:
    rate = f"{1000 * seconds / images:8.1f} ms/image" if per_image_ms else f"{images / seconds:8.1f} images/s"
    print(f"{name:<48} {rate}   peak {_peak_mb(device):8.0f} MB", flush=True)


def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def _prepare(network: torch.nn.Module, device: torch.device, channels_last: bool, compile_: bool):
    network = network.to(device)
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
    return torch.compile(network) if compile_ else network


def bench_cpu_decode(files: list[Path], size: int, batch: int, workers: int, device: torch.device) -> None:
    """PIL decode + crop in DataLoader workers, then Lab conversion on the device."""
    data = FolderDataModule(root=str(files[0].parent), batch_size=batch, crop_size=size, num_workers=workers)
    loader = data.train_dataloader()
    _reset_peak(device)
    start, images = time.perf_counter(), 0
    for item in loader:
        rgb = item["image"].to(device, non_blocking=True).float().div_(255)
        rgb_to_lab(rgb)
        images += rgb.shape[0]
    _sync(device)
    _report(f"data: CPU decode ({workers} workers) + Lab, {size}px", time.perf_counter() - start, images, device)


def bench_gpu_decode(files: list[Path], size: int, batch: int, device: torch.device) -> None:
    """nvjpeg: the CPU only reads bytes; decode, resize and Lab run batched on the GPU."""
    if device.type != "cuda":
        print(f"{'data: GPU decode (nvjpeg)':<48} skipped: no CUDA", flush=True)
        return
    from torchvision.io import decode_jpeg, read_file
    from torchvision.transforms.v2.functional import center_crop, resize

    jpegs = [f for f in files if f.suffix.lower() in (".jpg", ".jpeg")]
    data = [read_file(str(f)) for f in jpegs]

    def step() -> int:
        count = 0
        for begin in range(0, len(data), batch):
            decoded = decode_jpeg(data[begin : begin + batch], device=device)
            rgb = torch.stack([center_crop(resize(image, size, antialias=True), size) for image in decoded])
            rgb_to_lab(rgb.float().div_(255))
            count += rgb.shape[0]
        return count

    _reset_peak(device)
    seconds, images = _timed(step, device, warmup=1, repeats=3)
    _report(f"data: GPU decode (nvjpeg) + Lab, {size}px", seconds, images, device)


def bench_train_step(
    name: str, network, size: int, batch: int, steps: int, device, bf16: bool, channels_last: bool
) -> None:
    """Forward, loss, backward and AdamW step on synthetic Lab tensors."""
    module = ColorizationModule(network=network).to(device)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)
    rgb = torch.rand(batch, 3, size, size, device=device)
    batch_dict = {"lab": rgb_to_lab(rgb), "rgb": rgb}
    if channels_last:
        batch_dict = {k: v.contiguous(memory_format=torch.channels_last) for k, v in batch_dict.items()}
    module.log = lambda *args, **kwargs: None  # no trainer attached

    def step() -> int:
        with _autocast(device, bf16):
            loss = module._step(batch_dict, "train")["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return batch

    _reset_peak(device)
    seconds, images = _timed(step, device, warmup=1, repeats=steps)
    _report(f"train step {name}, {size}px, batch {batch}", seconds, images, device)


def bench_inference(
    name: str, network, size: int, batch: int, repeats: int, device, bf16: bool, channels_last: bool
) -> None:
    """Network forward (logits) in inference mode."""
    l = normalize_l(torch.rand(batch, 1, size, size, device=device) * 100)
    if channels_last:
        l = l.contiguous(memory_format=torch.channels_last)
    network.eval()

    def step() -> int:
        with torch.inference_mode(), _autocast(device, bf16):
            network(l)
        return batch

    _reset_peak(device)
    seconds, images = _timed(step, device, warmup=2, repeats=repeats)
    _report(f"inference {name}, {size}px, batch {batch}", seconds, images, device, per_image_ms=batch == 1)


class _EpochTimer(Callback):
    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.seconds = time.perf_counter() - self.start


def bench_fit(
    name: str, network, root: Path, size: int, batch: int, epochs: int, workers: int, device, bf16: bool,
    channels_last: bool, compile_: bool, jpeg_decode: str,
) -> None:
    """Lightning fit on real photos, no validation or logging; the last epoch's training images/s."""
    data = FolderDataModule(
        root=str(root), batch_size=batch, crop_size=size, num_workers=workers, jpeg_decode=jpeg_decode
    )
    timer = _EpochTimer()
    trainer = Trainer(
        accelerator=device.type, devices=1, max_epochs=epochs, limit_val_batches=0, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
        precision="bf16-mixed" if bf16 else "32-true",
    )
    module = ColorizationModule(network=network, prior_images=64, channels_last=channels_last, compile=compile_)
    _reset_peak(device)
    trainer.fit(module, datamodule=data)
    images = len(data.train_dataloader()) * batch
    decode = "JPEGs decoded on the device" if data.decodes_jpegs_on_device() else "decoded in workers"
    _report(f"fit {name} on {root.name}, {size}px, batch {batch}, {decode}", timer.seconds, images, device)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data", type=Path, default=SAMPLES_DIR, help="folder of JPEGs (default: bundled samples)")
    parser.add_argument("--width", type=float, default=1.0, help="width_multiplier of our network")
    parser.add_argument("--train-size", type=int, default=176)
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--fit-epochs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: the datamodule's)")
    parser.add_argument("--infer-repeats", type=int, default=10)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks")
    parser.add_argument("--fit-decode", choices=["auto", "workers", "device"], default="auto",
                        help="the datamodule's jpeg_decode for fit (auto: on the GPU under CUDA)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["data", "train", "fit", "infer"])
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda given but no CUDA device is visible; use --device cpu")
    files = list_images(args.data)
    if not files:
        parser.error(f"{args.data} holds no photos; pass --data DIR with JPEGs")
    workers = args.workers if args.workers is not None else FolderDataModule().num_workers
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, {len(files)} photos, "
          f"bf16={args.bf16} channels_last={args.channels_last} compile={args.compile}")
    networks = {
        f"residual_caffenet x{args.width}": lambda: build_network("residual_caffenet", width_multiplier=args.width),
        "eccv16": lambda: build_network("eccv16"),
    }
    if "data" not in args.skip:
        bench_cpu_decode(files, args.train_size, args.train_batch, workers, device)
        bench_gpu_decode(files, args.train_size, args.train_batch, device)
    for name, build in networks.items():
        if "train" not in args.skip:
            network = _prepare(build(), device, args.channels_last, args.compile)
            bench_train_step(name, network, args.train_size, args.train_batch, args.steps, device, args.bf16,
                             args.channels_last)
        if "fit" not in args.skip:
            bench_fit(name, build(), args.data, args.train_size, args.train_batch, args.fit_epochs, workers, device,
                      args.bf16, args.channels_last, args.compile, args.fit_decode)
        if "infer" not in args.skip:
            network = _prepare(build(), device, args.channels_last, args.compile)
            bench_inference(name, network, 256, 1, args.infer_repeats, device, args.bf16, args.channels_last)
            bench_inference(name, network, 256, 64, max(1, args.infer_repeats // 10), device, args.bf16,
                            args.channels_last)


if __name__ == "__main__":
    main()
