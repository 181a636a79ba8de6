"""``napari-unet train --images a b --labels la lb`` on images of different sizes: the
multi-image path of the core, with the validation Dice per image in its output."""

from __future__ import annotations

import tifffile
from skimage.io import imsave

from napari_unet.cli import main
from napari_unet.core import load_model
from napari_unet.core.data.simulated_strokes import simulate_strokes
from tests.conftest import isbi_slice


def test_train_on_two_images_of_different_sizes_prints_the_dice_per_image(tmp_path, capsys):
    args = ["train", "--images"]
    labels = []
    for i, crop in enumerate((160, 128)):
        image, classes = isbi_slice(i, crop=crop)
        imsave(tmp_path / f"img{i}.png", image, check_contrast=False)
        tifffile.imwrite(tmp_path / f"s{i}.tif", simulate_strokes(classes, seed=i))
        args.append(str(tmp_path / f"img{i}.png"))
        labels.append(str(tmp_path / f"s{i}.tif"))
    out = tmp_path / "m.pt"
    args += ["--labels", *labels, "--out", str(out), "--steps", "4", "--device", "cpu"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "(per image: 1: " in printed and ", 2: " in printed.split("(per image:")[1]
    assert len(load_model(out).rounds[-1]["validation_dice_per_image"]) == 2
