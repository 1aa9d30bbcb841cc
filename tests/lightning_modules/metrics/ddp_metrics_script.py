"""Run by test_metrics.py: the metric collection over 2 gloo ranks, each seeing a different share of the
images (3 and 2), must equal one process seeing all 5. Exits non-zero on disagreement."""

from __future__ import annotations

import socket
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pseudocolor.lightning_modules.metrics import image_metrics


def data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    target = torch.randint(0, 256, (5, 3, 24, 24), generator=generator, dtype=torch.uint8)
    preds = (target.int() + torch.randint(-30, 31, target.shape, generator=generator)).clamp(0, 255).to(torch.uint8)
    return preds, target


def worker(rank: int, port: int, expected: dict[str, torch.Tensor]) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    preds, target = data()
    share = slice(0, 3) if rank == 0 else slice(3, 5)
    collection = image_metrics()
    collection.update(preds[share], target[share])
    result = collection.compute()
    for name, value in expected.items():
        torch.testing.assert_close(result[name], value, msg=f"rank {rank}: {name}")
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    collection = image_metrics()
    collection.update(*data())
    expected = collection.compute()
    # fork: the workers inherit the imports (spawn would re-import torchmetrics in each, ~10 s on 2 cores)
    mp.start_processes(worker, args=(free_port(), expected), nprocs=2, join=True, start_method="fork")
    print("ddp metrics agree:", {name: round(value.item(), 4) for name, value in expected.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
