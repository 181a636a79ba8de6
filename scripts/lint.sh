#!/usr/bin/env bash
# The lint checks CI runs before the tests: ruff (lint, then format) on the whole tree and
# import-linter's contracts (pyproject.toml). Sets up .venv first, as scripts/test.sh does.
# Fix most findings with: .venv/bin/ruff check --fix . && .venv/bin/ruff format .
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_system_deps.sh >/dev/null || exit 1
bash scripts/setup_venv.sh >/dev/null || exit 1
failed=()
echo "== ruff check"
.venv/bin/ruff check . || failed+=("ruff check (fix: .venv/bin/ruff check --fix .)")
echo "== ruff format --check"
.venv/bin/ruff format --check . || failed+=("ruff format --check (fix: .venv/bin/ruff format .)")
echo "== lint-imports"
# the checkout's own sources, also when .venv is shared with another checkout
PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" .venv/bin/lint-imports \
  || failed+=("lint-imports (import layering: see [tool.importlinter] in pyproject.toml)")
if [ "${#failed[@]}" -gt 0 ]; then
  echo >&2
  echo "LINT FAILED: ${#failed[@]} check(s):" >&2
  for check in "${failed[@]}"; do
    echo "  - $check" >&2
  done
  exit 1
fi
echo "lint: ruff check, ruff format --check and lint-imports passed"
