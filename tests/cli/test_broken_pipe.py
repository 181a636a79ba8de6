"""``napari-unet ... | head``: a reader that stops early ends the command quietly (exit 0 or
141 = 128 + SIGPIPE, no traceback, no 'please report'), for every subcommand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage.io import imsave

from napari_unet.cli import SUBCOMMANDS
from tests.conftest import isbi_slice

SRC = Path(__file__).resolve().parents[2] / "src"
QUIET_EXITS = (0, 141)


def _run_with_reader_gone(args: list[str]) -> tuple[int, str]:
    """Run ``args`` with stdout a pipe whose reader closes at once (before the command
    writes: its imports take seconds), as ``| head`` does; (exit code, stderr)."""
    env = {"PYTHONPATH": f"{SRC}:{SRC.parent}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=SRC.parent,
    )
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    return proc.wait(), stderr


def _assert_quiet(code: int, stderr: str) -> None:
    assert code in QUIET_EXITS, (code, stderr)
    for noise in ("please report", "Traceback", "BrokenPipeError", "Exception ignored"):
        assert noise not in stderr, stderr


def test_evaluate_into_a_reader_that_closes_early_ends_quietly(tmp_path):
    _image, classes = isbi_slice(0, crop=128)
    imsave(tmp_path / "pred.png", classes, check_contrast=False)
    imsave(
        tmp_path / "truth.png",
        np.where(classes == 2, 255, 0).astype(np.uint8),
        check_contrast=False,
    )
    code, stderr = _run_with_reader_gone(
        [
            "-m",
            "napari_unet.cli",
            "evaluate",
            "--pred",
            str(tmp_path / "pred.png"),
            "--truth",
            str(tmp_path / "truth.png"),
        ]
    )
    _assert_quiet(code, stderr)


# Every subcommand ends through cli.main: here each one's run prints more than a pipe holds.
CHILD = """
import importlib, sys
import napari_unet.cli as cli
name = sys.argv[1]
module = importlib.import_module(f"napari_unet.cli.{name}")
def register(sub):
    sub.add_parser(name).set_defaults(run=lambda args: print('{"dice": 0.9}\\n' * 50000))
module.register = register
sys.exit(cli.main([name]))
"""


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_ends_quietly_when_its_reader_is_gone(name):
    code, stderr = _run_with_reader_gone(["-c", CHILD, name])
    _assert_quiet(code, stderr)
