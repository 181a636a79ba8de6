"""Segment on a lazily opened zarr stack: a zarr-backed labels layer, equal to the
in-memory prediction, never a NumPy copy of the stack."""

from __future__ import annotations

import dask.array as da
import numpy as np
import zarr

from napari_unet.core import PredictionConfig, predict, run_to_completion
from napari_unet.widgets._layers import find_output
from napari_unet.widgets.model_store import store_for
from tests.scale_helpers import isbi_stack, small_model, write_zarr


def test_lazy_zarr_stack_is_segmented_into_a_zarr_backed_labels_layer(
    make_napari_viewer, dock_widget, wait_for, tmp_path, qtbot
):
    stack = isbi_stack(2)
    lazy = da.from_zarr(write_zarr(tmp_path / "in.zarr", stack))
    viewer = make_napari_viewer()
    layer = viewer.add_image(lazy, name="lazy")
    model = small_model()
    store_for(viewer).set(model)
    segment = dock_widget(viewer, "Segment")
    segment.control("Segment").value = "stack"
    segment.control("Zarr folder").value = str(tmp_path / "out")
    wait_for(segment.segment())
    seg = find_output(viewer, layer, "segmentation")
    assert isinstance(seg.data, zarr.Array)  # on disk, not a NumPy copy
    expected = run_to_completion(predict(model, stack, config=PredictionConfig())).labels
    np.testing.assert_array_equal(seg.data[:], expected)
    # the result message (shown on the GUI thread as the run ends) names the folder
    qtbot.waitUntil(lambda: str(tmp_path / "out") in segment.status, timeout=10_000)
