#!/usr/bin/env bash
# One command for the tests on a fresh Debian/Ubuntu machine: installs what is missing
# (system packages, .venv), then runs pytest under Xvfb. Safe to re-run. Arguments go to
# pytest (e.g. bash scripts/test.sh tests/core -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_system_deps.sh
bash scripts/setup_venv.sh
exec xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest -p no:cacheprovider "$@"
