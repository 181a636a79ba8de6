"""Per-object measurements: physical units, channels, classes, and block-by-block
measurement of lazy arrays equal to one whole-array ``regionprops_table``."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import tifffile
from skimage.measure import regionprops_table

from napari_unet.core import StopFlag, UserInputError
from napari_unet.core.analysis.measurements import (
    column_names,
    measure_objects,
    measure_objects_steps,
)
from napari_unet.core.stopping import run_to_completion
from tests.conftest import data_root


def _reference(labels, image, spacing, unit, ndim):
    """regionprops_table of the whole arrays, with the measurement table's column names."""
    properties = ["label", "area", "centroid", "bbox", "equivalent_diameter_area"]
    if image is not None:
        properties += ["intensity_mean", "intensity_min", "intensity_max"]
        image = image[..., None] if image.ndim == ndim else image
    if ndim == 2:
        properties += ["eccentricity", "solidity"]
    raw = regionprops_table(labels, image, properties=properties, spacing=spacing)
    channels = 0 if image is None else image.shape[-1]
    return {name: raw[key] for key, name in column_names(ndim, unit, channels).items()}


def _assert_tables_equal(table, reference):
    assert list(table) == list(reference)
    for name, values in reference.items():
        np.testing.assert_allclose(table[name], values, rtol=1e-9, atol=1e-9, err_msg=name)


def _squares() -> np.ndarray:
    """Three squares of 4, 6 and 10 pixels a side, ids 1, 2, 7."""
    labels = np.zeros((40, 40), np.uint16)
    labels[2:6, 2:6] = 1
    labels[10:16, 20:26] = 2
    labels[25:35, 5:15] = 7
    return labels


def test_square_areas_are_in_square_micrometres_with_half_micron_pixels():
    table = measure_objects(_squares(), spacing=(0.5, 0.5), unit="µm")
    assert table["label"].tolist() == [1, 2, 7]
    assert table["area [µm^2]"].tolist() == [4.0, 9.0, 25.0]  # (4, 6, 10 px * 0.5 µm)^2
    np.testing.assert_allclose(table["centroid_y [µm]"], [1.75, 6.25, 14.75])
    np.testing.assert_allclose(
        table["equivalent_diameter [µm]"], np.sqrt(4 * table["area [µm^2]"] / np.pi)
    )
    assert table["bbox_start_x [px]"].tolist() == [2, 20, 5]
    assert table["bbox_end_x [px]"].tolist() == [6, 26, 15]
    np.testing.assert_allclose(table["solidity"], 1.0)
    np.testing.assert_allclose(table["eccentricity"], 0.0, atol=1e-12)
    _assert_tables_equal(table, _reference(_squares(), None, (0.5, 0.5), "µm", 2))


def test_volume_with_anisotropic_voxels_is_in_cubic_micrometres():
    labels = np.zeros((10, 12, 14), np.uint8)
    labels[1:4, 2:6, 3:8] = 3  # 3 x 4 x 5 voxels
    labels[5:9, 0:12, 10:14] = 4  # touches the array's edges
    spacing = (2.0, 0.5, 0.25)
    table = measure_objects(labels, spacing=spacing, unit="µm")
    assert table["volume [µm^3]"].tolist() == [60 * 0.25, 4 * 12 * 4 * 0.25]
    np.testing.assert_allclose(table["centroid_z [µm]"], [2 * 2.0, 6.5 * 2.0])
    assert "eccentricity" not in table and "solidity" not in table
    _assert_tables_equal(table, _reference(labels, None, spacing, "µm", 3))


def test_intensity_statistics_are_given_per_channel():
    labels = _squares()
    image = np.zeros((2, 40, 40), np.float32)
    image[0][labels == 1], image[1][labels == 1] = 10.0, 3.0
    image[0][labels == 2] = np.arange(36, dtype=np.float32)  # 0..35 over square 2
    table = measure_objects(labels, image, channel_axis=0)
    assert table["intensity_mean_ch0"].tolist() == [10.0, 17.5, 0.0]
    assert table["intensity_max_ch0"].tolist() == [10.0, 35.0, 0.0]
    assert table["intensity_min_ch1"].tolist() == [3.0, 0.0, 0.0]
    moved = np.moveaxis(image, 0, -1)
    _assert_tables_equal(table, _reference(labels, moved, (1.0, 1.0), "px", 2))


def test_class_column_holds_the_class_most_of_each_objects_pixels_have():
    labels = _squares()
    classes = np.where(labels > 0, 2, 1).astype(np.uint8)
    classes[labels == 7] = 3
    classes[25:27, 5:15] = 2  # 20 of square 7's 100 pixels disagree
    table = measure_objects(labels, class_labels=classes)
    assert table["class"].tolist() == [2, 2, 3]
    assert list(table)[:2] == ["label", "class"]


def _dask(array: np.ndarray, chunk: int) -> da.Array:
    return da.from_array(array, chunks=(chunk,) * array.ndim)


def test_blockwise_2d_on_real_nuclei_equals_whole_array_regionprops():
    labels = tifffile.imread(data_root() / "nuclei2d" / "mask2d.tif")
    image = tifffile.imread(data_root() / "nuclei2d" / "img2d.tif")
    lazy = measure_objects(
        _dask(labels, 24), _dask(image, 24), spacing=(0.3, 0.2), unit="µm", block_bytes=1
    )
    reference = _reference(labels, image, (0.3, 0.2), "µm", 2)
    assert len(lazy["label"]) == len(np.unique(labels)) - 1
    crossing = (lazy["bbox_start_x [px]"] // 24) != ((lazy["bbox_end_x [px]"] - 1) // 24)
    assert crossing.sum() > 10  # many nuclei cross chunk borders
    _assert_tables_equal(lazy, reference)


def test_blockwise_3d_on_real_plant_cells_equals_whole_array_regionprops():
    labels = tifffile.imread(data_root() / "plant3d" / "label.tif")[:24, :64, :64]
    image = tifffile.imread(data_root() / "plant3d" / "raw.tif")[:24, :64, :64]
    spacing = (1.0, 0.25, 0.25)
    lazy = measure_objects(
        _dask(labels, 16), _dask(image, 16), spacing=spacing, unit="µm", block_bytes=1
    )
    _assert_tables_equal(lazy, _reference(labels, image, spacing, "µm", 3))


def test_large_sparse_ids_are_measured_blockwise_like_small_ones():
    small = tifffile.imread(data_root() / "nuclei2d" / "mask2d.tif").astype(np.uint64)
    labels = np.where(small > 0, small + 10**12, 0)  # ids too large for find_objects' list
    lazy = measure_objects(_dask(labels, 32), block_bytes=1)
    reference = _reference(small, None, (1.0, 1.0), "px", 2)
    reference["label"] = reference["label"] + 10**12
    _assert_tables_equal(lazy, reference)


class _RecordedReads:
    """An array-like (a stand-in for a zarr array) that records the size of every read."""

    def __init__(self, array: np.ndarray, chunks: tuple[int, ...]) -> None:
        self._array, self.chunks, self.reads = array, chunks, []
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, region):
        part = self._array[region]
        self.reads.append(part.size)
        return part


def test_lazy_labels_are_read_by_block_and_object_box_never_whole():
    labels = tifffile.imread(data_root() / "nuclei2d" / "mask2d.tif")
    recorded = _RecordedReads(labels, (32, 32))
    table = measure_objects(recorded, block_bytes=64 * 64 * labels.itemsize)
    _assert_tables_equal(table, _reference(labels, None, (1.0, 1.0), "px", 2))
    assert max(recorded.reads) <= 64 * 64 < labels.size


def test_labels_without_objects_give_an_empty_table_with_all_columns():
    table = measure_objects(np.zeros((3, 8, 8), np.uint8), np.ones((3, 8, 8)), unit="nm")
    assert "volume [nm^3]" in table and "intensity_mean" in table
    assert all(len(v) == 0 for v in table.values())


def test_a_requested_stop_ends_the_measurement_without_a_table():
    stop = StopFlag()
    stop.request_stop()
    work = measure_objects_steps(_dask(_squares(), 8), block_bytes=1, stop=stop)
    assert run_to_completion(work) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": np.zeros((2, 3, 4, 5), np.uint8)}, "2D (Y, X) or 3D"),
        ({"labels": np.zeros((4, 4), np.float32)}, "instance labels are integers"),
        ({"labels": np.full((4, 4), -1, np.int32)}, "negative values"),
        ({"spacing": (0.5,)}, "give 2 positive sizes"),
        ({"spacing": (0.5, 0.0)}, "give 2 positive sizes"),
        ({"image": np.zeros((5, 40))}, "measure labels with the image they segment"),
        ({"image": np.zeros((40, 40)), "channel_axis": 3}, "only 2 axes"),
        ({"class_labels": np.zeros((4, 4), np.uint8)}, "class map has shape"),
    ],
)
def test_bad_inputs_are_refused_with_a_message_naming_the_problem(kwargs, message):
    arguments = {"labels": _squares(), **kwargs}
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        measure_objects(arguments.pop("labels"), **arguments)
