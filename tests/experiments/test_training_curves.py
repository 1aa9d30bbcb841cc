"""The training-curves picture is drawn from a real sqlite MLflow store's runs."""

import mlflow
import pytest
from PIL import Image

from pseudocolor.experiments.scripts import training_curves


def test_one_line_per_run_from_the_store(tracking_uri, tmp_path):
    mlflow.set_tracking_uri(tracking_uri)
    experiment_id = mlflow.create_experiment("curves")
    client = mlflow.MlflowClient(tracking_uri)
    for name, psnr in (("a", 23.0), ("b", 24.0)):
        run = client.create_run(experiment_id, run_name=name)
        for step in range(3):
            client.log_metric(run.info.run_id, "val/psnr", psnr + step, step=step)
            client.log_metric(run.info.run_id, "val/colorfulness", 10.0 + step, step=step)
        client.log_metric(run.info.run_id, "val/gray_psnr", 24.2, step=2)
    output = tmp_path / "curves.png"
    assert training_curves.main(["--experiment", "curves", "--output", str(output)]) == 0
    assert Image.open(output).size[0] > 500


def test_an_unknown_experiment_is_named(tracking_uri):
    with pytest.raises(SystemExit, match="no MLflow experiment named 'absent'"):
        training_curves.main(["--experiment", "absent"])
