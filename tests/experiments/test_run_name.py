from pseudocolor.experiments.lightning_cli import run_name


def test_run_names_say_what_the_command_line_set():
    assert run_name(["fit"]) == "default"
    assert run_name(["fit", "--config", "experiments/configs/imagenette.yaml", "--config", "hints.yaml"]) == "imagenette hints"
    assert run_name(["fit", "--model.optimizer.init_args.lr=0.001", "--trainer.fast_dev_run"]) == "lr=0.001 fast_dev_run"
    assert run_name(["fit", "--model.init_weights", "experiments/weights/stage2.pt", "--resume"]) == "init_weights=stage2.pt"


def test_runs_that_differ_get_different_names():
    names = {run_name(["fit", "--model.optimizer.init_args.lr", lr]) for lr in ("0.002", "0.001")}
    assert names == {"lr=0.002", "lr=0.001"}
