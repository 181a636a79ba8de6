"""``train --boundary-class`` is remembered by the model; ``evaluate --instances`` prints
the split and merge errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from skimage.io import imsave

from napari_unet.cli import main
from napari_unet.core import load_model
from napari_unet.core.data.simulated_strokes import simulate_strokes
from tests.conftest import isbi_slice


@pytest.fixture(scope="module")
def painted(tmp_path_factory):
    """An ISBI crop and its strokes (class 1 = membrane, 2 = interior)."""
    root = tmp_path_factory.mktemp("boundary")
    image, classes = isbi_slice(0, crop=128)
    imsave(root / "img.png", image, check_contrast=False)
    tifffile.imwrite(root / "strokes.tif", simulate_strokes(classes, seed=0, max_fraction=0.02))
    return root


def train_args(root, out, *extra):
    return [
        "train",
        "--images",
        str(root / "img.png"),
        "--labels",
        str(root / "strokes.tif"),
        "--out",
        str(out),
        "--steps",
        "4",
        "--device",
        "cpu",
        *(extra if "--init" in extra else ("--preset", "tiny", *extra)),
    ]


def test_train_with_boundary_class_writes_a_model_that_remembers_it(painted, tmp_path):
    out = tmp_path / "model.pt"
    assert main(train_args(painted, out, "--boundary-class", "1")) == 0
    assert load_model(out).boundary_class == 1
    fine_tuned = tmp_path / "again.pt"  # fine-tuning without the option keeps it
    assert main(train_args(painted, fine_tuned, "--init", str(out))) == 0
    assert load_model(fine_tuned).boundary_class == 1


def test_train_without_boundary_class_writes_none(painted, tmp_path):
    out = tmp_path / "model.pt"
    assert main(train_args(painted, out)) == 0
    assert load_model(out).boundary_class is None


def test_a_boundary_class_the_labels_lack_exits_2_naming_the_classes(painted, tmp_path, capsys):
    code = main(train_args(painted, tmp_path / "m.pt", "--boundary-class", "3"))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "boundary class 3 is not one of the 2 classes" in err
    assert not (tmp_path / "m.pt").exists()


def test_evaluate_instances_prints_split_and_merge_errors(tmp_path, capsys):
    truth = np.zeros((40, 40), np.uint16)
    truth[5:15, 5:15], truth[20:30, 20:30] = 3, 9
    pred = truth.copy()
    pred[5:10, 5:15] = 4  # the first object split in two
    tifffile.imwrite(tmp_path / "t.tif", truth)
    tifffile.imwrite(tmp_path / "p.tif", pred)
    args = ["evaluate", "--pred", str(tmp_path / "p.tif"), "--truth", str(tmp_path / "t.tif")]
    assert main([*args, "--instances"]) == 0
    report = json.loads(capsys.readouterr().out)
    scores = report["split_merge"]
    assert scores["vi_split"] > 0 and scores["vi_merge"] == pytest.approx(0.0)
    assert 0 < scores["adapted_rand_error"] < 1
    assert report["images"][0]["split_merge"] == scores  # one image: pooled = its own


def test_evaluate_instances_of_a_3d_stack_prints_split_and_merge_errors(tmp_path, capsys):
    truth = np.zeros((4, 30, 30), np.uint16)
    truth[:, 2:14, 2:28], truth[:, 16:28, 2:28] = 1, 2
    merged = np.where(truth > 0, 1, 0).astype(np.uint16)  # the two objects as one
    tifffile.imwrite(tmp_path / "t.tif", truth, photometric="minisblack")
    tifffile.imwrite(tmp_path / "p.tif", merged, photometric="minisblack")
    args = ["evaluate", "--pred", str(tmp_path / "p.tif"), "--truth", str(tmp_path / "t.tif")]
    assert main([*args, "--instances"]) == 0
    scores = json.loads(capsys.readouterr().out)["split_merge"]
    assert scores["vi_merge"] == pytest.approx(1.0) and scores["vi_split"] == pytest.approx(0.0)


@pytest.fixture(scope="module")
def boundary_model(painted, tmp_path_factory):
    out = tmp_path_factory.mktemp("boundary_model") / "model.pt"
    steps = ("--steps", "40", "--seed", "0")  # enough for membranes, unlike the 4 above
    assert main(train_args(painted, out, "--boundary-class", "1", *steps)) == 0
    return out


def _predict(painted, model, out, *extra) -> int:
    argv = ["predict", "--model", model, "--images", painted / "img.png", "--out-dir", out]
    return main([str(a) for a in [*argv, "--instances", "--probabilities", *extra]])


def test_predict_cuts_cells_along_the_class_the_model_remembers(painted, boundary_model, tmp_path):
    from napari_unet.core import boundary_instances
    from napari_unet.core.prediction.boundary_instances import DEFAULT_MIN_SIZE

    assert _predict(painted, boundary_model, tmp_path / "remembered", "--device", "cpu") == 0
    probabilities = tifffile.imread(tmp_path / "remembered" / "img_probabilities.tif")
    cells = tifffile.imread(tmp_path / "remembered" / "img_instances.tif")
    expected = boundary_instances(probabilities, 1, min_size=DEFAULT_MIN_SIZE)
    np.testing.assert_array_equal(cells, expected)
    assert _predict(painted, boundary_model, tmp_path / "blobs", "--boundary-class", "none") == 0
    blobs = tifffile.imread(tmp_path / "blobs" / "img_instances.tif")
    assert len(np.unique(cells)) > 3  # cells found
    assert not np.array_equal(blobs, cells)  # objects of the foreground class instead


def test_predict_refuses_a_boundary_class_the_model_does_not_have(
    painted, boundary_model, tmp_path, capsys
):
    from tests.cli.bad_input_files import run_cli

    argv = ["predict", "--model", boundary_model, "--images", painted / "img.png"]
    code, lines, err = run_cli(
        [*argv, "--out-dir", tmp_path, "--instances", "--boundary-class", "5"], capsys
    )
    assert code == 2 and "classes 1..2" in lines[-1], err


def test_predict_merge_threshold_and_voxel_size_reach_the_cells(painted, boundary_model, tmp_path):
    from napari_unet.core import boundary_instances

    settings = ("--merge-threshold", "0", "--voxel-size", "1", "2", "--min-size", "0")
    assert _predict(painted, boundary_model, tmp_path / "set", "--device", "cpu", *settings) == 0
    probabilities = tifffile.imread(tmp_path / "set" / "img_probabilities.tif")
    cells = tifffile.imread(tmp_path / "set" / "img_instances.tif")
    expected = boundary_instances(
        probabilities, 1, merge_threshold=0.0, spacing=(1.0, 2.0), min_size=0
    )
    np.testing.assert_array_equal(cells, expected)
    merged = boundary_instances(probabilities, 1, spacing=(1.0, 2.0), min_size=0)
    assert len(np.unique(cells)) > len(np.unique(merged))  # no merging: more regions


def test_predict_refuses_a_voxel_size_with_too_few_axes(painted, boundary_model, tmp_path, capsys):
    from tests.cli.bad_input_files import run_cli

    argv = ["predict", "--model", boundary_model, "--images", painted / "img.png"]
    code, lines, err = run_cli(
        [*argv, "--out-dir", tmp_path, "--instances", "--voxel-size", "2"], capsys
    )
    assert code == 2 and "--voxel-size got 1 value(s)" in lines[-1], err


def test_predict_takes_the_voxel_size_a_tiff_states(painted, boundary_model, tmp_path):
    from skimage.io import imread

    from napari_unet.core import boundary_instances

    image = imread(painted / "img.png")
    tifffile.imwrite(  # pixels 0.5 µm tall and 0.25 µm wide
        tmp_path / "img.tif", image, resolution=(40000, 20000), resolutionunit="CENTIMETER"
    )
    argv = ["predict", "--model", boundary_model, "--images", tmp_path / "img.tif"]
    out = tmp_path / "out"
    assert main([str(a) for a in [*argv, "--out-dir", out, "--instances", "--probabilities"]]) == 0
    probabilities = tifffile.imread(out / "img_probabilities.tif")
    cells = tifffile.imread(out / "img_instances.tif")
    expected = boundary_instances(probabilities, 1, spacing=(0.5, 0.25))
    np.testing.assert_array_equal(cells, expected)
    assert not np.array_equal(cells, boundary_instances(probabilities, 1))  # it mattered
