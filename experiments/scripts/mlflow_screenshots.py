"""The README's MLflow screenshots, taken of MLflow's own UI in a real (headless) Chromium:

- `mlflow_runs.png`: the experiment's runs table: two `pseudocolor fit` runs that differ only in the learning rate,
  named after it, with their `val/psnr_gain`, `val/psnr`, `val/gray_psnr` and lr, best first;
- `mlflow_model.png`: the registered model version of the better run: its source run (the training run, by name),
  its description (checkpoint, data, epochs, validation PSNR against the colourless input), alias and tags.

In a fresh folder (a temporary one unless `--workdir`), it runs `pseudocolor fit` twice on the bundled sample photos
(QUICK_CONFIG: 2 short epochs of a small network) with `--model.optimizer.init_args.lr` LEARNING_RATES,
`pseudocolor register` of the better run's best checkpoint, starts `mlflow server` on that store and takes the
pictures. Nothing outside the folder (and `--output`) is written. Needs Chromium
(`sh experiments/scripts/install_browser.sh`).

python -m pseudocolor.experiments.scripts.mlflow_screenshots [--output experiments/figures] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
from PIL import Image

QUICK_CONFIG = """\
# mlflow_screenshots: two short epochs of a small network on the bundled photos (the runs only need to exist)
trainer:
  max_epochs: 2
  num_sanity_val_steps: 0
model:
  network:
    init_args:
      width_multiplier: 0.25
  prior_images: 8
data:
  init_args:
    crop_size: 64
    eval_size: 96
"""
LEARNING_RATES = ("0.002", "0.0005")
MODEL_NAME = "pseudocolor"
EXPERIMENT = "pseudocolor"  # default.yaml's experiment_name
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1600, 1000)
MAX_PNG_BYTES = 400_000
# The UI is opened under this name, mapped to the loopback address: on `localhost` / 127.0.0.1 MLflow 3 opens its
# assistant panel over a third of every page the first time.
UI_HOST = "mlflow-ui.localhost"
SERVER_TIMEOUT_S = 120.0  # `mlflow server` answered /health after ~12 s on 2 busy cores
RUNS_VIEW = "learning-rates"
RUNS_COLUMNS = (  # the runs table's columns in the saved view, as the UI names them (besides the run name)
    "params.`model.optimizer.init_args.lr`",
    "metrics.`val/psnr_gain`",
    "metrics.`val/psnr`",
    "metrics.`val/gray_psnr`",
    "attributes.`Models`",
)


@dataclass(frozen=True)
class Demo:
    """What the fits and the registration left in `folder`'s store."""

    folder: Path
    uri: str
    experiment_id: str
    run_names: dict[str, str]  # run id -> name, in the order of LEARNING_RATES
    registered_run_id: str
    model_version: str


@dataclass(frozen=True)
class Page:
    """One screenshot: the UI route (after `#`) and texts its rendered DOM must hold."""

    file: str
    route: str
    expected: tuple[str, ...]


def find_browser() -> str | None:
    """The path of an installed Chromium or Chrome, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def pseudocolor(folder: Path, uri: str, *args: str) -> None:
    """Run `pseudocolor ARGS` in `folder` with `uri` as the tracking store; its output goes to `folder`/<verb>.log."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    log = folder / f"{args[0]}.log"
    with log.open("a") as output:
        command = [sys.executable, "-m", "pseudocolor.experiments.cli", *args]
        finished = subprocess.run(command, check=False, cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT)
    if finished.returncode != 0:
        raise RuntimeError(f"pseudocolor {' '.join(args)} exited with {finished.returncode}; see {log}")


def make_runs(folder: Path) -> Demo:
    """Two fits that differ in the learning rate and the registration of the better one's best checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder.resolve() / 'mlruns' / 'mlflow.db'}"
    (folder / "quick.yaml").write_text(QUICK_CONFIG)
    for lr in LEARNING_RATES:
        pseudocolor(folder, uri, "fit", "--config", "quick.yaml", "--model.optimizer.init_args.lr", lr)
    client = mlflow.MlflowClient(uri)
    experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    runs = client.search_runs([experiment_id], order_by=["attributes.start_time ASC"])
    best = max(runs, key=lambda run: run.data.metrics["val/psnr_gain"])
    [checkpoint] = (folder / "mlruns" / experiment_id / best.info.run_id / "checkpoints").glob("best-*.ckpt")
    model = checkpoint.relative_to(folder).as_posix()
    pseudocolor(folder, uri, "register", "--model", model, "--name", MODEL_NAME)
    version = client.get_model_version_by_alias(MODEL_NAME, "champion")
    names = {run.info.run_id: run.info.run_name for run in runs}
    return Demo(folder, uri, experiment_id, names, best.info.run_id, version.version)


def save_runs_view(demo: Demo) -> str:
    """Save a view of the runs table (RUNS_COLUMNS, best `val/psnr_gain` first) as the UI's "Views" menu does, in
    the experiment tag `mlflow.sharedViewState.<key>`; returns the key for `?viewStateShareKey=`. The UI's default
    table shows no metric. (The format is MLflow 3.17's UI's, not a documented API: a UI that reads it differently
    shows its default columns, still with the run names.)"""
    state = {
        "selectedColumns": list(RUNS_COLUMNS),
        "orderByKey": "metrics.`val/psnr_gain`",
        "orderByAsc": False,
    }
    now = int(time.time() * 1000)
    envelope = {"name": "learning rates", "createdAt": now, "updatedAt": now, "state": json.dumps(state)}
    mlflow.MlflowClient(demo.uri).set_experiment_tag(
        demo.experiment_id, f"mlflow.sharedViewState.{RUNS_VIEW}", json.dumps(envelope)
    )
    return RUNS_VIEW


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def mlflow_ui(demo: Demo) -> Iterator[str]:
    """`mlflow server` on the demo's store, listening on 127.0.0.1 only; yields the base URL the browser opens
    (UI_HOST, which the server is told to accept). The server's process group is killed afterwards."""
    port = free_port()
    host = f"{UI_HOST}:{port}"
    command = [sys.executable, "-m", "mlflow", "server", "-h", "127.0.0.1", "-p", str(port), "--workers", "1"]
    command += ["--backend-store-uri", demo.uri, "--allowed-hosts", host, "--cors-allowed-origins", f"http://{host}"]
    log = demo.folder / "server.log"
    with log.open("a") as output:
        process = subprocess.Popen(
            command, cwd=demo.folder, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT_S
        while not _answers(f"http://127.0.0.1:{port}/health"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not answer on port {port}; see {log}")
            time.sleep(0.5)
        yield f"http://{host}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def pages(demo: Demo, view: str) -> tuple[Page, ...]:
    """The two screenshots of the README and what each must show."""
    registered_name = demo.run_names[demo.registered_run_id]
    return (
        Page(
            "mlflow_runs.png",
            f"/experiments/{demo.experiment_id}/runs?viewStateShareKey={view}",
            (*demo.run_names.values(), "val/psnr_gain"),
        ),
        Page(
            "mlflow_model.png",
            f"/models/{MODEL_NAME}/versions/{demo.model_version}",
            (MODEL_NAME, f"Version {demo.model_version}", "Source Run", registered_name, demo.registered_run_id),
        ),
    )


def render(browser: str, url: str, screenshot: Path, budget_ms: int) -> str:
    """Load `url` in headless `browser`, let it run `budget_ms` of virtual time (scripts, API calls), save a
    WINDOW-sized screenshot and return the rendered DOM."""
    width, height = WINDOW
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        command = [browser, "--headless=new", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
        if os.geteuid() == 0:
            command.append("--no-sandbox")  # Chromium refuses to start as root with its sandbox
        command += [f"--user-data-dir={profile}", f"--window-size={width},{height}"]
        command += [f"--virtual-time-budget={budget_ms}", f"--host-resolver-rules=MAP {UI_HOST} 127.0.0.1"]
        command += [f"--screenshot={screenshot}", "--dump-dom", url]
        result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=budget_ms / 1000 + 120)
    if result.returncode != 0 or not screenshot.is_file():
        raise RuntimeError(f"{browser} failed on {url} ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


def capture(browser: str, base_url: str, demo: Demo, output: Path, budget_ms: int = 20_000) -> dict[str, str]:
    """Save the runs view, then take every page's screenshot into `output`, rendering again with a doubled time
    budget (twice at most) until its DOM holds the expected texts; returns file -> rendered DOM."""
    output.mkdir(parents=True, exist_ok=True)
    doms = {}
    for page in pages(demo, save_runs_view(demo)):
        url, path = f"{base_url}/#{page.route}", output / page.file
        for attempt in range(3):
            dom = render(browser, url, path, budget_ms * 2**attempt)
            missing = [text for text in page.expected if text not in dom]
            if not missing:
                break
        else:
            raise RuntimeError(f"{url} never showed {missing}; the last screenshot is {path}")
        shrink(path)
        doms[page.file] = dom
    return doms


def shrink(path: Path) -> None:
    """Save the PNG optimised, and as a 256-colour palette if it is still over MAX_PNG_BYTES."""
    image = Image.open(path).convert("RGB")
    image.save(path, optimize=True)
    if path.stat().st_size > MAX_PNG_BYTES:
        image.quantize(256).save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "figures")
    parser.add_argument("--workdir", type=Path, help="folder for the runs and the store (default: a temporary one)")
    parser.add_argument("--browser", default=find_browser(), help="Chromium or Chrome (default: found on PATH)")
    args = parser.parse_args(argv)
    if args.browser is None:
        parser.error(f"no browser found ({', '.join(BROWSERS)}); run sh experiments/scripts/install_browser.sh")
    with contextlib.ExitStack() as stack:
        folder = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlflow-screenshots-")))
        demo = make_runs(folder)
        base_url = stack.enter_context(mlflow_ui(demo))
        for file in capture(args.browser, base_url, demo, args.output):
            print(args.output / file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
