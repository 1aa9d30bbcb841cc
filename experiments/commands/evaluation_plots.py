"""The plots of `pseudocolor evaluate` (matplotlib, Agg backend: no display needed).

entropy.png: entropy of ground truth vs result per image (the paper's Figure 4); ime_entropy.png: IME
against both entropies (Figure 5); psnr_histogram.png; contact_sheet.png: the best and worst images by PSNR.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import torch  # noqa: E402

PLOT_FILES = ("entropy.png", "ime_entropy.png", "psnr_histogram.png", "contact_sheet.png")


def _column(rows: list[dict[str, object]], name: str) -> list[float]:
    return [float(row[name]) for row in rows]


def plot_entropy(rows: list[dict[str, object]], path: Path) -> None:
    """Scatter of entropy (bits) of the ground truth (x) and of the result (y), with the diagonal."""
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.scatter(_column(rows, "entropy_ground_truth"), _column(rows, "entropy_output"), s=12, alpha=0.7)
    low, high = axis.get_xlim()
    axis.plot([low, high], [low, high], color="grey", linewidth=1, linestyle="--")
    axis.set(xlabel="entropy of ground truth (bits)", ylabel="entropy of result (bits)", title="Entropy per image")
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)


def plot_ime_entropy(rows: list[dict[str, object]], path: Path) -> None:
    """Scatter of IME (x) against the entropy of the result and of the ground truth (y)."""
    figure, axis = plt.subplots(figsize=(6, 4.5))
    ime = _column(rows, "ime")
    axis.scatter(ime, _column(rows, "entropy_output"), s=12, alpha=0.7, label="result")
    axis.scatter(ime, _column(rows, "entropy_ground_truth"), s=12, alpha=0.7, marker="x", label="ground truth")
    axis.set(xlabel="image matching error", ylabel="entropy (bits)", title="IME against entropy")
    axis.legend()
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)


def plot_psnr_histogram(rows: list[dict[str, object]], path: Path) -> None:
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.hist(_column(rows, "psnr"), bins=min(50, max(5, len(rows) // 4)))
    axis.set(xlabel="PSNR (dB, per image)", ylabel="images", title="PSNR distribution")
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)


def plot_contact_sheet(extremes: list[tuple[float, str, torch.Tensor, torch.Tensor]], path: Path) -> None:
    """One row per image, worst PSNR first: ground truth and result side by side.

    `extremes` holds (psnr, file, ground truth (3, H, W) uint8, result (3, H, W) uint8), sorted by PSNR.
    """
    figure, axes = plt.subplots(len(extremes), 2, figsize=(5, 2.5 * len(extremes)), squeeze=False, layout="constrained")
    for (psnr, file, truth, result), row in zip(extremes, axes):
        for axis, image, label in zip(row, (truth, result), ("ground truth", f"result {psnr:.2f} dB")):
            axis.imshow(image.permute(1, 2, 0).numpy())
            axis.set_title(f"{Path(file).name}: {label}", fontsize=8)
            axis.axis("off")
    figure.suptitle("Worst (top) to best (bottom) by PSNR")
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def write_plots(
    rows: list[dict[str, object]], extremes: list[tuple[float, str, torch.Tensor, torch.Tensor]], folder: Path
) -> list[Path]:
    """Write the PLOT_FILES into `folder`; returns their paths."""
    paths = [folder / name for name in PLOT_FILES]
    plot_entropy(rows, paths[0])
    plot_ime_entropy(rows, paths[1])
    plot_psnr_histogram(rows, paths[2])
    plot_contact_sheet(extremes, paths[3])
    return paths
