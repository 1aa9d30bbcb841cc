"""The 24 Kodak photos bundled with the package (256 px): the main job's data and the scripts' examples."""

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
