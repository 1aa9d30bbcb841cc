"""The README's MLflow screenshots (experiments/scripts/mlflow_screenshots.py): two `pseudocolor fit` runs with
different learning rates and one `pseudocolor register` in a fresh folder, read back through the MLflow client and
seen in MLflow's UI by a real headless Chromium (`sh experiments/scripts/install_browser.sh`; skipped without one)."""

from __future__ import annotations

import html

import mlflow
import numpy as np
import pytest
from PIL import Image

from pseudocolor.experiments.scripts import mlflow_screenshots as screenshots

BROWSER = screenshots.find_browser()
NO_BROWSER = f"needs one of {', '.join(screenshots.BROWSERS)} on PATH: sh experiments/scripts/install_browser.sh"


@pytest.mark.slow
@pytest.mark.skipif(BROWSER is None, reason=NO_BROWSER)
def test_the_ui_shows_both_runs_by_name_and_the_registered_versions_training_run(tmp_path):
    demo = screenshots.make_runs(tmp_path / "work")
    names = list(demo.run_names.values())
    assert names == [f"quick lr={lr}" for lr in screenshots.LEARNING_RATES]

    # the client: the version's lineage leads to its training run, with its params, metrics and picture grids
    client = mlflow.MlflowClient(demo.uri)
    version = client.get_model_version(screenshots.MODEL_NAME, demo.model_version)
    assert version.run_id == demo.registered_run_id
    run = client.get_run(version.run_id)
    assert run.data.params["model.optimizer.init_args.lr"] in screenshots.LEARNING_RATES
    assert {"val/psnr", "val/psnr_gain", "val/gray_psnr"} <= run.data.metrics.keys()
    assert client.list_artifacts(run.info.run_id, "images")

    with screenshots.mlflow_ui(demo) as base_url:
        doms = screenshots.capture(BROWSER, base_url, demo, tmp_path / "figures")

    runs_page, model_page = doms["mlflow_runs.png"], doms["mlflow_model.png"]
    for run_id, name in demo.run_names.items():  # each run's name, linked to its page
        assert f'href="#/experiments/{demo.experiment_id}/runs/{run_id}"' in runs_page
        assert html.escape(name) in runs_page
    assert "val/psnr_gain" in runs_page
    registered = demo.run_names[demo.registered_run_id]
    assert f"Version {demo.model_version}" in model_page and screenshots.MODEL_NAME in model_page
    training_run = f"#/experiments/{demo.experiment_id}/runs/{demo.registered_run_id}"
    assert f'<a href="{training_run}">{html.escape(registered)}</a>' in model_page  # "Source Run": the training run

    for file in doms:  # real screenshots, not a blank or uniform page
        image = Image.open(tmp_path / "figures" / file)
        assert image.size == screenshots.WINDOW
        assert np.asarray(image.convert("L"), dtype=float).std() > 10
        assert (tmp_path / "figures" / file).stat().st_size <= screenshots.MAX_PNG_BYTES
