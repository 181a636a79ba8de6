"""The curve (core/robustness/curve.py): one CSV layout for every curve, the PNG, and the
note on eps below one grey level."""

from __future__ import annotations

import csv
import math

from napari_unet.core.robustness.curve import CSV_COLUMNS, RobustnessCurve

from .conftest import curve_of


def test_curve_is_written_as_csv_and_png(trained, held_out, tmp_path):
    image, _ = held_out
    curve = curve_of(trained.model, image, "contrast", [1.0, 0.5])
    path = curve.to_csv(tmp_path / "c.csv")
    rows = list(csv.DictReader(open(path)))
    assert list(rows[0]) == ["perturbation", "level", "dice_vs_clean"]
    assert [float(r["level"]) for r in rows] == [1.0, 0.5]
    png = curve.plot(tmp_path / "c.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_csv_columns_follow_the_one_layout_and_skip_columns_no_row_has(tmp_path):
    natural = RobustnessCurve(
        "noise", [{"perturbation": "noise", "level": 0.1, "dice_vs_clean": 0.9}]
    )
    assert list(_rows(natural.to_csv(tmp_path / "n.csv"))[0]) == list(CSV_COLUMNS[:3])
    attack_row = {
        "perturbation": "pgd",
        "level": 0.01,
        "dice_vs_clean": 0.5,
        "dice_vs_truth": 0.4,
        "fraction_changed": 0.2,
        "linf": 0.01,
        "l2": 1.5,
        "snr_db": math.inf,
        "below_quantization": True,
    }
    attack = RobustnessCurve("pgd", [attack_row])
    rows = _rows(attack.to_csv(tmp_path / "sub" / "a.csv"))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert rows[0]["snr_db"] == "inf" and rows[0]["below_quantization"] == "True"


def test_quantization_warning_names_the_eps_below_one_grey_level():
    rows = [
        {"perturbation": "pgd", "level": eps, "dice_vs_clean": 1.0, "below_quantization": below}
        for eps, below in ((0.0, False), (2 / 255, True), (8 / 255, False))
    ]
    curve = RobustnessCurve("pgd", rows)
    assert curve.below_quantization == [2 / 255]
    assert "eps 2/255 below one grey level" in curve.quantization_warning()
    assert "cannot differ from the clean one" in curve.quantization_warning()
    curve.kept_float = True
    assert "measured on float32 images" in curve.quantization_warning()
    assert RobustnessCurve("pgd", rows[:1]).quantization_warning() is None
