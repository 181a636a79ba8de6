#!/usr/bin/env bash
# A virtual environment in .venv with the CPU build of PyTorch first (so no multi-GB
# CUDA build is pulled in), then napari-unet with its test and benchmark extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[testing,bench]"
echo "environment ready: .venv"
