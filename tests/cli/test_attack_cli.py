"""``napari-unet attack`` on a real ISBI crop with the session's trained model."""

from __future__ import annotations

import json

import numpy as np
import tifffile

from napari_unet.cli import main
from napari_unet.core import save_model


def test_attack_command_writes_images_and_json(isbi_model, isbi_test_slice, tmp_path, capsys):
    image, _ = isbi_test_slice
    tifffile.imwrite(tmp_path / "slice.tif", image)
    model_path = save_model(isbi_model, tmp_path / "model.pt") or tmp_path / "model.pt"
    out = tmp_path / "out"
    code = main(
        [
            "attack",
            "--model",
            str(model_path),
            "--images",
            str(tmp_path / "slice.tif"),
            "--attack",
            "segpgd",
            "--eps",
            str(8 / 255),
            "--steps",
            "3",
            "--out-dir",
            str(out),
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    entry = report["images"][0]
    adv = tifffile.imread(out / "slice_adversarial.tif")
    pert = tifffile.imread(out / "slice_perturbation.tif")
    assert adv.dtype == np.uint8 and adv.shape == image.shape
    assert pert.dtype == np.float32
    np.testing.assert_allclose(pert, adv.astype(np.float32) - image, atol=1e-4)
    assert entry["dice_clean"] == 1.0 and entry["dice_adversarial"] < 1.0
    assert 0 < entry["fraction_changed"] < 1
    assert entry["linf_raw"] <= entry["eps_raw"][0] + 1e-6
    for key in ("l2", "l2_raw", "linf", "snr_db"):
        assert key in entry


def test_attack_command_missing_image_or_bad_target_exits_2_with_one_line(
    isbi_model, tmp_path, capsys
):
    model_path = tmp_path / "model.pt"
    save_model(isbi_model, model_path)
    code = main(
        [
            "attack",
            "--model",
            str(model_path),
            "--images",
            str(tmp_path / "none.tif"),
            "--attack",
            "pgd",
            "--eps",
            "0.01",
            "--out-dir",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
    image_path = tmp_path / "image.tif"
    tifffile.imwrite(image_path, np.zeros((32, 32), np.uint8))
    code = main(
        [
            "attack",
            "--model",
            str(model_path),
            "--images",
            str(image_path),
            "--attack",
            "pgd",
            "--eps",
            "0.01",
            "--target",
            "9",
            "--out-dir",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2 and "--target 9" in capsys.readouterr().err
