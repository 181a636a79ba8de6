"""Atomic writes: a write that fails leaves the old file as it was and no temporary file;
a finished write replaces the file and keeps its mode; a new file gets the user's mode."""

from __future__ import annotations

import os
import stat

import pytest

from napari_unet.core.io.atomic_write import atomic_write, default_file_mode


def test_a_failed_write_leaves_the_old_file_and_nothing_else(tmp_path):
    path = tmp_path / "table.csv"
    path.write_bytes(b"old")

    def half_then_fail(handle):
        handle.write(b"new but not fin")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_a_finished_write_replaces_the_file_and_keeps_its_mode(tmp_path):
    path = tmp_path / "table.csv"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    atomic_write(path, lambda handle: handle.write(b"new"))
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_new_file_in_a_new_folder_gets_the_users_mode(tmp_path):
    path = tmp_path / "made" / "new.bin"
    atomic_write(path, lambda handle: handle.write(b"x"))
    assert path.read_bytes() == b"x"
    assert stat.S_IMODE(path.stat().st_mode) == default_file_mode()
