"""The run's params from a LightningCLI config: each value once, under its full key, no internals."""

from pathlib import Path

from pseudocolor.experiments.tracking.config_params import config_params


def test_nested_groups_and_class_lists_get_dotted_full_keys():
    config = {
        "model": {"ce_weight": 0.2, "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.002}}},
        "trainer": {"plugins": [{"class_path": "a.B"}], "callbacks": [{"class_path": "c.D", "init_args": {"n": 3}}]},
        "data": {"init_args": {"root": ["x", "y"]}},
    }
    assert config_params(config, Path("/nowhere")) == {
        "model.ce_weight": 0.2,
        "model.optimizer.class_path": "torch.optim.AdamW",
        "model.optimizer.init_args.lr": 0.002,
        "trainer.plugins.0.class_path": "a.B",
        "trainer.callbacks.0.class_path": "c.D",
        "trainer.callbacks.0.init_args.n": 3,
        "data.init_args.root": ["x", "y"],
    }


def test_internal_keys_empty_values_and_the_config_file_list_are_left_out():
    config = {
        "config": ["a.yaml"], "__default_config__": "x", "_instantiator": "y", "ckpt_path": None,
        "model": {"_class_path": "m.M", "init_args": {"__path__": "p", "keep": 1}, "empty": {}, "none": []},
    }
    assert config_params(config, Path("/nowhere")) == {"model.init_args.keep": 1}


def test_absolute_paths_inside_the_working_directory_become_relative(tmp_path):
    config = {
        "data": {"init_args": {"root": str(tmp_path / "photos"), "val_root": [str(tmp_path / "v"), "/elsewhere/w"]}},
        "trainer": {"default_root_dir": str(tmp_path), "logger": {"init_args": {"unsent_dir": "mlruns/unsent"}}},
    }
    assert config_params(config, tmp_path) == {
        "data.init_args.root": "photos",
        "data.init_args.val_root": ["v", "/elsewhere/w"],
        "trainer.default_root_dir": ".",
        "trainer.logger.init_args.unsent_dir": "mlruns/unsent",
    }
