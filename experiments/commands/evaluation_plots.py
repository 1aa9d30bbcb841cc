"""The plots of `pseudocolor evaluate` (matplotlib, Agg backend: no display needed; the contact sheet with PIL).

entropy.png: entropy of ground truth vs result per image (the paper's Figure 4); ime_entropy.png: IME
against both entropies (Figure 5); psnr_histogram.png; contact_sheet.png: the best and worst images by PSNR.
All drawn at the end, from the per-image table and the few images `evaluate` kept for the contact sheet.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after matplotlib.use: the backend must be chosen first
import torch
from PIL import Image, ImageDraw, ImageFont

PLOT_FILES = ("entropy.png", "ime_entropy.png", "psnr_histogram.png", "contact_sheet.png")
SHEET_TILE = 256  # px: the longest side of an image on the contact sheet
SHEET_FONT = 12  # px
SHEET_LINE = 15  # px per line of text
SHEET_MARGIN = 8  # px


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
    """One row per image, worst PSNR first: ground truth and result side by side, each under its label.

    `extremes` holds (psnr, file, ground truth (3, H, W) uint8, result (3, H, W) uint8), sorted by PSNR. Pasted
    with PIL, at most SHEET_TILE px a side (a matplotlib figure of 16 images took a second to lay out and draw).
    """
    font = ImageFont.load_default(SHEET_FONT)
    tiles = [[_tile(truth), _tile(result)] for _, _, truth, result in extremes]
    width = max((tile.width for row in tiles for tile in row), default=SHEET_TILE)
    height = max((tile.height for row in tiles for tile in row), default=0)
    row_height = 2 * SHEET_LINE + height + SHEET_MARGIN
    sheet = Image.new("RGB", (2 * width + 3 * SHEET_MARGIN, 2 * SHEET_LINE + len(extremes) * row_height), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((SHEET_MARGIN, SHEET_MARGIN // 2), "Worst (top) to best (bottom) by PSNR", fill="black", font=font)
    for index, ((psnr, file, _, _), row) in enumerate(zip(extremes, tiles)):
        top = 2 * SHEET_LINE + index * row_height
        for column, (tile, label) in enumerate(zip(row, ("ground truth", f"result {psnr:.2f} dB"))):
            left = SHEET_MARGIN + column * (width + SHEET_MARGIN)
            draw.text((left, top), f"{Path(file).name}\n{label}", fill="black", font=font, spacing=2)
            sheet.paste(tile, (left, top + 2 * SHEET_LINE))
    sheet.save(path)


def _tile(image: torch.Tensor) -> Image.Image:
    """(3, H, W) uint8 -> a PIL image of at most SHEET_TILE px a side."""
    tile = Image.fromarray(image.permute(1, 2, 0).cpu().numpy())
    tile.thumbnail((SHEET_TILE, SHEET_TILE), Image.Resampling.LANCZOS)
    return tile


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
