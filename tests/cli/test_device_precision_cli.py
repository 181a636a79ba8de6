"""The command line says which device and precision it computes with."""

from __future__ import annotations

import pytest
import tifffile
from skimage.io import imsave

from napari_unet.cli import main
from napari_unet.core.data.simulated_strokes import simulate_strokes
from tests.conftest import isbi_slice


@pytest.fixture(scope="module")
def crop(tmp_path_factory):
    root = tmp_path_factory.mktemp("device_cli")
    image, classes = isbi_slice(0, crop=96)
    imsave(root / "img.png", image, check_contrast=False)
    tifffile.imwrite(root / "strokes.tif", simulate_strokes(classes, seed=0, max_fraction=0.05))
    return root


def test_train_and_predict_log_device_and_precision(crop, capsys):
    model = crop / "model.pt"
    assert (
        main(
            [
                "train",
                "--images",
                str(crop / "img.png"),
                "--labels",
                str(crop / "strokes.tif"),
                "--out",
                str(model),
                "--steps",
                "2",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert "device: cpu, precision: float32" in capsys.readouterr().err
    assert (
        main(
            [
                "predict",
                "--model",
                str(model),
                "--images",
                str(crop / "img.png"),
                "--out-dir",
                str(crop / "out"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert "device: cpu, precision: float32" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["cuda:0", "cuda:7"])
def test_a_named_gpu_that_is_not_there_is_one_line_and_exit_2(crop, capsys, name, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(
        [
            "predict",
            "--model",
            str(crop / "model.pt"),
            "--images",
            str(crop / "img.png"),
            "--out-dir",
            str(crop / "out2"),
            "--device",
            name,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "CUDA" in err and len(err.strip().splitlines()) == 1


def test_an_unknown_device_names_the_choices(crop, capsys):
    assert (
        main(
            [
                "predict",
                "--model",
                str(crop / "model.pt"),
                "--images",
                str(crop / "img.png"),
                "--out-dir",
                str(crop / "out3"),
                "--device",
                "gpu1",
            ]
        )
        == 2
    )
    assert "cuda:N" in capsys.readouterr().err
