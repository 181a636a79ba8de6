"""Measurement CSV files: units in the header, the same numbers read back, atomic."""

from __future__ import annotations

import numpy as np
import tifffile

from napari_unet.core.analysis.measurements import measure_objects
from napari_unet.core.analysis.measurements_csv import read_table_csv, write_table_csv
from tests.conftest import data_root


def test_csv_round_trip_gives_back_every_number_with_units_in_the_header(tmp_path):
    labels = tifffile.imread(data_root() / "nuclei2d" / "mask2d.tif")
    image = tifffile.imread(data_root() / "nuclei2d" / "img2d.tif")
    table = measure_objects(labels, image, spacing=(0.3, 0.3), unit="µm")
    path = write_table_csv(tmp_path / "img2d_objects.csv", table)
    written = read_table_csv(path)
    assert list(written) == list(table)
    assert "area [µm^2]" in written and "centroid_x [µm]" in written
    for name, values in table.items():
        np.testing.assert_array_equal(np.array(written[name], float), values, err_msg=name)
    assert [p.name for p in tmp_path.iterdir()] == ["img2d_objects.csv"]  # no temporary left


def test_csv_of_labels_without_objects_holds_only_the_header(tmp_path):
    path = write_table_csv(tmp_path / "none.csv", measure_objects(np.zeros((8, 8), np.uint8)))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines == [
        "label,area [px^2],centroid_y [px],centroid_x [px],equivalent_diameter [px],"
        "eccentricity,solidity,bbox_start_y [px],bbox_start_x [px],bbox_end_y [px],"
        "bbox_end_x [px]"
    ]
