"""Object measurements from napari: a real viewer, the real nuclei image and labels; the
table lands in the labels layer's features (shown under the cursor) and in a dock."""

from __future__ import annotations

import dask.array as da
import numpy as np
import tifffile
from napari.utils._proxies import PublicOnlyProxy

from napari_unet.core.analysis.measurements import measure_objects
from napari_unet.core.analysis.measurements_csv import read_table_csv
from napari_unet.widgets._measurements import measure_layer
from tests.conftest import data_root


def _nuclei():
    labels = tifffile.imread(data_root() / "nuclei2d" / "mask2d.tif")
    image = tifffile.imread(data_root() / "nuclei2d" / "img2d.tif")
    return labels, image


def test_measuring_sets_one_feature_row_per_object_in_the_layers_units(
    make_napari_viewer, wait_for, tmp_path
):
    labels, image = _nuclei()
    viewer = make_napari_viewer()
    image_layer = viewer.add_image(image, scale=(0.5, 0.5), units="micrometer")
    layer = viewer.add_labels(labels, name="nuclei", scale=(0.5, 0.5), units="micrometer")
    wait_for(measure_layer(viewer, layer, image_layer))
    expected = measure_objects(labels, image, spacing=(0.5, 0.5), unit="µm")
    features = layer.features
    assert len(features) == len(expected["label"]) == np.unique(labels).size - 1
    np.testing.assert_array_equal(features["index"], expected["label"])
    np.testing.assert_array_equal(features["area [µm^2]"], expected["area [µm^2]"])
    np.testing.assert_array_equal(features["intensity_mean"], expected["intensity_mean"])
    row = 3  # napari shows this object's row under the cursor
    pixel = (int(features["bbox_start_y [px]"][row]), int(features["bbox_start_x [px]"][row]))
    inside = np.argwhere(labels[pixel[0] :, pixel[1] :] == features["label"][row])[0] + pixel
    status = layer.get_status(tuple(inside * 0.5), world=True)["value"]
    label = features["label"][row]
    assert status.startswith(f"{label}; label: {label}, area [µm^2]: ")
    assert "centroid_y [µm]" in status and "intensity_mean" in status


def test_the_objects_dock_shows_every_row_saves_csv_and_is_reused(
    make_napari_viewer, wait_for, tmp_path
):
    labels, image = _nuclei()
    viewer = make_napari_viewer()
    layer = viewer.add_labels(da.from_array(labels, chunks=32), name="lazy nuclei")
    wait_for(measure_layer(viewer, layer, viewer.add_image(image)))
    dock = viewer.window.dock_widgets["Objects of lazy nuclei"]
    rows = np.unique(labels).size - 1
    assert dock.grid.rowCount() == rows and len(layer.features) == rows
    assert dock.grid.horizontalHeaderItem(1).text() == "area [px^2]"
    written = read_table_csv(dock.save(tmp_path / "objects.csv"))
    assert len(written["label"]) == rows
    # again, shape only, through the viewer proxy plugin widgets get: the same dock, refreshed
    wait_for(measure_layer(PublicOnlyProxy(viewer), layer))
    assert viewer.window.dock_widgets["Objects of lazy nuclei"] is dock
    assert "intensity_mean" not in [
        dock.grid.horizontalHeaderItem(i).text() for i in range(dock.grid.columnCount())
    ]
    assert sum(name.startswith("Objects of") for name in viewer.window.dock_widgets) == 1


def test_segment_with_measure_fills_the_instances_features_and_docks_the_table(
    make_napari_viewer, dock_widget, wait_for, qtbot
):
    from napari_unet.widgets._layers import find_output
    from napari_unet.widgets.model_store import store_for
    from tests.core.prediction.test_blockwise import calibrated_model

    _labels, image = _nuclei()
    viewer = make_napari_viewer()
    image_layer = viewer.add_image(image[:128, :128], name="nuclei", scale=(0.5, 0.5))
    store_for(viewer).set(calibrated_model())
    segment = dock_widget(viewer, "Segment")
    segment.control("Separate objects").value = True
    assert segment.control("Measure objects").enabled  # greyed out without instances
    segment.control("Measure objects").value = True
    wait_for(segment.segment())
    instances = find_output(viewer, image_layer, "instances")
    qtbot.waitUntil(lambda: len(instances.features) > 0, timeout=30_000)
    ids = np.unique(instances.data)
    np.testing.assert_array_equal(instances.features["label"], ids[ids > 0])
    area = [name for name in instances.features if name.startswith("area")]
    assert area and "class" in instances.features, list(instances.features)
    pixels = np.bincount(instances.data.ravel())[ids[ids > 0]]
    np.testing.assert_allclose(instances.features[area[0]], pixels * 0.5**2)  # the layer's scale
    assert f"Objects of {instances.name}" in viewer.window.dock_widgets
