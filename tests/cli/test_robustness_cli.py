"""``napari-unet robustness`` on a real ISBI crop with the session's trained model."""

from __future__ import annotations

import csv
import json

import pytest
import tifffile

from napari_unet.cli import main
from napari_unet.core import save_model


@pytest.fixture
def files(isbi_model, isbi_test_slice, tmp_path):
    image, truth = isbi_test_slice
    tifffile.imwrite(tmp_path / "slice.tif", image)
    tifffile.imwrite(tmp_path / "truth.tif", truth)
    save_model(isbi_model, tmp_path / "model.pt")
    return tmp_path


def _run(files, *extra):
    return main(
        [
            "robustness",
            "--model",
            str(files / "model.pt"),
            "--images",
            str(files / "slice.tif"),
            str(files / "slice.tif"),
            "--out",
            str(files / "curve.csv"),
            "--device",
            "cpu",
            *extra,
        ]
    )


def test_robustness_writes_one_row_per_level_csv_and_png(files, capsys):
    code = _run(
        files,
        "--perturbation",
        "rotation",
        "--levels",
        "0",
        "15",
        "--truth",
        str(files / "truth.tif"),
        str(files / "truth.tif"),
    )
    assert code == 0
    rows = list(csv.DictReader(open(files / "curve.csv")))
    assert list(rows[0]) == ["perturbation", "level", "dice_vs_clean", "dice_vs_truth"]
    assert [(r["perturbation"], float(r["level"])) for r in rows] == [
        ("rotation", 0.0),
        ("rotation", 15.0),
    ]
    assert float(rows[0]["dice_vs_clean"]) == 1.0
    assert float(rows[1]["dice_vs_clean"]) < 1.0
    assert 0.5 < float(rows[0]["dice_vs_truth"]) < 1.0
    assert (files / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads(capsys.readouterr().out)["png"].endswith("curve.png")


def test_robustness_without_truth_has_no_truth_column(files):
    assert _run(files, "--perturbation", "noise", "--levels", "0", "0.1") == 0
    rows = list(csv.DictReader(open(files / "curve.csv")))
    assert list(rows[0]) == ["perturbation", "level", "dice_vs_clean"]
    assert float(rows[0]["dice_vs_clean"]) == 1.0 > float(rows[1]["dice_vs_clean"])


@pytest.mark.parametrize(
    "kind,levels,words",
    [
        ("noise", ["0", "-0.1"], "noise sigma -0.1"),
        ("blur", ["-2"], "blur sigma -2"),
        ("scale", ["1", "0"], "Zoom factor 0"),
        ("contrast", ["nan"], "not a finite number"),
        ("pgd", ["-0.01"], "eps -0.01"),
    ],
)
def test_bad_levels_exit_2_with_one_line(files, capsys, kind, levels, words):
    assert _run(files, "--perturbation", kind, "--levels", *levels) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]
    assert not (files / "curve.csv").exists()


def test_out_must_be_a_csv_and_truths_must_pair(files, capsys):
    code = main(
        [
            "robustness",
            "--model",
            str(files / "model.pt"),
            "--images",
            str(files / "slice.tif"),
            "--perturbation",
            "blur",
            "--levels",
            "1",
            "--out",
            str(files / "curve.txt"),
        ]
    )
    assert code == 2 and ".csv" in capsys.readouterr().err
    code = _run(
        files, "--perturbation", "blur", "--levels", "1", "--truth", str(files / "truth.tif")
    )
    assert code == 2 and "truth" in capsys.readouterr().err


def test_train_natural_perturbations_strength_outside_0_2_exits_2(files, capsys):
    code = main(
        [
            "train",
            "--images",
            str(files / "slice.tif"),
            "--labels",
            str(files / "truth.tif"),
            "--dense",
            "--steps",
            "1",
            "--out",
            str(files / "m2.pt"),
            "--natural-perturbations",
            "2.5",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--natural-perturbations" in err[0] and "2.5" in err[0]
    assert not (files / "m2.pt").exists()


def test_train_with_natural_perturbations_writes_a_model(files):
    code = main(
        [
            "train",
            "--images",
            str(files / "slice.tif"),
            "--labels",
            str(files / "truth.tif"),
            "--dense",
            "--steps",
            "2",
            "--out",
            str(files / "m3.pt"),
            "--natural-perturbations",
            "0.5",
            "--device",
            "cpu",
        ]
    )
    assert code == 0 and (files / "m3.pt").exists()
