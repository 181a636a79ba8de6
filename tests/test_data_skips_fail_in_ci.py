"""A test that skips for missing data fails under CI when ``../shared/data`` exists, and only
skips (naming ``../shared/data``) otherwise; see the hook in ``tests/conftest.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

REPO = Path(__file__).resolve().parents[1]
PROBE = """
from tests.conftest import require_shared_data

def test_needs_more_data():
    require_shared_data("no-such-folder")
"""


def _run_probe(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # no napari or Qt plugins: seconds, not minutes
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "src"), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_probe.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("ci", [False, True])
def test_missing_data_skips_naming_shared_data_and_fails_under_ci_when_it_exists(tmp_path, ci):
    proc = _run_probe(tmp_path, ci)
    if ci and SHARED_DATA.is_dir():
        assert proc.returncode == 1 and "1 failed" in proc.stdout, proc.stdout
        assert "although" in proc.stdout
    else:
        assert proc.returncode == 0 and "1 skipped" in proc.stdout, proc.stdout
        assert "../shared/data/no-such-folder" in proc.stdout
