import os

import mlflow

from pseudocolor.lightning_modules.inference.mlflow_store import using_store


def test_the_store_is_used_inside_and_mlflow_is_left_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///before.db")
    with using_store(f"sqlite:///{tmp_path / 'inside.db'}"):
        assert mlflow.get_tracking_uri().endswith("inside.db")
    assert mlflow.get_tracking_uri() == "sqlite:///before.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///later.db")
    assert mlflow.get_tracking_uri() == "sqlite:///later.db"  # not pinned by the block


def test_an_unset_variable_stays_unset(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with using_store(f"sqlite:///{tmp_path / 'inside.db'}"):
        pass
    assert "MLFLOW_TRACKING_URI" not in os.environ
