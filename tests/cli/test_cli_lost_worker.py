"""A worker of a real local dask cluster killed during ``napari-unet predict --workers 2``:
the command ends with exit 2 and one line saying the finished blocks are kept (never
"unexpected KilledWorker ... please report"), and the same command again resumes from
them, giving the labels of an in-process run.

dask retries a task whose worker died up to ``distributed.scheduler.allowed-failures``
times (3 by default) before it gives up with ``KilledWorker``; the test sets it to 0, so
one kill is what several deaths of the same task (a worker killed for memory, again and
again) do in a user's run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import zarr

from napari_unet.core import PredictionConfig, predict, run_to_completion, save_model
from tests.conftest import isbi_slice
from tests.hostile._measure import ROOT, env
from tests.scale_helpers import small_model

BLOCKS = 256  # 512 x 512 in blocks of 32 x 32


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("lost_worker")
    image = np.tile(isbi_slice(0, crop=256)[0], (2, 2))
    model = small_model()
    store = zarr.create_array(
        str(root / "img.zarr"), shape=image.shape, chunks=(128, 128), dtype="uint8"
    )
    store[:] = image
    config = PredictionConfig(device="cpu", block=32, threads=1)
    expected = run_to_completion(predict(model, store, config=config)).labels  # read as the CLI
    return {"img": root / "img.zarr", "model": save_model(model, root / "m.pt"), "labels": expected}


def _command(files: dict, out: Path) -> list[str]:
    paths = {"--model": files["model"], "--images": files["img"], "--out-dir": out}
    options = [str(part) for flag, path in paths.items() for part in (flag, path)]
    cli = [sys.executable, "-m", "napari_unet.cli", "predict"]
    return cli + options + ["--workers", "2", "--block", "32", "--device", "cpu"]


def _done(out: Path) -> np.ndarray:
    path = out / "img.zarr" / "blocks_done"
    return zarr.open_array(str(path), mode="r")[...] if path.exists() else np.zeros(0)


def _kill_workers_until_it_ends(proc: subprocess.Popen, out: Path) -> None:
    """Once some blocks are done, SIGKILL every worker process of the run (the nannies
    start new ones) until the command ends."""
    deadline = time.monotonic() + 300
    while proc.poll() is None and _done(out).sum() < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    while proc.poll() is None and time.monotonic() < deadline:
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                if "spawn_main" in " ".join(child.cmdline()):  # a worker, not the tracker
                    child.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.5)


def test_a_killed_worker_ends_the_cli_run_with_exit_2_and_the_rerun_resumes(files, tmp_path):
    out, log = tmp_path / "out", tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            _command(files, out),
            cwd=ROOT,
            env=env(DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0"),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        _kill_workers_until_it_ends(proc, out)
        code = proc.wait(timeout=120)
    err = log.read_text()
    kept = _done(out)
    assert code == 2, err
    assert 0 < kept.sum() < BLOCKS, kept.sum()  # stopped mid-run, with blocks written
    last = err.strip().splitlines()[-1]
    assert "finished blocks are kept" in last and str(out) in last, err
    assert "please report" not in err and "Traceback" not in err, err
    chunks = {p: p.stat().st_mtime_ns for p in (out / "img.zarr" / "0" / "c").rglob("*")}
    again = subprocess.run(
        _command(files, out), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr
    assert _done(out).all()
    np.testing.assert_array_equal(
        zarr.open_array(str(out / "img.zarr" / "0"))[...], files["labels"]
    )
    finished_before = [p for p in chunks if p.is_file() and _block_of(p, kept)]
    assert finished_before and all(p.stat().st_mtime_ns == chunks[p] for p in finished_before)


def _block_of(chunk: Path, kept: np.ndarray) -> bool:
    """Whether the labels chunk file ``.../c/<row>/<col>`` is a block kept before the
    kill (chunks are the 32 x 32 blocks)."""
    row, col = int(chunk.parent.name), int(chunk.name)
    return bool(kept[row, col])
