"""``train``, ``attack`` and ``robustness`` take zarr / OME-Zarr images (and TIFFs read
lazily) as ``predict`` does: each gives exactly what it gives on the same pixels as TIFF."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tifffile
import torch

from napari_unet.cli import main
from napari_unet.core import load_model, save_model
from napari_unet.core.data.simulated_strokes import simulate_strokes
from tests.conftest import isbi_slice
from tests.scale_helpers import small_model, write_ome_zarr, write_zarr

SIZE = 128


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 2-slice real ISBI stack with strokes, as TIFF, zarr v2 and OME-Zarr v3."""
    root = tmp_path_factory.mktemp("cli_zarr_inputs")
    crops = [isbi_slice(i, crop=SIZE) for i in range(2)]
    stack = np.stack([image for image, _ in crops])
    strokes = np.stack(
        [
            simulate_strokes(
                classes, strokes_per_class=4, stroke_length=30, max_fraction=0.03, seed=i
            )
            for i, (_, classes) in enumerate(crops)
        ]
    ).astype(np.uint8)
    save_model(small_model(), root / "model.pt")
    tifffile.imwrite(root / "stack.tif", stack)
    tifffile.imwrite(root / "strokes.tif", strokes)
    write_zarr(root / "plain.zarr", stack, zarr_format=2)
    write_ome_zarr(root / "ome.zarr", stack, zarr_format=3)
    write_zarr(root / "strokes.zarr", strokes, zarr_format=3)
    return root


def _train(files, out, images, labels):
    return main(
        [
            "train",
            "--images",
            str(files / images),
            "--labels",
            str(files / labels),
            "--out",
            str(out),
            "--steps",
            "3",
            "--preset",
            "tiny",
            "--seed",
            "0",
            "--device",
            "cpu",
        ]
    )


@pytest.mark.parametrize(
    "images,labels", [("plain.zarr", "strokes.zarr"), ("ome.zarr", "strokes.tif")]
)
def test_train_on_zarr_images_and_labels_learns_the_same_weights_as_on_tiff(
    files, tmp_path, images, labels
):
    assert _train(files, tmp_path / "tif.pt", "stack.tif", "strokes.tif") == 0
    assert _train(files, tmp_path / "zarr.pt", images, labels) == 0
    expected = load_model(tmp_path / "tif.pt").network.state_dict()
    got = load_model(tmp_path / "zarr.pt").network.state_dict()
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=0, msg=name)


def _attack(files, out, image):
    return main(
        [
            "attack",
            "--model",
            str(files / "model.pt"),
            "--images",
            str(files / image),
            "--attack",
            "fgsm",
            "--eps",
            str(4 / 255),
            "--out-dir",
            str(out),
            "--device",
            "cpu",
        ]
    )


def test_attack_on_an_ome_zarr_equals_the_attack_on_the_tiff(files, tmp_path, capsys):
    assert _attack(files, tmp_path / "tif", "stack.tif") == 0
    tif_report = json.loads(capsys.readouterr().out)["images"][0]
    assert _attack(files, tmp_path / "zarr", "ome.zarr") == 0
    zarr_report = json.loads(capsys.readouterr().out)["images"][0]
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "zarr" / "ome_adversarial.tif"),
        tifffile.imread(tmp_path / "tif" / "stack_adversarial.tif"),
    )
    for key in ("dice_clean", "dice_adversarial", "fraction_changed", "linf_raw"):
        assert zarr_report[key] == tif_report[key], key


def _robustness(files, out, image):
    code = main(
        [
            "robustness",
            "--model",
            str(files / "model.pt"),
            "--images",
            str(files / image),
            "--perturbation",
            "noise",
            "--levels",
            "0",
            "0.1",
            "--out",
            str(out),
            "--device",
            "cpu",
        ]
    )
    with open(out, newline="") as handle:
        return code, list(csv.DictReader(handle))


def test_robustness_on_a_zarr_v2_array_gives_the_tiff_curve(files, tmp_path):
    code, tif_rows = _robustness(files, tmp_path / "tif.csv", "stack.tif")
    assert code == 0
    code, zarr_rows = _robustness(files, tmp_path / "zarr.csv", "plain.zarr")
    assert code == 0
    assert zarr_rows == tif_rows and len(zarr_rows) == 2


@pytest.mark.parametrize("command", ["train", "attack", "robustness"])
def test_a_folder_that_is_not_zarr_exits_2_with_one_line(files, tmp_path, capsys, command):
    folder = tmp_path / "not_zarr"
    folder.mkdir()
    rest = {
        "train": ["--labels", str(files / "strokes.tif"), "--out", str(tmp_path / "m.pt")],
        "attack": [
            "--model",
            str(files / "model.pt"),
            "--attack",
            "fgsm",
            "--eps",
            "0.01",
            "--out-dir",
            str(tmp_path / "o"),
        ],
        "robustness": [
            "--model",
            str(files / "model.pt"),
            "--perturbation",
            "noise",
            "--levels",
            "0",
            "--out",
            str(tmp_path / "c.csv"),
        ],
    }[command]
    assert main([command, "--images", str(folder), *rest]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "is a directory" in err[-1] and str(folder) in err[-1]
