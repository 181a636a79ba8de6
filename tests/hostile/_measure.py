"""Run ``napari-unet`` in a fresh process and measure its peak resident memory.

The command runs as the child of a small Python wrapper, which reports the child's exit
code, stderr and ``ru_maxrss`` from ``resource.getrusage(RUSAGE_CHILDREN)`` (KiB on Linux):
the peak of that one process, not of the test run. Also a script:
``python -m tests.hostile._measure predict --model ...`` prints the same as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024  # ru_maxrss is in KiB on Linux
_WRAPPER = (
    "import json, resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "print(json.dumps({'code': p.returncode, 'stderr': p.stderr,\n"
    "                  'peak_mib': resource.getrusage(resource.RUSAGE_CHILDREN)"
    ".ru_maxrss / 1024}))\n"
)


def env(**extra: str) -> dict[str, str]:
    """The environment of a child that imports this checkout's ``napari_unet``."""
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    base = {k: v for k, v in os.environ.items() if k != "NAPARI_UNET_DEBUG"}
    return dict(base, PYTHONPATH=path, **extra)


def run_measured(args: list, timeout: float = 180, **extra_env: str) -> dict:
    """``{"code", "stderr", "peak_mib"}`` of ``napari-unet ARGS`` in a fresh process."""
    command = [
        sys.executable,
        "-c",
        _WRAPPER,
        sys.executable,
        "-m",
        "napari_unet.cli",
        *[str(a) for a in args],
    ]
    out = subprocess.run(
        command, cwd=ROOT, env=env(**extra_env), capture_output=True, text=True, timeout=timeout
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def error_lines(stderr: str) -> list[str]:
    """The stderr lines that are not the "device: ..." line some commands print first."""
    return [line for line in stderr.strip().splitlines() if not line.startswith("device:")]


if __name__ == "__main__":
    print(json.dumps(run_measured(sys.argv[1:])))
