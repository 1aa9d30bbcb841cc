from pseudocolor.experiments.lightning_cli import CONFIG_DIR, config_comment, run_name


def test_run_names_say_what_the_command_line_set():
    assert run_name(["fit"]) == "default"
    assert run_name(["fit", "--config", "experiments/configs/imagenette.yaml", "--config", "hints.yaml"]) == "imagenette hints"
    assert run_name(["fit", "--model.optimizer.init_args.lr=0.001", "--trainer.fast_dev_run"]) == "lr=0.001 fast_dev_run"
    assert run_name(["fit", "--model.init_weights", "experiments/weights/stage2.pt", "--resume"]) == "init_weights=stage2.pt"


def test_runs_that_differ_get_different_names():
    names = {run_name(["fit", "--model.optimizer.init_args.lr", lr]) for lr in ("0.002", "0.001")}
    assert names == {"lr=0.002", "lr=0.001"}


def test_the_description_is_the_last_config_files_top_comment(tmp_path):
    first, last = tmp_path / "first.yaml", tmp_path / "last.yaml"
    first.write_text("# not this one\ntrainer:\n  max_epochs: 1\n")
    last.write_text("# Stage 9: more photos.\n#\n#   indented note\nmodel:\n  # a comment further down\n  ce_weight: 1.0\n")
    command = ["fit", "--config", str(first), f"--config={last}", "--trainer.max_epochs", "2"]
    assert config_comment(command) == "Stage 9: more photos.\n\n  indented note"
    assert config_comment(["fit", "--config", str(first)]) == "not this one"
    assert config_comment(["fit", "--trainer.max_epochs", "2"]) == ""
    last.write_text("model:\n  ce_weight: 1.0\n")
    assert config_comment(["fit", "--config", str(last)]) == ""


def test_every_shipped_config_says_what_it_is_for():
    for config in sorted(CONFIG_DIR.glob("*.yaml")):
        assert config_comment(["fit", "--config", str(config)]), f"{config.name} has no comment at its top"
