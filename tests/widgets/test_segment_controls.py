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
