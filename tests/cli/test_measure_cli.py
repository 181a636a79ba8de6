"""``napari-unet measure``: the objects' table as CSV, pixel size from the options or the
files, and bad input refused with exit code 2 and one line."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main
from napari_unet.core.analysis.measurements import measure_objects
from napari_unet.core.analysis.measurements_csv import read_table_csv
from tests.conftest import data_root

MASK = data_root() / "nuclei2d" / "mask2d.tif"
IMAGE = data_root() / "nuclei2d" / "img2d.tif"


def test_measure_writes_one_row_per_nucleus_in_the_given_unit(tmp_path, capsys):
    out = tmp_path / "img2d_objects.csv"
    code = main(
        [
            "measure",
            str(MASK),
            str(IMAGE),
            "-o",
            str(out),
            "--voxel-size",
            "0.5",
            "0.25",
            "--unit",
            "nm",
        ]
    )
    assert code == 0
    expected = measure_objects(
        tifffile.imread(MASK), tifffile.imread(IMAGE), spacing=(0.5, 0.25), unit="nm"
    )
    written = read_table_csv(out)
    assert list(written) == list(expected)
    np.testing.assert_array_equal(np.array(written["area [nm^2]"], float), expected["area [nm^2]"])
    np.testing.assert_array_equal(
        np.array(written["intensity_mean"], float), expected["intensity_mean"]
    )
    assert (
        f"({len(expected['label'])} objects; pixel size 0.5 x 0.25 nm)" in capsys.readouterr().out
    )


def test_measure_takes_the_pixel_size_from_an_imagej_tiff(tmp_path):
    labels = tmp_path / "labels.tif"
    metadata = {"spacing": 2.0, "unit": "micron"}
    stack = np.zeros((4, 16, 16), np.uint16)
    stack[1:3, 2:6, 2:10] = 5  # 2 x 4 x 8 voxels of 2 x 0.5 x 0.5 µm
    tifffile.imwrite(labels, stack, imagej=True, resolution=(2.0, 2.0), metadata=metadata)
    assert main(["measure", str(labels), "-o", str(tmp_path / "out.csv")]) == 0
    written = read_table_csv(tmp_path / "out.csv")
    assert written["label"] == ["5"] and written["volume [µm^3]"] == ["32.0"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--voxel-size", "1", "2", "3"],
            "--voxel-size got 3 value(s) but the labels have 2 axes; give Y X.",
        ),
        (["--voxel-size", "0", "1"], "--voxel-size: must be a positive number, got '0'"),
    ],
)
def test_measure_refuses_a_wrong_voxel_size_with_one_line(tmp_path, capsys, extra, message):
    code = main(["measure", str(MASK), "-o", str(tmp_path / "out.csv"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert message in err
    assert not (tmp_path / "out.csv").exists()


def test_measure_refuses_an_image_of_another_size_with_one_line(tmp_path, capsys):
    other = data_root() / "plant3d" / "raw.tif"
    code = main(["measure", str(MASK), str(other), "-o", str(tmp_path / "out.csv")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "measure labels with the image they segment" in err
    assert not (tmp_path / "out.csv").exists()
