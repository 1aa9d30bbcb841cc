"""Time the served model's heaviest requests that its limits let through, in-process (no HTTP):
`python -m pseudocolor.experiments.scripts.benchmark_serving [--model pretrained] [--case NAME ...]`.

Loads `ColorizerModel` as `mlflow models serve` does (weights of `--model`, the default ServingLimits) and prints,
per case, the seconds of `predict` and the process's peak resident memory so far, against the 60 s the scoring
server gives a request. The first line is the yardstick: the network alone on 256 px inputs at batch 16, ms a
photo (19-27 ms on an idle 2-core machine), so figures from a busy machine can be scaled. Cases:
  rows-N: N rows of 64x48 JPEGs (linear in N when rows are coloured in chunks);
  one-batch-N: the same N photos through one `colorize_batch` (the path before chunking);
  16mp, 24mp: one flat 4000x4000 PNG; 16 MP plus eight 1000x1000 photos (the request pixel limit);
  regions-16: one photo with 16 regions and a reference; references-32: two rows of 16 regions (the reference limit);
  regions-pixels: a 2000x2000 photo with 2 half-photo regions (the 8 MP mask limit; 12 MP in all);
  hints-rows: 32 rows (the guided-row limit) of 64x48 with 1000 hints each; hints-16mp: a 4000x4000 photo with
    1000 hints;
  refused: the hostile requests of issue 19, each refused from its headers (seconds to the 400).
"""

from __future__ import annotations

import argparse
import base64
import resource
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from mlflow.exceptions import MlflowException
from PIL import Image

from pseudocolor.experiments.scripts.load_test import encoded, flat_png, hints_value, hostile_requests, regions_value
from pseudocolor.lightning_modules.deploy.serving import ColorizerModel, write_serving_config
from pseudocolor.lightning_modules.deploy.serving_limits import ServingLimits
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.model_spec import PRETRAINED, WEIGHTS_ARTIFACT

TIMEOUT_S = 60.0  # the scoring server's default request timeout


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth colourful (H, W, 3) uint8 picture: bilinear-upsampled noise (compresses like a photo)."""
    small = np.random.default_rng(seed).integers(0, 256, (max(2, height // 16), max(2, width // 16), 3), np.uint8)
    return np.asarray(Image.fromarray(small).resize((width, height), Image.BILINEAR))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def requests() -> dict[str, Callable[[], pd.DataFrame]]:
    small = [encoded(photo(48, 64, seed), "JPEG") for seed in range(16)]
    reference = encoded(photo(120, 160, 99), "JPEG")

    def rows(count: int) -> pd.DataFrame:
        return pd.DataFrame({"image": [small[i % len(small)] for i in range(count)]})

    def guided(images: list[bytes], **columns: list[object]) -> pd.DataFrame:
        return pd.DataFrame({"image": images, **columns})

    return {
        **{f"rows-{n}": (lambda n=n: rows(n)) for n in (1, 16, 64, 128)},
        "16mp": lambda: pd.DataFrame({"image": [flat_png(4000)]}),
        "24mp": lambda: pd.DataFrame(
            {"image": [flat_png(4000)] + [encoded(photo(1000, 1000, i), "JPEG") for i in range(8)]}
        ),
        "regions-16": lambda: guided(
            [small[0]], regions=[regions_value(48, 64, 16, reference)], reference=[b64(reference)]
        ),
        "references-32": lambda: guided(small[:2], regions=[regions_value(48, 64, 16, reference)] * 2),
        "regions-pixels": lambda: guided(
            [encoded(photo(2000, 2000), "JPEG")], regions=[regions_value(2000, 2000, 2, reference)]
        ),
        "hints-rows": lambda: guided([small[i % 16] for i in range(32)], hints=[hints_value(48, 64, 1000)] * 32),
        "hints-16mp": lambda: guided([encoded(photo(4000, 4000), "JPEG")], hints=[hints_value(4000, 4000, 1000)]),
    }


def refused_requests() -> dict[str, pd.DataFrame]:
    """The hostile requests of issue 19 (`load_test.hostile_requests`) and a 20000x20000 PNG: all refused."""
    hostile = hostile_requests(encoded(photo(48, 64), "JPEG"), encoded(photo(120, 160, 99), "JPEG"))
    return {
        **{name: pd.DataFrame(build()) for name, build in hostile.items()},
        "flat 20000x20000 PNG": pd.DataFrame({"image": [flat_png(20000)]}),
    }


def network_ms(colorizer: Colorizer, batch: int = 16, repeats: int = 3) -> float:
    """ms per photo of the network alone on (batch, 1, size, size) inputs, best of `repeats`."""
    l = torch.rand(batch, 1, colorizer.size, colorizer.size) * 100
    colorizer.predict_small_ab(l)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        colorizer.predict_small_ab(l)
        best = min(best, time.perf_counter() - start)
    return 1000 * best / batch


def load_model(spec: str, folder: Path) -> ColorizerModel:
    weights = Colorizer.load(spec).save_weights(folder / "weights.pt")
    config = write_serving_config(folder / "config.json", ServingLimits())
    model = ColorizerModel()
    model.load_context(types.SimpleNamespace(artifacts={WEIGHTS_ARTIFACT: str(weights), "config": str(config)}))
    return model


def main(argv: list[str] | None = None) -> int:
    cases = requests()
    parser = argparse.ArgumentParser(prog="python -m pseudocolor.experiments.scripts.benchmark_serving")
    parser.add_argument("--model", default=PRETRAINED, help="model spec (default: the shipped model)")
    parser.add_argument("--case", action="append", choices=[*cases, "one-batch-64", "one-batch-128", "refused"])
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory(prefix="pseudocolor-bench-") as folder:
        model = load_model(args.model, Path(folder))
    print(f"network alone, batch 16: {network_ms(model.colorizer):.0f} ms a photo (idle 2 cores: 19-27 ms)")
    print(f"limits: {model.limits}")
    for name in args.case or [*cases, "refused"]:
        if name == "refused":
            for label, request in refused_requests().items():
                start = time.perf_counter()
                try:
                    model.predict(None, request)
                    outcome = "ANSWERED (not refused)"
                except MlflowException as error:
                    outcome = f"refused: {error.message}"
                print(f"{label}: {time.perf_counter() - start:.3f} s, peak {peak_mb():.0f} MB; {outcome}", flush=True)
            continue
        if name.startswith("one-batch-"):
            count = int(name.rsplit("-", 1)[1])
            images = [torch.from_numpy(photo(48, 64, i)).permute(2, 0, 1).contiguous() for i in range(count)]
            start = time.perf_counter()
            model.colorizer.colorize_batch(images)
            seconds = time.perf_counter() - start
        else:
            request = cases[name]()
            start = time.perf_counter()
            answer = model.predict(None, request)
            seconds = time.perf_counter() - start
            assert len(answer) == len(request)
            count = len(request)
        print(
            f"{name}: {seconds:.2f} s ({1000 * seconds / count:.0f} ms a row, {100 * seconds / TIMEOUT_S:.0f} % of the "
            f"{TIMEOUT_S:.0f} s timeout), peak {peak_mb():.0f} MB",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
