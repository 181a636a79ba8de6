"""``napari-unet predict --instances --min-size --split-strength`` on a real ISBI crop."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from skimage.io import imsave

from napari_unet.cli import main
from napari_unet.core.data.simulated_strokes import simulate_strokes
from tests.conftest import isbi_slice


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("instances_cli")
    image, classes = isbi_slice(0, crop=160)
    imsave(root / "img.png", image, check_contrast=False)
    tifffile.imwrite(root / "strokes.tif", simulate_strokes(classes, seed=0, max_fraction=0.02))
    assert (
        main(
            [
                "train",
                "--images",
                str(root / "img.png"),
                "--labels",
                str(root / "strokes.tif"),
                "--out",
                str(root / "m.pt"),
                "--steps",
                "10",
                "--device",
                "cpu",
                "--seed",
                "0",
            ]
        )
        == 0
    )
    return root


def _instances(root, tmp_path, *options: str) -> np.ndarray:
    out = tmp_path / "-".join(options or ("default",))
    assert (
        main(
            [
                "predict",
                "--model",
                str(root / "m.pt"),
                "--images",
                str(root / "img.png"),
                "--out-dir",
                str(out),
                "--instances",
                "--device",
                "cpu",
                *options,
            ]
        )
        == 0
    )
    return tifffile.imread(out / "img_instances.tif")


def test_min_size_and_split_strength_change_the_instances(trained, tmp_path):
    default = _instances(trained, tmp_path)
    large_only = _instances(trained, tmp_path, "--min-size", "400")
    unsplit = _instances(trained, tmp_path, "--split-strength", "0")
    sizes = np.bincount(large_only.ravel())[1:]
    assert sizes[sizes > 0].min() >= 400 and large_only.max() < default.max()
    assert unsplit.max() <= default.max()
    # without splitting, every instance is a whole connected component of the class mask
    from scipy import ndimage as ndi

    components, n = ndi.label(unsplit > 0)
    assert unsplit.max() == n
