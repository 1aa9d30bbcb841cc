import base64
import io
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import torch
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from PIL import Image

from pseudocolor.experiments.commands.colorize import main as colorize
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.mlflow_store import using_store
from tests.conftest import write_photo


def test_register_prints_the_model_uri(registered):
    assert registered.output.strip().splitlines()[-1] == "models:/tiny@champion"
    assert "version 1" in registered.output


@pytest.mark.parametrize("spec", ["models:/tiny@champion", "models:/tiny/1", "runs:/{run_id}/model"])
def test_every_mlflow_spec_loads_the_registered_weights(registered, spec):
    loaded = Colorizer.load(spec.format(run_id=registered.run_id), tracking_uri=registered.tracking_uri)
    original = Colorizer.load(registered.weights)
    for name, value in original.network.state_dict().items():
        torch.testing.assert_close(loaded.network.state_dict()[name], value)
    assert loaded.size == original.size


def test_the_logged_model_is_self_contained_and_pickles_nothing(registered, tmp_path):
    with using_store(registered.tracking_uri):
        local = Path(mlflow.artifacts.download_artifacts("models:/tiny@champion", dst_path=str(tmp_path)))
    model = Model.load(local / "MLmodel")
    assert set(model.flavors["python_function"]["artifacts"]) == {"weights", "config"}
    code = local / "code" / "pseudocolor"
    assert [p.name for p in (local / "code").iterdir()] == ["pseudocolor"]
    carried = {p.relative_to(code).as_posix() for p in code.rglob("*.py")}
    assert {"lightning_modules/inference/colorizer.py", "lightning_modules/deploy/serving.py",
            "datamodules/decoding.py"} <= carried
    assert not [name for name in carried if name.startswith(("lightning_modules/training", "experiments"))]
    assert "datamodules/colorization_datamodule.py" not in carried
    assert not list(local.rglob("__pycache__")) and not list(local.rglob("*.pkl"))
    assert model.signature.inputs.required_input_names() == ["image"]
    assert model.signature.inputs.optional_input_names() == ["hints", "reference", "regions", "blend", "reference_mode"]
    requirements = (local / "requirements.txt").read_text().split()
    assert "torch==" + torch.__version__.split("+")[0] in requirements
    assert not [line for line in requirements if line.startswith(("lightning", "pytorch-lightning"))]


def test_the_served_model_runs_from_its_own_code_without_lightning(registered, tmp_path):
    """A fresh process loads the model: its pseudocolor modules come from the model's code folder and Lightning
    is never imported."""
    script = (
        "import sys, io, mlflow, pandas as pd\n"
        "from PIL import Image\n"
        "model = mlflow.pyfunc.load_model('models:/tiny@champion')\n"
        "buffer = io.BytesIO(); Image.new('RGB', (24, 16), (120, 90, 60)).save(buffer, format='PNG')\n"
        "model.predict(pd.DataFrame({'image': [buffer.getvalue()]}))\n"
        "import pseudocolor.lightning_modules.deploy.serving as serving\n"
        "print(serving.__file__)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')))\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": registered.tracking_uri}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    served_file, lightning_modules = result.stdout.strip().splitlines()[-2:]
    assert "/code/pseudocolor/lightning_modules/deploy/serving.py" in served_file
    assert lightning_modules == "[]"


def test_the_pyfunc_colours_image_bytes_and_refuses_garbage(registered, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/tiny@champion")
    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), (120, 90, 60)).save(buffer, format="JPEG")

    result = model.predict(pd.DataFrame({"image": [buffer.getvalue()]}))

    assert Image.open(io.BytesIO(base64.b64decode(result["image"][0]))).size == (30, 20)
    with pytest.raises(MlflowException, match="row 0 of column 'image': not a readable image") as raised:
        model.predict(pd.DataFrame({"image": [b"garbage"]}))
    assert raised.value.get_http_status_code() == 400


def test_colorize_accepts_a_registered_model(registered, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.tracking_uri)
    source = write_photo(tmp_path / "photo.jpg")

    arguments = [str(source), "--output", str(tmp_path / "out"), "--model", "models:/tiny@champion"]
    status = colorize([*arguments, "--device", "cpu", "--no-progress"])

    assert status == 0
    assert Image.open(tmp_path / "out" / "photo.png").size == (128, 96)


def test_register_help_names_the_default_alias(capsys):
    from pseudocolor.experiments.cli import main

    with pytest.raises(SystemExit):
        main(["register", "--help"])
    assert "(default champion)" in " ".join(capsys.readouterr().out.split())
