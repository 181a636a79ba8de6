"""The command line on real ISBI crops: train, predict, evaluate, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from skimage.io import imsave

from napari_unet.cli import main
from napari_unet.core import load_model
from napari_unet.core.data.simulated_strokes import simulate_strokes
from tests.conftest import isbi_slice


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    paths = {}
    for i in range(2):
        image, classes = isbi_slice(i, crop=160)
        imsave(root / f"img{i}.png", image, check_contrast=False)
        tifffile.imwrite(
            root / f"strokes{i}.tif", simulate_strokes(classes, seed=i, max_fraction=0.02)
        )
        imsave(
            root / f"truth{i}.png",
            np.where(classes == 2, 255, 0).astype(np.uint8),
            check_contrast=False,
        )
        paths[i] = root
    return root


@pytest.fixture(scope="module")
def model_path(files):
    out = files / "model.pt"
    code = main(
        [
            "train",
            "--images",
            str(files / "img0.png"),
            "--labels",
            str(files / "strokes0.tif"),
            "--out",
            str(out),
            "--steps",
            "100",
            "--device",
            "cpu",
            "--seed",
            "0",
        ]
    )
    assert code == 0 and out.is_file()
    return out


def test_train_writes_a_loadable_model(model_path):
    model = load_model(model_path)
    assert model.rounds[-1]["round"] == 1 and model.num_classes == 2


def test_finetune_with_init_adds_a_round(files, model_path, tmp_path):
    out = tmp_path / "tuned.pt"
    assert (
        main(
            [
                "train",
                "--images",
                str(files / "img1.png"),
                "--labels",
                str(files / "strokes1.tif"),
                "--out",
                str(out),
                "--steps",
                "3",
                "--init",
                str(model_path),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert len(load_model(out).rounds) == 2


def test_predict_writes_classes_instances_probabilities_and_evaluate_scores_them(
    files, model_path, tmp_path, capsys
):
    out_dir = tmp_path / "pred"
    assert (
        main(
            [
                "predict",
                "--model",
                str(model_path),
                "--images",
                str(files / "img1.png"),
                "--out-dir",
                str(out_dir),
                "--instances",
                "--probabilities",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    labels = tifffile.imread(out_dir / "img1.tif")
    assert labels.shape == (160, 160) and set(np.unique(labels)) <= {1, 2}
    assert tifffile.imread(out_dir / "img1_probabilities.tif").shape == (2, 160, 160)
    instances = tifffile.imread(out_dir / "img1_instances.tif")
    assert instances.max() >= 1
    capsys.readouterr()
    assert (
        main(
            ["evaluate", "--pred", str(out_dir / "img1.tif"), "--truth", str(files / "truth1.png")]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert set(report["classes"]) == {"1", "2"}
    assert report["classes"]["2"]["dice"] > 0.5, report
    assert 0 <= report["classes"]["1"]["iou"] <= report["classes"]["1"]["dice"] <= 1


def test_evaluate_instances_reports_matching_f1(tmp_path, capsys):
    truth = np.zeros((40, 40), np.uint16)
    truth[5:15, 5:15], truth[20:30, 20:30] = 3, 9
    pred = np.zeros_like(truth)
    pred[5:15, 5:14] = 1
    tifffile.imwrite(tmp_path / "t.tif", truth)
    tifffile.imwrite(tmp_path / "p.tif", pred)
    assert (
        main(
            [
                "evaluate",
                "--pred",
                str(tmp_path / "p.tif"),
                "--truth",
                str(tmp_path / "t.tif"),
                "--instances",
            ]
        )
        == 0
    )
    f1 = json.loads(capsys.readouterr().out)["instance_f1"]
    assert f1["true_positives"] == 1 and f1["f1"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["train", "--images", "missing.png", "--labels", "x.tif", "--out", "m.pt"],
            "does not exist",
        ),
        (
            ["predict", "--model", "missing.pt", "--images", "a.png", "--out-dir", "o"],
            "does not exist",
        ),
        (
            ["evaluate", "--pred", "a.tif", "b.tif", "--truth", "c.tif"],
            "2 predictions but 1 truths",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("a.tif", "b.tif", "c.tif"):  # exist, so the pairing check is what fails
        (tmp_path / name).write_bytes(b"")
    proc = subprocess.run(
        [sys.executable, "-m", "napari_unet.cli", *args], capture_output=True, text=True
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_train_on_one_painted_class_exits_2_naming_the_class(files, tmp_path):
    labels = np.zeros((160, 160), np.uint8)
    labels[10:20, 10:20] = 2
    tifffile.imwrite(tmp_path / "one.tif", labels)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_unet.cli",
            "train",
            "--images",
            str(files / "img0.png"),
            "--labels",
            str(tmp_path / "one.tif"),
            "--out",
            str(tmp_path / "m.pt"),
            "--steps",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Only class 2 is painted" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_predict_with_a_non_model_file_exits_2(tmp_path):
    (tmp_path / "evil.pt").write_bytes(b"not a model at all")
    (tmp_path / "a.png").write_bytes(b"")  # inputs exist: the model is what is wrong
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_unet.cli",
            "predict",
            "--model",
            str(tmp_path / "evil.pt"),
            "--images",
            str(tmp_path / "a.png"),
            "--out-dir",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "not a napari-unet model file" in proc.stderr
