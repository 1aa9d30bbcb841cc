#!/bin/sh
# Installs Chromium from Debian's own packages (apt-get), the real browser that
# `python -m pseudocolor.experiments.scripts.mlflow_screenshots` and tests/experiments/test_mlflow_screenshots.py
# use to render MLflow's UI (a JavaScript app: only a browser shows what a user sees). A package manager, not a
# Playwright download: it needs nothing but the package registry, and the test is skipped where no browser is.
# (Ubuntu's `chromium` package only installs a snap; there, install Chrome or Chromium another way.)
#
#   sh experiments/scripts/install_browser.sh        (as root, or with sudo)
set -eu

for browser in chromium chromium-browser google-chrome google-chrome-stable; do  # mlflow_screenshots.BROWSERS
    if command -v "$browser" >/dev/null 2>&1; then
        echo "$browser is already installed"
        exit 0
    fi
done
if [ "$(id -u)" -ne 0 ]; then
    exec sudo sh "$0" "$@"
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core
