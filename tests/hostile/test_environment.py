"""Environment problems named with the fix: a pydantic the bioimage.io export cannot work
with, a full disk while writing TIFF or zarr results (real 64 KiB tmpfs)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import tifffile

from napari_unet.core import save_model
from napari_unet.core.model import environment_checks
from tests.cli.bad_input_files import predict_cli, run_cli, tiny_model
from tests.conftest import isbi_slice


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("environment")
    image = isbi_slice(0, crop=64)[0]
    tifffile.imwrite(root / "img.tif", image)
    tifffile.imwrite(root / "big.tif", np.tile(image, (4, 4)))
    return {
        "model": save_model(tiny_model(), root / "m.pt"),
        "img": root / "img.tif",
        "big": root / "big.tif",
        "root": root,
    }


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 64 KiB file system: writes beyond it fail with ENOSPC."""
    disk = tmp_path / "tiny"
    disk.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): " + proc.stderr.decode()[:80])
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.parametrize("version", ["2.14.0", "2.15.1", "3.0.0"])
def test_export_with_an_unsupported_pydantic_names_the_fix(
    version, files, tmp_path, monkeypatch, capsys
):
    real = environment_checks.installed_version
    monkeypatch.setattr(
        environment_checks,
        "installed_version",
        lambda name: version if name == "pydantic" else real(name),
    )
    code, lines, err = run_cli(
        [
            "export",
            "--model",
            files["model"],
            "--out",
            tmp_path / "pkg.zip",
            "--sample-image",
            files["img"],
        ],
        capsys,
    )
    assert code == 2 and len(lines) == 1, err
    assert "pydantic<2.14" in lines[0] and "napari-unet[bioimageio]" in lines[0], err
    assert version in lines[0] and "ValidationError" not in err and "please report" not in err
    assert not (tmp_path / "pkg.zip").exists()


def test_supported_pydantic_versions_pass_the_check(monkeypatch):
    for version in ("2.13.5", "2.9.0", "1.10.2"):
        monkeypatch.setattr(environment_checks, "installed_version", lambda name, v=version: v)
        environment_checks.check_export_environment()


def _messages(err: str) -> list[str]:
    return [line for line in err.strip().splitlines() if not line.startswith("device:")]


def test_disk_full_writing_a_tiff_result_names_it_and_the_space_needed(files, tiny_disk, capsys):
    code, lines, err = predict_cli(
        files["model"], files["big"], tiny_disk, capsys, "--probabilities"
    )
    (line,) = _messages(err)
    assert code == 2 and "please report" not in err, err
    assert str(tiny_disk / "big") in line and "No space left on device" in line, err
    assert "needs up to" in line and "free there" in line and "untouched" in line, err
    assert not [p for p in tiny_disk.iterdir() if p.name.endswith(".tmp")]
    assert tifffile.imread(files["big"]).shape == (256, 256)  # the input, untouched


def test_disk_full_writing_zarr_results_names_them_and_says_it_resumes(files, tiny_disk, capsys):
    code, lines, err = predict_cli(
        files["model"],
        files["big"],
        tiny_disk,
        capsys,
        "--probabilities",
        "--instances",
        "--out-format",
        "zarr",
        "--block",
        "64",
    )
    (line,) = _messages(err)
    assert code == 2 and "please report" not in err, err
    assert str(tiny_disk / "big.zarr") in line and "No space left on device" in line, err
    assert "needs up to" in line and "resumes" in line and "untouched" in line, err
