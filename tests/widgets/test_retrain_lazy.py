"""Retrain after a lazy Segment: the zarr-backed segmentation layer is learned from as a
lazy array (never a NumPy copy of the stack), and the retraining runs and updates the
model."""

from __future__ import annotations

import dask.array as da
import numpy as np
import zarr

from napari_unet.widgets._layers import find_output
from napari_unet.widgets.model_store import store_for
from tests.conftest import isbi_slice
from tests.scale_helpers import small_model, write_zarr


def test_retrain_from_a_zarr_backed_segmentation_keeps_it_lazy_and_updates_the_model(
    make_napari_viewer, dock_widget, wait_for, tmp_path, fast_training
):
    stack = np.stack([isbi_slice(i, crop=128)[0] for i in range(3)])
    viewer = make_napari_viewer()
    image = viewer.add_image(da.from_zarr(write_zarr(tmp_path / "in.zarr", stack)), name="lazy")
    model = small_model()
    store_for(viewer).set(model)
    segment = dock_widget(viewer, "Segment")
    segment.control("Zarr folder").value = str(tmp_path / "out")
    wait_for(segment.segment())
    seg = find_output(viewer, image, "segmentation")
    assert isinstance(seg.data, zarr.Array)

    train = dock_widget(viewer, "Train")
    train.training_overrides = fast_training
    train.run_section.max_steps.value = 2
    train.control("Image").value = image
    train.control("Learn from").value = [seg]
    train.retrain_section.whole_layer.value = True
    labels = train.retrain_labels()
    assert not isinstance(labels, np.ndarray)  # a lazy merge, read chunk by chunk
    np.testing.assert_array_equal(np.asarray(labels), seg.data[:])
    wait_for(train.start_retraining())
    # the model learned from its own segmentation validates no better than it: it is
    # offered rather than made current, and it did train
    retrained = train.last_outcome.result.model
    assert retrained is not model and retrained.rounds[-1]["steps"] == 2
    assert store_for(viewer).model in (model, retrained)
