"""The command line never loses a user's file: inputs, other outputs, existing models,
models that could not be written, permissions, temporary files. Real files, real faults
(a tiny or read-only tmpfs where this machine allows mounting one)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_unet.cli import train as train_cli
from napari_unet.core import TrainingStep, load_model, save_model
from tests.cli.bad_input_files import make_files, predict_cli, run_cli, tiny_model


@pytest.fixture(scope="module")
def f(tmp_path_factory):
    return make_files(tmp_path_factory.mktemp("no_data_loss"))


def _train(f, out, *more):
    return [
        "train",
        "--images",
        f["img"],
        "--labels",
        f["strokes"],
        "--out",
        out,
        "--device",
        "cpu",
        *more,
    ]


def _messages(lines):
    """stderr lines other than the "device: ..., precision: ..." line printed as work starts."""
    return [line for line in lines if not line.startswith("device:")]


def _mount_tmpfs(path, options):
    path.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): " + proc.stderr.decode()[:80])
    return path


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 64 KiB file system: writes beyond it fail with ENOSPC."""
    disk = _mount_tmpfs(tmp_path / "tiny", "size=64k")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


@pytest.fixture
def read_only_disk(tmp_path):
    disk = _mount_tmpfs(tmp_path / "ro", "ro,size=64k")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


# ---------------------------------------------------------------- predict and attack
def test_predict_refuses_two_inputs_with_the_same_name(f, tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(f["img"], tmp_path / folder / "img.tif")
    code, lines, err = run_cli(
        [
            "predict",
            "--model",
            f["model"],
            "--images",
            tmp_path / "a" / "img.tif",
            tmp_path / "b" / "img.tif",
            "--out-dir",
            tmp_path / "out",
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert code == 2 and len(_messages(lines)) == 1 and "would both be written to" in lines[-1], err
    assert not (tmp_path / "out").exists()


def test_predict_refuses_an_input_named_like_another_output(f, tmp_path, capsys):
    shutil.copy(f["img"], tmp_path / "x.tif")
    shutil.copy(f["img"], tmp_path / "x_instances.tif")
    code, lines, err = run_cli(
        [
            "predict",
            "--model",
            f["model"],
            "--images",
            tmp_path / "x.tif",
            tmp_path / "x_instances.tif",
            "--instances",
            "--out-dir",
            tmp_path / "out",
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert code == 2 and len(_messages(lines)) == 1 and "would both be written" in lines[-1], err


def test_predict_into_the_input_folder_keeps_the_input(f, tmp_path, capsys):
    image = tmp_path / "img.tif"
    shutil.copy(f["img"], image)
    before = image.read_bytes()
    code, lines, err = predict_cli(f["model"], image, tmp_path, capsys)
    assert code == 2 and "would replace the input file" in lines[-1], err
    assert image.read_bytes() == before


def test_attack_never_writes_over_the_model(f, tmp_path, capsys):
    model = tmp_path / "m_adversarial.tif"  # a model file named like an output
    shutil.copy(f["model"], model)
    shutil.copy(f["img"], tmp_path / "m.tif")
    code, lines, err = run_cli(
        [
            "attack",
            "--model",
            model,
            "--images",
            tmp_path / "m.tif",
            "--attack",
            "fgsm",
            "--eps",
            "0.01",
            "--out-dir",
            tmp_path,
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert code == 2 and "would replace the input file" in lines[-1], err
    assert load_model(model).num_classes == 2


# ---------------------------------------------------------------- train --out
def test_train_out_never_replaces_a_labels_file(f, tmp_path, capsys):
    labels = tmp_path / "lab.tif"
    shutil.copy(f["strokes"], labels)
    code, lines, err = run_cli(_train(f, labels, "--steps", "1"), capsys)
    assert code == 2 and "not a napari-unet model file" in lines[-1], err
    np.testing.assert_array_equal(tifffile.imread(labels), tifffile.imread(f["strokes"]))


def _interrupt_after(steps: int):
    """``run_to_completion`` that presses Ctrl-C after ``steps`` real training steps."""

    def run(gen, callback=None):
        for event in gen:
            if callback:
                callback(event)
            if isinstance(event, TrainingStep) and event.step >= steps:
                raise KeyboardInterrupt

    return run


def test_ctrl_c_before_first_validation_keeps_the_previous_model(f, tmp_path, monkeypatch, capsys):
    previous = save_model(tiny_model(steps=500), tmp_path / "prev.pt")
    before = previous.read_bytes()
    monkeypatch.setattr(train_cli, "run_to_completion", _interrupt_after(3))
    code, lines, err = run_cli(_train(f, previous, "--steps", "100"), capsys)
    assert code == 130 and len(_messages(lines)) == 1, err
    assert "interrupted at step 3" in lines[-1] and "no model saved" in lines[-1]
    assert "left unchanged" in lines[-1]
    assert previous.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prev.pt"]


def test_ctrl_c_before_first_validation_writes_no_untrained_model(f, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train_cli, "run_to_completion", _interrupt_after(1))
    code, lines, err = run_cli(_train(f, tmp_path / "new.pt", "--steps", "100"), capsys)
    assert code == 130 and "not written" in lines[-1], err
    assert not (tmp_path / "new.pt").exists()


def _disk_full_in(folder):
    """``open`` for :mod:`atomic_write` whose writes into ``folder`` fail: disk full."""
    import builtins

    class FullDisk:
        def __init__(self, handle):
            self._handle = handle

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self._handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._handle.close()

    def fake_open(path, mode="r", *args, **kwargs):
        handle = builtins.open(path, mode, *args, **kwargs)
        return FullDisk(handle) if str(path).startswith(str(folder)) else handle

    return fake_open


def test_failed_save_keeps_old_model_and_rescues_the_new_one(f, tmp_path, monkeypatch, capsys):
    work, rescue = tmp_path / "work", tmp_path / "rescue"
    previous = save_model(tiny_model(steps=500), work / "prev.pt")
    before = previous.read_bytes()
    monkeypatch.setenv("NAPARI_UNET_RESCUE_DIR", str(rescue))
    from napari_unet.core.io import atomic_write

    monkeypatch.setattr(atomic_write, "open", _disk_full_in(work), raising=False)
    code, lines, err = run_cli(_train(f, previous, "--steps", "2"), capsys)
    assert code == 2 and len(_messages(lines)) == 1, err
    assert "No space left on device" in lines[-1] and str(rescue) in lines[-1], err
    assert previous.read_bytes() == before
    assert sorted(p.name for p in work.iterdir()) == ["prev.pt"]  # no temporary left
    (rescued,) = rescue.iterdir()
    assert load_model(rescued).rounds[-1]["steps"] == 2


def test_an_undertrained_run_saved_where_asked_says_how_to_continue_from_it(f, tmp_path, capsys):
    out = tmp_path / "short.pt"
    code, lines, err = run_cli(_train(f, out, "--steps", "2"), capsys)
    assert code == 0 and out.exists(), err
    assert f"napari-unet train --init {out}" in lines[-1], err


def test_a_rescued_model_gets_no_continue_hint_naming_the_unwritten_file(
    f, tiny_disk, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("NAPARI_UNET_RESCUE_DIR", str(tmp_path / "rescue"))
    code, lines, err = run_cli(_train(f, tiny_disk / "new.pt", "--steps", "2"), capsys)
    assert code == 2 and not any("--init" in line for line in lines), err


def test_full_disk_real_tmpfs_rescues_the_model(f, tiny_disk, tmp_path, monkeypatch, capsys):
    previous = save_model(tiny_model(steps=500), tiny_disk / "prev.pt")
    before = previous.read_bytes()
    monkeypatch.setenv("NAPARI_UNET_RESCUE_DIR", str(tmp_path / "rescue"))
    code, lines, err = run_cli(_train(f, previous, "--steps", "2"), capsys)
    assert code == 2 and len(_messages(lines)) == 1 and "No space left on device" in lines[-1], err
    assert previous.read_bytes() == before
    assert [p.name for p in tiny_disk.iterdir()] == ["prev.pt"]
    (rescued,) = (tmp_path / "rescue").iterdir()
    assert load_model(rescued).num_classes == 2


def test_full_disk_while_writing_predictions_is_one_line(f, tiny_disk, capsys):
    image = tiny_disk.parent / "big.tif"
    tifffile.imwrite(image, np.tile(tifffile.imread(f["img"]), (4, 4)))
    code, lines, err = run_cli(
        [
            "predict",
            "--model",
            f["model"],
            "--images",
            image,
            "--probabilities",
            "--out-dir",
            tiny_disk,
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert code == 2 and len(_messages(lines)) == 1 and "No space left on device" in lines[-1], err
    assert not [p for p in tiny_disk.iterdir() if p.name.endswith(".tmp")]


def test_read_only_disk_is_refused_before_any_work(f, read_only_disk, capsys):
    code, lines, err = run_cli(_train(f, read_only_disk / "m.pt", "--steps", "1"), capsys)
    assert code == 2 and len(_messages(lines)) == 1 and "not writable" in lines[-1], err
    code, lines, err = run_cli(
        [
            "predict",
            "--model",
            f["model"],
            "--images",
            f["img"],
            "--out-dir",
            read_only_disk / "out",
        ],
        capsys,
    )
    assert code == 2 and len(_messages(lines)) == 1 and "not writable" in lines[-1], err


# ---------------------------------------------------------------- permissions, temporaries
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_get_the_users_normal_permissions(f, tmp_path, umask, mode, capsys):
    old = os.umask(umask)
    try:
        model = save_model(tiny_model(), tmp_path / "m.pt")
        code = run_cli(
            [
                "predict",
                "--model",
                model,
                "--images",
                f["img"],
                "--out-dir",
                tmp_path / "out",
                "--instances",
                "--device",
                "cpu",
            ],
            capsys,
        )[0]
    finally:
        os.umask(old)
    assert code == 0
    for path in [model, *(tmp_path / "out").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


def test_replacing_a_file_keeps_its_permissions(tmp_path):
    path = save_model(tiny_model(), tmp_path / "m.pt")
    path.chmod(0o640)
    save_model(tiny_model(steps=9), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_killed_saves_are_removed_and_only_those(tmp_path):
    from napari_unet.core.io.atomic_write import _host

    host = _host()
    dead = tmp_path / f".m.pt.{host}-{_dead_pid()}.1a2b3c4d.tmp"
    old_format = tmp_path / ".m.pt.k2j3h4g5.tmp"
    live = tmp_path / f".m.pt.{host}-{os.getpid()}.99aa88bb.tmp"
    other_host = tmp_path / f".m.pt.elsewhere-{_dead_pid()}.77cc66dd.tmp"
    fresh_old_format = tmp_path / ".m.pt.zz9yy8xx.tmp"
    not_ours = [
        tmp_path / ".other.pt.abc.tmp",
        tmp_path / ".m.pt.abc.txt",
        tmp_path / "m.pt.abc.tmp",
    ]
    for path in [dead, old_format, live, other_host, fresh_old_format, *not_ours]:
        path.write_bytes(b"x" * 100)
    week_ago = os.path.getmtime(old_format) - 7 * 24 * 3600
    os.utime(old_format, (week_ago, week_ago))
    save_model(tiny_model(), tmp_path / "m.pt")
    left = {p.name for p in tmp_path.iterdir()}
    assert dead.name not in left and old_format.name not in left
    assert {live.name, other_host.name, fresh_old_format.name, "m.pt"} <= left
    assert {p.name for p in not_ours} <= left


def test_killed_save_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    script = (
        "import os, sys, torch\n"
        "from napari_unet.core.io import atomic_write as aw\n"
        "def die(handle):\n"
        "    handle.write(b'half a model'); handle.flush(); os._exit(9)\n"
        f"aw.atomic_write({str(tmp_path / 'm.pt')!r}, die)\n"
    )
    subprocess.run([sys.executable, "-c", script], env={**os.environ}, check=False)
    assert len([p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]) == 1
    save_model(tiny_model(), tmp_path / "m.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
