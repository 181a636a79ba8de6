#!/usr/bin/env bash
# One command for the demo on a fresh Debian/Ubuntu machine: installs what is missing
# (system packages, .venv), then opens napari with a real image, strokes, a first model and
# the widgets. Without a display it runs under Xvfb and saves demo.png. Safe to re-run.
# Arguments go to scripts/demo.py (e.g. --train-seconds 60, --screenshot PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_system_deps.sh
bash scripts/setup_venv.sh
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ $# -eq 0 ]; then
  echo "no display: running the demo under Xvfb, saving a screenshot to demo.png"
  set -- --screenshot demo.png
fi
exec .venv/bin/python scripts/demo.py "$@"
