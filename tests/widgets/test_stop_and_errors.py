"""Stopping, removing layers and closing during a run; errors as notifications."""

from __future__ import annotations

import numpy as np

from napari_unet.widgets.model_store import store_for
from tests.docking import dock_plugin_widget


def _setup(make_napari_viewer, isbi_crop, fast_training, strokes=None):
    image, _truth, painted = isbi_crop
    viewer = make_napari_viewer()
    viewer.add_image(image, name="em")
    viewer.add_labels(painted if strokes is None else strokes, name="strokes")
    train = dock_plugin_widget(viewer, "Train")
    train.control("New model size").value = "tiny"
    train.control("Time budget").value = 600
    train.control("Max steps").value = 0
    train.control("Live preview of the slice in view").value = False
    train.training_overrides = fast_training
    return viewer, train


def test_stop_mid_run_keeps_best_model(
    make_napari_viewer, qtbot, isbi_crop, wait_for, fast_training
):
    viewer, train = _setup(make_napari_viewer, isbi_crop, fast_training)
    job = train.start_training()
    qtbot.waitUntil(lambda: len(train._plot.losses) >= 3, timeout=120_000)
    assert train.button("Stop").enabled and not train.button("Start training").enabled
    train.stop()
    wait_for(job)
    model = store_for(viewer).model
    assert model is not None
    assert 3 <= len(train._plot.losses) < 1000
    assert "stopped" in train.status
    assert train.button("Start training").enabled and not train.button("Stop").enabled


def test_removing_a_used_layer_stops_the_run(
    make_napari_viewer, qtbot, isbi_crop, notifications, wait_for, fast_training
):
    viewer, train = _setup(make_napari_viewer, isbi_crop, fast_training)
    job = train.start_training()
    qtbot.waitUntil(lambda: len(train._plot.losses) >= 2, timeout=120_000)
    viewer.layers.remove("strokes")
    wait_for(job)
    assert any("was removed" in msg for _sev, msg in notifications)
    assert train.control("Strokes").value is None  # the removed layer is no longer offered


def test_closing_the_widget_during_a_run_stops_it(
    make_napari_viewer, qtbot, isbi_crop, wait_for, fast_training
):
    viewer, train = _setup(make_napari_viewer, isbi_crop, fast_training)
    job = train.start_training()
    qtbot.waitUntil(lambda: len(train._plot.losses) >= 2, timeout=120_000)
    viewer.window.remove_dock_widget(train.native)
    train.native.deleteLater()
    qtbot.waitUntil(lambda: train._closed, timeout=10_000)
    wait_for(job)
    assert job.stop.requested


def test_one_class_painted_becomes_a_notification(
    make_napari_viewer, qtbot, isbi_crop, notifications, wait_for, fast_training
):
    _image, _truth, strokes = isbi_crop
    one_class = np.where(strokes > 0, 1, 0).astype(np.uint8)
    viewer, train = _setup(make_napari_viewer, isbi_crop, fast_training, strokes=one_class)
    job = train.start_training()
    wait_for(job)
    errors = [msg for sev, msg in notifications if "error" in sev.lower()]
    assert any("Only class 1 is painted" in msg for msg in errors), notifications
    assert store_for(viewer).model is None
    assert train.button("Start training").enabled and not train.running  # still usable


def test_input_mistakes_become_notifications(
    make_napari_viewer, isbi_crop, notifications, wait_for, fast_training
):
    viewer, train = _setup(make_napari_viewer, isbi_crop, fast_training)
    train.control("Time budget").value = 0
    train.control("Max steps").value = 0
    assert train.start_training() is None
    train.control("Time budget").value = 5
    assert train.start_retraining() is None  # no model yet
    assert train.save_model_to("/nonexistent/model.pt") is None
    messages = " | ".join(msg for _sev, msg in notifications)
    assert "Set a time budget" in messages
    assert "Retraining needs a model" in messages
    assert "No model yet" in messages
    assert not train.running
