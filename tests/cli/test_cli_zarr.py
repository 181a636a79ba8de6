"""The command line on zarr: zarr / OME-Zarr in, OME-Zarr labels out equal to the TIFF
prediction, a local cluster, resume, presets and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import zarr

from napari_unet.cli import main
from napari_unet.core import load_model, save_model
from napari_unet.core.io.zarr_files import ome_metadata
from tests.scale_helpers import isbi_stack, small_model, write_ome_zarr, write_zarr


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_zarr")
    stack = isbi_stack(2)
    save_model(small_model(), root / "model.pt")
    tifffile.imwrite(root / "stack.tif", stack)
    write_zarr(root / "plain.zarr", stack, zarr_format=2)
    write_ome_zarr(root / "ome.zarr", stack, zarr_format=3)
    return root


@pytest.fixture(scope="module")
def tiff_prediction(files):
    out = files / "tif_out"
    assert (
        main(
            [
                "predict",
                "--model",
                str(files / "model.pt"),
                "--images",
                str(files / "stack.tif"),
                "--out-dir",
                str(out),
                "--instances",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    return tifffile.imread(out / "stack.tif"), tifffile.imread(out / "stack_instances.tif")


@pytest.mark.parametrize("name", ["plain.zarr", "ome.zarr"])
def test_zarr_input_writes_ome_zarr_labels_equal_to_the_tiff_prediction(
    files, tiff_prediction, tmp_path, name
):
    assert (
        main(
            [
                "predict",
                "--model",
                str(files / "model.pt"),
                "--images",
                str(files / name),
                "--out-dir",
                str(tmp_path),
                "--instances",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    stem = name[: -len(".zarr")]
    labels = zarr.open_group(str(tmp_path / f"{stem}.zarr"), mode="r")
    np.testing.assert_array_equal(labels["0"][:], tiff_prediction[0])
    np.testing.assert_array_equal(
        zarr.open(str(tmp_path / f"{stem}_instances.zarr"))["0"][:], tiff_prediction[1]
    )
    meta = ome_metadata(dict(labels.attrs))
    assert meta["multiscales"][0]["datasets"][0]["path"] == "0" and "image-label" in meta


def test_tiff_with_out_format_zarr_and_two_local_workers_equals_in_process(
    files, tiff_prediction, tmp_path
):
    assert (
        main(
            [
                "predict",
                "--model",
                str(files / "model.pt"),
                "--images",
                str(files / "stack.tif"),
                "--out-dir",
                str(tmp_path),
                "--workers",
                "2",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    np.testing.assert_array_equal(
        zarr.open(str(tmp_path / "stack.zarr"))["0"][:], tiff_prediction[0]
    )
    # the same command again resumes: every block is done, nothing is recomputed
    assert (
        main(
            [
                "predict",
                "--model",
                str(files / "model.pt"),
                "--images",
                str(files / "stack.tif"),
                "--out-dir",
                str(tmp_path),
                "--out-format",
                "zarr",
                "--device",
                "cpu",
            ]
        )
        == 0
    )


def test_zarr_output_of_another_model_is_refused_with_one_line(files, tmp_path, capsys):
    args = [
        "predict",
        "--images",
        str(files / "plain.zarr"),
        "--out-dir",
        str(tmp_path),
        "--device",
        "cpu",
    ]
    assert main([args[0], "--model", str(files / "model.pt"), *args[1:]]) == 0
    save_model(small_model(seed=1), tmp_path / "other.pt")
    assert main([args[0], "--model", str(tmp_path / "other.pt"), *args[1:]]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "already exists" in err and "Traceback" not in err


def test_zarr_group_without_ome_metadata_is_a_clear_error(files, tmp_path, capsys):
    group = zarr.open_group(str(tmp_path / "bare.zarr"), mode="w")
    group.create_array("raw", shape=(64, 64), dtype=np.uint8)
    code = main(
        [
            "predict",
            "--model",
            str(files / "model.pt"),
            "--images",
            str(tmp_path / "bare.zarr"),
            "--out-dir",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2 and "raw" in capsys.readouterr().err


def test_train_preset_tiny_builds_a_tiny_model(tmp_path):
    from tests.conftest import isbi_slice

    image, classes = isbi_slice(0, crop=96)
    tifffile.imwrite(tmp_path / "img.tif", image)
    tifffile.imwrite(tmp_path / "lab.tif", classes)
    assert (
        main(
            [
                "train",
                "--images",
                str(tmp_path / "img.tif"),
                "--labels",
                str(tmp_path / "lab.tif"),
                "--out",
                str(tmp_path / "m.pt"),
                "--steps",
                "2",
                "--preset",
                "tiny",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    config = load_model(tmp_path / "m.pt").config
    assert (config.depth, config.base_channels) == (2, 8)
