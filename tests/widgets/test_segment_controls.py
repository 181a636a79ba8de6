"""The Segment widget greys out the settings that other choices make moot, so a user
sees which ones act: object settings only with *Separate objects*, the worker count only
for local workers, the scheduler address only for a dask cluster. And its status line ends
on the run's outcome, not on a progress line that arrived with it."""

from __future__ import annotations

from napari_unet.widgets.model_store import store_for
from tests.conftest import isbi_slice
from tests.scale_helpers import small_model


def test_object_settings_are_enabled_only_when_objects_are_separated(
    make_napari_viewer, dock_widget
):
    segment = dock_widget(make_napari_viewer(), "Segment")
    object_settings = (
        segment.control("Min. object size"),
        segment.control("Split strength"),
        segment.control("Match the trained object size"),
    )
    segment.control("Separate objects").value = False
    assert not any(control.enabled for control in object_settings)
    segment.control("Separate objects").value = True
    assert all(control.enabled for control in object_settings)


def test_worker_count_and_address_are_enabled_only_for_their_place(make_napari_viewer, dock_widget):
    segment = dock_widget(make_napari_viewer(), "Segment")
    for place, workers, address in (
        ("process", False, False),
        ("local", True, False),
        ("address", False, True),
    ):
        segment.control("Run on").value = place
        assert (segment.control("Local workers").enabled, segment.control("Scheduler").enabled) == (
            workers,
            address,
        )


def test_status_line_ends_on_segmentation_done_after_the_last_block(
    make_napari_viewer, dock_widget, wait_for, qtbot
):
    viewer = make_napari_viewer()
    viewer.add_image(isbi_slice(0, crop=128)[0], name="em")
    store_for(viewer).set(small_model())
    segment = dock_widget(viewer, "Segment")
    segment.control("Device").value = "cpu"
    wait_for(segment.segment())
    qtbot.wait(300)  # events still queued after the run (the last block's progress)
    assert segment.status.startswith("Segmentation done")


def _cells_viewer(make_napari_viewer, dock_widget, scale=(1.0, 1.0)):
    """A viewer with an ISBI crop (layer scale ``scale``), a model that remembers class 1
    as its boundary class, and Segment docked with *Separate objects* on. Returns the
    viewer, the image layer, the widget and the probabilities the model gives the crop."""
    from dataclasses import replace

    from napari_unet.core import PredictionConfig, predict, run_to_completion
    from tests.core.prediction.test_blockwise import calibrated_model

    model = calibrated_model()
    model = replace(model, classes=model.classes.with_boundary_class(1))
    image = isbi_slice(0, crop=128)[0]
    viewer = make_napari_viewer()
    layer = viewer.add_image(image, name="em", scale=scale)
    store_for(viewer).set(model)
    segment = dock_widget(viewer, "Segment")
    segment.control("Separate objects").value = True
    probabilities = run_to_completion(
        predict(model, image, config=PredictionConfig(probabilities=True))
    ).probabilities
    return viewer, layer, segment, probabilities


def test_a_model_trained_with_a_boundary_class_segments_cells_bounded_by_it(
    make_napari_viewer, dock_widget, wait_for
):
    import numpy as np

    from napari_unet.core import boundary_instances
    from napari_unet.widgets._layers import find_output

    viewer, layer, segment, probabilities = _cells_viewer(make_napari_viewer, dock_widget)
    assert segment.control("Objects are").value == 1  # the model's own boundary class
    assert segment.control("Min. object size").value == 100
    assert not segment.control("Split strength").enabled  # a blob setting
    wait_for(segment.segment())
    expected = boundary_instances(probabilities, 1, min_size=100)
    np.testing.assert_array_equal(find_output(viewer, layer, "instances").data, expected)
    segment.control("Objects are").value = 0  # blobs again: their own defaults
    assert segment.control("Min. object size").value == 16
    assert segment.control("Split strength").enabled


def test_cells_follow_the_merge_threshold_and_the_image_layers_voxel_size(
    make_napari_viewer, dock_widget, wait_for
):
    import numpy as np

    from napari_unet.core import boundary_instances
    from napari_unet.widgets._layers import find_output

    viewer, layer, segment, probabilities = _cells_viewer(
        make_napari_viewer, dock_widget, (1.0, 2.0)
    )
    assert segment.control("Merge cells below").enabled  # a setting of cells
    segment.control("Merge cells below").value = 0.3
    wait_for(segment.segment())
    expected = boundary_instances(
        probabilities, 1, min_size=100, merge_threshold=0.3, spacing=(1.0, 2.0)
    )
    np.testing.assert_array_equal(find_output(viewer, layer, "instances").data, expected)
    segment.control("Objects are").value = 0  # blobs: the cells' setting greys out
    assert not segment.control("Merge cells below").enabled
