"""``--rgb`` and ``--channel-axis`` on train, predict and attack, end to end on a real RGB
image (DSB 2018, grey content stored as RGB) and a real 2-channel stack."""

from __future__ import annotations

import glob

import numpy as np
import pytest
import tifffile
from skimage.io import imread, imsave

from napari_unet.core import load_model
from napari_unet.core.data.simulated_strokes import simulate_strokes
from tests.cli.bad_input_files import predict_cli, run_cli
from tests.conftest import data_root, isbi_slice, require_shared_data


@pytest.fixture(scope="module")
def rgb(tmp_path_factory):
    """A real RGB nuclei crop, strokes from its instance mask, and a model trained with --rgb."""
    root = tmp_path_factory.mktemp("rgb")
    images = sorted(glob.glob(str(data_root() / "dsb2018-dev" / "images" / "*.png")))
    if not images:
        require_shared_data("dsb2018-dev/images")
    name = images[0].rsplit("/", 1)[-1][:-4]
    image = imread(images[0])[:96, :96]
    mask = tifffile.imread(data_root() / "dsb2018-dev" / "labels" / f"{name}.tif")[:96, :96]
    imsave(root / "cells.png", image, check_contrast=False)
    classes = np.where(mask > 0, 2, 1).astype(np.uint8)
    tifffile.imwrite(root / "strokes.tif", simulate_strokes(classes, seed=0, max_fraction=0.05))
    return root, image


def _train(root, image, labels, out, *more):
    return [
        "train",
        "--images",
        image,
        "--labels",
        labels,
        "--out",
        out,
        "--steps",
        "3",
        "--device",
        "cpu",
        *more,
    ]


def test_train_with_rgb_then_predict_and_attack_the_rgb_image(rgb, capsys):
    root, image = rgb
    code, lines, err = run_cli(
        _train(root, root / "cells.png", root / "strokes.tif", root / "rgb.pt", "--rgb"), capsys
    )
    assert code == 0, err
    assert load_model(root / "rgb.pt").in_channels == image.shape[-1]
    code, _, err = predict_cli(root / "rgb.pt", root / "cells.png", root / "pred", capsys)
    assert code == 0, err
    assert tifffile.imread(root / "pred" / "cells.tif").shape == image.shape[:2]
    code, _, err = run_cli(
        [
            "attack",
            "--model",
            root / "rgb.pt",
            "--images",
            root / "cells.png",
            "--attack",
            "fgsm",
            "--eps",
            "0.02",
            "--out-dir",
            root / "adv",
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert code == 0, err
    assert tifffile.imread(root / "adv" / "cells_adversarial.tif").shape == image.shape


def test_one_channel_model_refuses_rgb_unless_told_then_segments_it_whole(rgb, tmp_path, capsys):
    root, image = rgb
    grey = tmp_path / "grey.tif"
    tifffile.imwrite(grey, image[..., 0])
    assert run_cli(_train(root, grey, root / "strokes.tif", tmp_path / "grey.pt"), capsys)[0] == 0
    predict = [
        "predict",
        "--model",
        tmp_path / "grey.pt",
        "--images",
        root / "cells.png",
        "--out-dir",
        tmp_path / "out",
        "--device",
        "cpu",
    ]
    code, lines, err = run_cli(predict, capsys)
    assert code == 2 and len(lines) == 1 and "--rgb" in lines[0], err
    assert not (tmp_path / "out").exists()  # never H slices of W x 3
    assert run_cli([*predict, "--rgb"], capsys)[0] == 0
    assert tifffile.imread(tmp_path / "out" / "cells.tif").shape == image.shape[:2]


def test_train_and_predict_with_channel_axis(tmp_path, capsys):
    image, classes = isbi_slice(2, crop=96)
    stack = np.stack([image, 255 - image])  # (2, Y, X): two real channels
    tifffile.imwrite(tmp_path / "two.tif", stack)
    tifffile.imwrite(tmp_path / "strokes.tif", simulate_strokes(classes, seed=2, max_fraction=0.04))
    code, _, err = run_cli(
        [
            "train",
            "--images",
            tmp_path / "two.tif",
            "--labels",
            tmp_path / "strokes.tif",
            "--out",
            tmp_path / "two.pt",
            "--steps",
            "3",
            "--channel-axis",
            "0",
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert code == 0, err
    assert load_model(tmp_path / "two.pt").in_channels == 2
    code, _, err = run_cli(
        [
            "predict",
            "--model",
            tmp_path / "two.pt",
            "--images",
            tmp_path / "two.tif",
            "--channel-axis",
            "0",
            "--out-dir",
            tmp_path / "out",
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert code == 0, err
    assert tifffile.imread(tmp_path / "out" / "two.tif").shape == (96, 96)
