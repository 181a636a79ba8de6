#!/usr/bin/env bash
# The virtual environment .venv: the CPU build of PyTorch first (so no multi-GB CUDA build is
# pulled in), then napari-unet (editable) with its test, benchmark and bioimage.io extras.
# Does nothing when .venv is up to date (a stamp of pyproject.toml and this script), so it is
# safe to re-run; a .venv that is a symbolic link is an environment managed elsewhere and is
# used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
STAMP=.venv/.napari-unet-setup
wanted="$(cat pyproject.toml scripts/setup_venv.sh | sha256sum | cut -d' ' -f1)"

if [ -L .venv ]; then
  echo ".venv is a link to an environment managed elsewhere: used as it is"
  exit 0
fi
if [ -x .venv/bin/python ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$wanted" ] \
    && .venv/bin/python -c "import napari_unet" >/dev/null 2>&1; then
  echo ".venv is up to date"
  exit 0
fi
if ! "$PYTHON" -c "import sys; sys.exit(sys.version_info < (3, 11))"; then
  echo "napari-unet needs Python 3.11 or newer (as napari 0.9); $PYTHON is" \
       "$("$PYTHON" --version 2>&1). Set PYTHON=/path/to/python3.11 and run again." >&2
  exit 1
fi
echo "setting up .venv (PyTorch CPU, napari, napari-unet): a few minutes the first time"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[testing,bench,bioimageio]"
echo "$wanted" > "$STAMP"
echo "environment ready: .venv"
