"""The package as users get it: one import name, imports that point down, and a light inference path."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("lightning_modules", "datamodules", "experiments")
HEAVY = ("lightning", "pytorch_lightning", "mlflow", "torchmetrics")


def run_python(code: str, cwd: Path, **env) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env})


def test_imports_point_one_way():
    """import-linter's contracts in pyproject.toml: experiments -> lightning_modules -> datamodules, and the layers
    inside each."""
    result = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                             "sys.exit(lint_imports(config_filename='pyproject.toml'))"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_the_shipped_model_colours_a_photo_without_lightning_or_mlflow(tmp_path):
    code = (
        "import sys, json\n"
        "from PIL import Image\n"
        "from pseudocolor.lightning_modules.inference.colorizer import Colorizer\n"
        "from pseudocolor.datamodules.sample_photos import SAMPLES_DIR\n"
        "photo = Image.open(SAMPLES_DIR / 'kodim23.jpg')\n"
        "out = Colorizer.load('pretrained').colorize(photo)\n"
        f"print(json.dumps([out.size == photo.size, out.mode, sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})]))\n"
    )
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [True, "RGB", []]


def test_colorize_command_starts_without_lightning(tmp_path):
    code = (
        "import sys, json\n"
        "from pseudocolor.experiments.cli import main\n"
        "from pseudocolor.datamodules.sample_photos import SAMPLES_DIR\n"
        "try:\n"
        f"    main(['colorize', str(SAMPLES_DIR / 'kodim05.jpg'), '-o', {str(tmp_path / 'out')!r}, '--no-progress'])\n"
        "except SystemExit as stop:\n"
        "    status = stop.code\n"
        "print(json.dumps([status, sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning'))]))\n"
    )
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [0, []]
    assert (tmp_path / "out" / "kodim05.png").is_file()


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_name_that_imports_from_anywhere(tmp_path):
    """`pip install .` as a wheel: every source file under pseudocolor/, nothing else at the top of site-packages,
    and the three packages import from an unrelated folder."""
    wheels, site, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)], check=True,
                   timeout=600, cwd=tmp_path)
    (wheel,) = wheels.glob("pseudocolor-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=600)
    code = (
        "import importlib, importlib.metadata as metadata, json\n"
        "files = [str(f) for f in metadata.files('pseudocolor') if f.suffix in ('.py', '.pt', '.yaml', '.jpg')]\n"
        "modules = [importlib.import_module(f'pseudocolor.{name}').__file__ for name in "
        f"{PACKAGES!r}]\n"
        "print(json.dumps([files, modules]))\n"
    )
    result = run_python(code, elsewhere, PYTHONPATH=str(site))
    assert result.returncode == 0, result.stderr[-2000:]
    files, modules = json.loads(result.stdout.strip().splitlines()[-1])
    assert {Path(name).parts[0] for name in files} == {"pseudocolor"}
    expected = {f"pseudocolor/{path.relative_to(REPO).as_posix()}" for package in PACKAGES
                for path in (REPO / package).rglob("*.py")}
    assert expected <= set(files), sorted(expected - set(files))
    assert {"pseudocolor/lightning_modules/pretrained/colorizer.pt", "pseudocolor/experiments/configs/default.yaml",
            "pseudocolor/datamodules/samples/kodim01.jpg"} <= set(files)
    assert all(module.startswith(str(site)) for module in modules), modules
