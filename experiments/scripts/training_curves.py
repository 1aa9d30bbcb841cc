"""Validation PSNR (with the colourless baseline) and colourfulness against training hours, one line per run of an
MLflow experiment: `python -m pseudocolor.experiments.scripts.training_curves --experiment shipped-model
--output experiments/figures/training_curves.png`. Hours are wall-clock time since each run started.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow

from pseudocolor.lightning_modules.inference.mlflow_store import resolve_tracking_uri

PANELS = (("val/psnr", "val/gray_psnr", "validation PSNR (dB)"), ("val/colorfulness", None, "validation colourfulness"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="shipped-model")
    parser.add_argument("--output", type=Path, default=Path("training_curves.png"))
    args = parser.parse_args(argv)
    client = mlflow.MlflowClient(resolve_tracking_uri())
    experiment = client.get_experiment_by_name(args.experiment)
    if experiment is None:
        raise SystemExit(f"no MLflow experiment named {args.experiment!r}; pass --experiment")
    figure, axes = plt.subplots(1, len(PANELS), figsize=(10, 3.6))
    for run in client.search_runs([experiment.experiment_id]):
        start = run.info.start_time
        for axis, (key, baseline, label) in zip(axes, PANELS):
            history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
            if not history:
                continue
            hours = [(m.timestamp - start) / 3.6e6 for m in history]
            axis.plot(hours, [m.value for m in history], marker="o", label=run.info.run_name)
            if baseline:
                base = client.get_metric_history(run.info.run_id, baseline)
                if base:
                    axis.axhline(base[-1].value, color="grey", linestyle="--", label="colourless")
            axis.set_xlabel("hours (2 CPU cores)")
            axis.set_ylabel(label)
    for axis in axes:
        axis.legend(fontsize=7)
    figure.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, dpi=110)
    print(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
