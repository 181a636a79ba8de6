"""Pixel sizes from file metadata: OME-Zarr scale and units, TIFF resolution tags."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet.core.analysis.spacing import ome_spacing, tiff_spacing, unit_symbol


def test_imagej_tiff_gives_z_step_and_pixel_size_in_its_unit(tmp_path):
    path = tmp_path / "stack.tif"
    metadata = {"spacing": 2.0, "unit": "micron"}
    tifffile.imwrite(
        path,
        np.zeros((4, 8, 8), np.uint8),
        imagej=True,
        resolution=(1 / 0.5, 1 / 0.25),
        metadata=metadata,
    )
    assert tiff_spacing(path, 3) == ((2.0, 0.25, 0.5), "µm")


def test_tiff_resolution_in_centimetres_becomes_micrometres(tmp_path):
    path = tmp_path / "plane.tif"
    tifffile.imwrite(
        path, np.zeros((8, 8), np.uint8), resolution=(10000.0, 5000.0), resolutionunit="CENTIMETER"
    )
    assert tiff_spacing(path, 2) == ((2.0, 1.0), "µm")


def test_tiff_without_a_unit_or_z_step_gives_no_spacing(tmp_path):
    plain, flat = tmp_path / "plain.tif", tmp_path / "flat.tif"
    tifffile.imwrite(plain, np.zeros((8, 8), np.uint8))
    tifffile.imwrite(
        flat,
        np.zeros((4, 8, 8), np.uint8),
        imagej=True,
        resolution=(2.0, 2.0),
        metadata={"unit": "um"},
    )
    assert tiff_spacing(plain, 2) == (None, None)
    assert tiff_spacing(flat, 3) == (None, None)


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (
            {
                "axes": [
                    {"name": "c", "type": "channel"},
                    {"name": "y", "type": "space", "unit": "micrometer"},
                    {"name": "x", "type": "space", "unit": "micrometer"},
                ],
                "scale": [1.0, 0.4, 0.2],
            },
            ((0.4, 0.2), "µm"),
        ),
        (
            {
                "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
                "scale": [0.4, 0.2],
            },
            (None, None),
        ),
        ({"axes": None, "scale": None}, (None, None)),
    ],
)
def test_ome_zarr_scale_gives_spacing_only_with_a_unit(info, expected):
    assert ome_spacing(info, 2) == expected


def test_unit_names_become_symbols_and_unknown_ones_stay():
    assert unit_symbol("micrometer") == "µm" and unit_symbol("furlong") == "furlong"
