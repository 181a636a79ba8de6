"""Workers never read Qt widgets, and closing the viewer while one runs raises nothing."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from napari_unet.core import Trainer, TrainingConfig, UNetConfig, run_to_completion
from napari_unet.widgets.model_store import store_for
from tests.conftest import isbi_slice


@pytest.fixture(scope="module")
def em_and_model():
    """A 96x96 ISBI crop (tests/data or ../shared/data) and a model trained on it for 15 steps."""
    image, truth = isbi_slice(0, crop=96)
    trainer = Trainer(
        [image],
        [truth],
        dense=True,
        model_config=UNetConfig(depth=2, base_channels=8),
        config=TrainingConfig(
            max_time=None,
            max_steps=15,
            seed=0,
            batch_size=2,
            patch_size=(64, 64),
            validate_every_steps=15,
        ),
    )
    return image, run_to_completion(trainer.run()).model


def _viewer_with(make_napari_viewer, dock_widget, em_and_model, name, stack: int = 0):
    """A viewer with the crop (``stack`` copies of it), the model and the widget ``name``
    opened from the Plugins menu."""
    image, model = em_and_model
    viewer = make_napari_viewer()
    viewer.add_image(np.stack([image] * stack) if stack else image, name="em")
    store_for(viewer).set(model)
    return viewer, dock_widget(viewer, name)


def test_changing_the_attack_mid_curve_changes_no_point(
    make_napari_viewer, dock_widget, em_and_model, qtbot, monkeypatch
):
    import napari_unet.widgets.adversarial_widget as module

    real_make, made, gate = module.make_attack, [], threading.Event()

    def recording_make(name, eps, steps, target=None):
        made.append((name, steps))
        if threading.current_thread() is not threading.main_thread():
            gate.wait(20)  # the worker waits here until the user changed the settings
        return real_make(name, eps, steps, target)

    monkeypatch.setattr(module, "make_attack", recording_make)
    _viewer, w = _viewer_with(make_napari_viewer, dock_widget, em_and_model, "Adversarial attack")
    w.control("Attack").value = "fgsm"
    w.control("Steps").value = 1
    w.control("Curve levels").value = "1, 2, 4"
    job = w.run_curve()
    qtbot.waitUntil(lambda: len(made) >= 2, timeout=20_000)  # the worker is building attacks
    w.control("Attack").value = "pgd"
    w.control("Steps").value = 7
    gate.set()
    qtbot.waitUntil(lambda: job.done, timeout=120_000)
    assert len(made) >= 4 and set(made) == {("fgsm", 1)}, made
    assert w.curve.perturbation == "fgsm" and len(w.curve.levels) == 4


def _close_while_running(viewer, widget, job, qtbot) -> None:
    """Close the whole viewer mid-job, then let the worker end and its signals arrive."""
    qtbot.waitUntil(lambda: widget.running, timeout=10_000)
    with qtbot.captureExceptions() as raised:
        viewer.close()
        qtbot.waitUntil(lambda: job.done, timeout=120_000)
        qtbot.wait(300)
    assert not raised, [str(e[1]) for e in raised]
    assert job.stop.requested


def test_closing_the_viewer_during_an_attack_raises_nothing(
    make_napari_viewer, dock_widget, em_and_model, qtbot
):
    viewer, w = _viewer_with(
        make_napari_viewer, dock_widget, em_and_model, "Adversarial attack", stack=8
    )
    w.control("Attack").value = "pgd"
    w.control("Steps").value = 200
    _close_while_running(viewer, w, w.run_attack(), qtbot)


def test_closing_the_viewer_during_a_curve_raises_nothing(
    make_napari_viewer, dock_widget, em_and_model, qtbot
):
    viewer, w = _viewer_with(
        make_napari_viewer, dock_widget, em_and_model, "Adversarial attack", stack=8
    )
    w.control("Attack").value = "pgd"
    w.control("Steps").value = 200
    w.control("Curve levels").value = "1, 2"
    _close_while_running(viewer, w, w.run_curve(), qtbot)


def test_closing_the_viewer_during_segmentation_raises_nothing(
    make_napari_viewer, dock_widget, em_and_model, qtbot
):
    viewer, w = _viewer_with(make_napari_viewer, dock_widget, em_and_model, "Segment", stack=400)
    w.control("Segment").value = "stack"
    _close_while_running(viewer, w, w.segment(), qtbot)


def test_closing_the_viewer_during_training_raises_nothing(
    make_napari_viewer, dock_widget, em_and_model, qtbot, fast_training
):
    image, _model = em_and_model
    viewer, w = _viewer_with(make_napari_viewer, dock_widget, em_and_model, "Train")
    strokes = np.zeros(image.shape, np.uint8)
    strokes[10:20, 10:60], strokes[60:70, 10:60] = 1, 2
    viewer.add_labels(strokes, name="strokes")
    w.control("Strokes").value = viewer.layers["strokes"]
    w.control("New model size").value = "tiny"
    w.control("Time budget").value = 0
    w.control("Max steps").value = 100_000
    w.control("Live preview of the slice in view").value = True
    w.training_overrides = fast_training
    _close_while_running(viewer, w, w.start_training(), qtbot)
