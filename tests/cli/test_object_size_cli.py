"""``napari-unet predict --object-size auto|off``: objects smaller than the painted ones
are segmented at the trained size, and the outputs keep the image's shape."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main
from napari_unet.core import save_model
from tests.core.prediction.test_object_scale import RADIUS, nuclei_image, train_nuclei_model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("object_size_cli")
    model, _ = train_nuclei_model()
    save_model(model, root / "m.pt")
    image, _ = nuclei_image((200, 200), RADIUS / 2.4, seed=5)  # a lower magnification
    tifffile.imwrite(root / "small.tif", (image * 4000).astype(np.uint16))
    return root


def _predict(root, out, *options):
    return main(
        [
            "predict",
            "--model",
            str(root / "m.pt"),
            "--images",
            str(root / "small.tif"),
            "--out-dir",
            str(out),
            "--instances",
            "--device",
            "cpu",
            *options,
        ]
    )


def test_auto_segments_small_objects_at_the_trained_size_and_says_so(files, tmp_path, capsys):
    assert _predict(files, tmp_path / "auto", "--object-size", "auto") == 0
    err = capsys.readouterr().err
    assert "small: Objects about" in err and "resized back" in err
    for name in ("small.tif", "small_instances.tif"):
        assert tifffile.imread(tmp_path / "auto" / name).shape == (200, 200)


def test_off_is_the_default_and_differs_from_auto(files, tmp_path, capsys):
    assert _predict(files, tmp_path / "auto", "--object-size", "auto") == 0
    capsys.readouterr()
    assert _predict(files, tmp_path / "off") == 0
    assert "resized back" not in capsys.readouterr().err
    auto = tifffile.imread(tmp_path / "auto" / "small.tif")
    off = tifffile.imread(tmp_path / "off" / "small.tif")
    assert off.shape == auto.shape and (off != auto).any()


def test_a_bad_object_size_choice_exits_2_with_one_line(files, tmp_path, capsys):
    assert _predict(files, tmp_path / "bad", "--object-size", "big") == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
