"""An attack whose eps is below one grey level of a dim integer image cannot show in that
dtype: the metrics, the curve and its CSV, the CLI say so, and the CLI can write float."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main
from napari_unet.core import run_to_completion, save_model
from napari_unet.core.attacks import PGD
from napari_unet.core.robustness import robustness_curve


@pytest.fixture(scope="module")
def dim_image(isbi_test_slice) -> np.ndarray:
    """The real ISBI crop, dim: 16 grey levels of uint8 (as a weakly exposed image)."""
    return (isbi_test_slice[0] // 16).astype(np.uint8)


def test_attack_below_one_grey_level_is_flagged_and_float_output_keeps_it(isbi_model, dim_image):
    result = PGD(eps=4 / 255, steps=3)(isbi_model, dim_image, device="cpu")
    m = result.metrics
    assert m.eps_grey_levels is not None and m.eps_grey_levels < 1
    assert m.below_quantization and m.fraction_changed == 0.0 and m.linf_raw == 0.0
    assert np.array_equal(result.adversarial, dim_image)  # rounded away
    warning = result.quantization_warning("--output-dtype float32")
    assert "below one grey level" in warning and "--output-dtype float32" in warning
    assert m.to_dict()["below_quantization"] is True
    kept = PGD(eps=4 / 255, steps=3)(isbi_model, dim_image, device="cpu", keep_float=True)
    assert kept.adversarial.dtype == np.float32 and kept.metrics.linf_raw > 0
    bright = PGD(eps=4 / 255, steps=3)(
        isbi_model, dim_image.astype(np.uint16) * 16 + 8, device="cpu"
    )
    assert not bright.metrics.below_quantization  # 16x the span: 2.6 grey levels
    assert bright.quantization_warning("x") is None


def test_robustness_curve_and_csv_mark_eps_below_one_grey_level(isbi_model, dim_image, tmp_path):
    curve = run_to_completion(
        robustness_curve(
            lambda eps: PGD(eps=eps, steps=2),
            isbi_model,
            dim_image,
            [4 / 255, 64 / 255],
            device="cpu",
        )
    )
    assert curve.below_quantization == [pytest.approx(4 / 255)]
    assert "below one grey level" in curve.quantization_warning()
    rows = list(csv.DictReader(open(curve.to_csv(tmp_path / "curve.csv"))))
    assert [r["below_quantization"] for r in rows] == ["False", "True", "False"]


def test_attack_cli_warns_below_one_grey_level_and_writes_float_on_request(
    isbi_model, dim_image, tmp_path, capsys
):
    tifffile.imwrite(tmp_path / "dim.tif", dim_image)
    model_path = tmp_path / "model.pt"
    save_model(isbi_model, model_path)
    common = [
        "attack",
        "--model",
        str(model_path),
        "--images",
        str(tmp_path / "dim.tif"),
        "--attack",
        "pgd",
        "--eps",
        str(4 / 255),
        "--steps",
        "2",
        "--device",
        "cpu",
    ]
    assert main([*common, "--out-dir", str(tmp_path / "int")]) == 0
    captured = capsys.readouterr()
    entry = json.loads(captured.out)["images"][0]
    assert entry["below_quantization"] is True and "warning" in entry
    assert "warning" in captured.err and "--output-dtype float32" in captured.err
    assert main([*common, "--out-dir", str(tmp_path / "float"), "--output-dtype", "float32"]) == 0
    capsys.readouterr()
    adv = tifffile.imread(tmp_path / "float" / "dim_adversarial.tif")
    assert adv.dtype == np.float32 and np.abs(adv - dim_image).max() > 0


def test_robustness_cli_csv_says_which_eps_are_below_one_grey_level(
    isbi_model, dim_image, tmp_path, capsys
):
    tifffile.imwrite(tmp_path / "dim.tif", dim_image)
    model_path = tmp_path / "model.pt"
    save_model(isbi_model, model_path)
    out = tmp_path / "curve.csv"
    assert (
        main(
            [
                "robustness",
                "--model",
                str(model_path),
                "--images",
                str(tmp_path / "dim.tif"),
                "--perturbation",
                "pgd",
                "--levels",
                "0",
                str(4 / 255),
                str(64 / 255),
                "--steps",
                "2",
                "--out",
                str(out),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert "below one grey level" in capsys.readouterr().err
    rows = list(csv.DictReader(open(out)))
    assert [r["below_quantization"] for r in rows] == ["False", "True", "False"]
