"""Corrupt data named, and resumable: ``kill -9`` during a zarr prediction, then the same
command again, gives exactly the outputs of an uninterrupted run, even when the killed run
left a block half-written and chunks of the output damaged; a damaged input chunk is one
line naming its file, its position and what to do.

The runs are real ``napari-unet predict`` processes (killed with SIGKILL) on a real image
(ISBI 2012 texture, 512 x 512, 256 blocks of 32 x 32 with instances and probabilities)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from napari_unet.core import save_model
from tests.cli.bad_input_files import predict_cli, run_cli
from tests.conftest import isbi_slice
from tests.hostile._measure import ROOT, env

BLOCKS = 256
OUTPUTS = ("img.zarr", "img_instances.zarr", "img_probabilities.zarr")


def _args(files: dict, out: Path) -> list[str]:
    return [
        "predict",
        "--model",
        str(files["model"]),
        "--images",
        str(files["img"]),
        "--out-dir",
        str(out),
        "--instances",
        "--probabilities",
        "--block",
        "32",
        "--device",
        "cpu",
    ]


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "napari_unet.cli", *args]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from tests.core.prediction.test_blockwise import calibrated_model

    root = tmp_path_factory.mktemp("resume")
    image = np.tile(isbi_slice(0, crop=256)[0], (2, 2))
    array = zarr.create_array(
        str(root / "img.zarr"), shape=image.shape, chunks=(128, 128), dtype="uint8"
    )
    array[:] = image
    files = {"img": root / "img.zarr", "model": save_model(calibrated_model(), root / "m.pt")}
    reference = root / "reference"
    done = subprocess.run(
        _cli(_args(files, reference)),
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    files["reference"] = reference
    return files


def _done_markers(out: Path) -> int:
    folder = out / "img.zarr" / "blocks_done"
    return (
        sum(1 for p in folder.rglob("*") if p.is_file() and p.name != "zarr.json")
        if (folder.exists())
        else 0
    )


def _assert_equals_reference(out: Path, reference: Path) -> None:
    for name in OUTPUTS:
        got = zarr.open_array(str(out / name / "0"), mode="r")[...]
        want = zarr.open_array(str(reference / name / "0"), mode="r")[...]
        assert np.array_equal(got, want), name
    assert zarr.open_array(str(out / "img.zarr" / "blocks_done"), mode="r")[...].all()


def _resume(files: dict, out: Path) -> None:
    again = subprocess.run(
        _cli(_args(files, out)), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr


def test_kill_9_during_a_zarr_prediction_then_resume_equals_an_uninterrupted_run(files, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _cli(_args(files, out)),
        cwd=ROOT,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while _done_markers(out) < 24 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    killed_at = _done_markers(out)
    assert 0 < killed_at < BLOCKS, killed_at  # killed mid-run, with blocks written
    _resume(files, out)
    _assert_equals_reference(out, files["reference"])


KILL_AT_MARKER = """
import os, signal, sys
from napari_unet.core.io import sinks as outputs
calls = {"n": 0}
original = outputs.PredictionSink.mark_done
def mark_done(self, block):
    calls["n"] += 1
    if calls["n"] == int(os.environ["KILL_AT"]):  # data and checksum written, marker not
        os.kill(os.getpid(), signal.SIGKILL)
    original(self, block)
outputs.PredictionSink.mark_done = mark_done
from napari_unet.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _chunk(out: Path, name: str, *grid: int) -> Path:
    return out / name / "0" / "c" / "/".join(map(str, grid))


def test_resume_recomputes_half_written_torn_and_wrong_blocks(files, tmp_path):
    out = tmp_path / "out"
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AT_MARKER, *_args(files, out)],
        cwd=ROOT,
        env=env(KILL_AT="60"),
        capture_output=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL
    done = zarr.open_array(str(out / "img.zarr" / "blocks_done"), mode="r")[...]
    assert done.sum() == 59  # the 60th block: outputs written, no marker
    marked = [tuple(int(i) for i in g) for g in np.argwhere(done)]
    torn, wrong, lost = marked[0], marked[1], marked[2]
    labels_chunk = _chunk(out, "img.zarr", *torn)
    labels_chunk.write_bytes(labels_chunk.read_bytes()[:7])  # a torn (truncated) chunk
    probs = out / "img_probabilities.zarr" / "0" / "c" / "0"
    shutil.copy(probs / "/".join(map(str, marked[5])), probs / "/".join(map(str, wrong)))
    marker = out / "img.zarr" / "blocks_done" / "c" / "/".join(map(str, lost))
    marker.write_bytes(b"\x00garbage")  # a damaged completion marker
    leftover = labels_chunk.with_name("1.3c1d.partial")
    leftover.write_bytes(b"half")  # what a write killed before its rename leaves
    _resume(files, out)
    _assert_equals_reference(out, files["reference"])
    assert not leftover.exists()


def test_a_damaged_input_chunk_is_one_line_naming_its_file_and_position(files, tmp_path, capsys):
    image = tmp_path / "img.zarr"
    shutil.copytree(files["img"], image)
    chunk = image / "c" / "1" / "0"
    chunk.write_bytes(chunk.read_bytes()[:20])
    code, lines, err = run_cli(
        _args({"img": image, "model": files["model"]}, tmp_path / "out"), capsys
    )
    messages = [line for line in lines if not line.startswith("device:")]
    assert code == 2 and len(messages) == 1, err
    assert "please report" not in err and "Traceback" not in err, err
    assert str(chunk) in messages[0] and "(128, 0)" in messages[0], err
    assert "cannot be decoded" in messages[0] and "delete it" in messages[0], err


def test_a_damaged_tiff_tile_is_one_line_naming_the_file_and_position(files, tmp_path, capsys):
    image = isbi_slice(0, crop=256)[0]
    path = tmp_path / "tiled.tif"
    tifffile.imwrite(path, image, tile=(128, 128), compression="zlib")
    with tifffile.TiffFile(path) as tif:
        offset, count = tif.pages[0].dataoffsets[3], tif.pages[0].databytecounts[3]
    data = bytearray(path.read_bytes())
    data[offset : offset + count] = bytes(count)  # zeros: not a zlib stream
    path.write_bytes(bytes(data))
    code, lines, err = predict_cli(files["model"], path, tmp_path / "out", capsys)
    messages = [line for line in lines if not line.startswith("device:")]
    assert code == 2 and len(messages) == 1, err
    assert "please report" not in err and "tiled.tif" in messages[0], err
    assert "(128, 128)" in messages[0] and "damaged" in messages[0], err


@pytest.mark.parametrize("damage", ["array-metadata", "removed-output"])
def test_an_output_that_cannot_be_resumed_is_one_line_saying_what_to_remove(
    damage, files, tmp_path, capsys
):
    out = tmp_path / "out"
    shutil.copytree(files["reference"], out)
    if damage == "array-metadata":
        (out / "img.zarr" / "0" / "zarr.json").write_text("{not json")
    else:
        shutil.rmtree(out / "img_instances.zarr")
    code, lines, err = run_cli(_args(files, out), capsys)
    messages = [line for line in lines if not line.startswith("device:")]
    assert code == 2 and len(messages) == 1, err
    assert "please report" not in err and "cannot be resumed" in messages[0], err
    assert str(out / "img.zarr") in messages[0] and "remove" in messages[0], err
