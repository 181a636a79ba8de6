"""Every outcome of a background job reaches the widget's session: errors napari's
thread worker would swallow (a PyTorch RuntimeError), a worker asked to quit, a stop."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from napari_unet.widgets._jobs import Job
from napari_unet.widgets._session import JobSession, JobState
from napari_unet.widgets.model_store import store_for
from tests.docking import dock_plugin_widget

OOM = getattr(torch, "OutOfMemoryError", RuntimeError)  # a RuntimeError subclass


def _errors(notifications) -> list[str]:
    return [msg for sev, msg in notifications if "error" in sev.lower()]


def test_runtime_error_in_a_job_ends_it_as_failed_with_a_notification(qtbot, notifications):
    def work(stop):
        yield None
        raise OOM("CUDA out of memory. Tried to allocate 2.00 GiB")

    session = JobSession()
    states: list[JobState] = []
    session.state_changed.connect(states.append)
    job = Job(work, what="Segmentation", session=session).start()
    qtbot.waitUntil(lambda: job.done, timeout=20_000)
    assert states == [JobState.RUNNING, JobState.FAILED]
    assert isinstance(session.error, RuntimeError) and not session.active
    assert any(
        "Segmentation ran out of memory" in m and "smaller" in m for m in _errors(notifications)
    ), notifications


def test_a_failed_session_accepts_a_new_job(qtbot):
    def failing(stop):
        yield None
        raise RuntimeError("boom")

    def working(stop):
        yield None
        return 42

    session, results = JobSession(), []
    job = Job(failing, what="Job", session=session, notify=False).start()
    qtbot.waitUntil(lambda: job.done, timeout=20_000)
    assert session.state is JobState.FAILED
    job = Job(working, what="Job", session=session, on_done=results.append).start()
    qtbot.waitUntil(lambda: job.done, timeout=20_000)
    assert results == [42] and session.state is JobState.DONE


def test_a_worker_asked_to_quit_leaves_its_thread_out_of_inference_mode(qtbot):
    """napari asks every worker to quit when the app closes; the generator must then be
    closed in its own thread, or that pool thread stays in inference mode and the next
    training job on it fails with "Inference tensors cannot be saved for backward"."""
    from qtpy.QtCore import QThreadPool

    pool = QThreadPool.globalInstance()
    old_max = pool.maxThreadCount()
    pool.setMaxThreadCount(1)  # the next job runs on the same pool thread
    try:
        inside = threading.Event()

        def predicting(stop):
            with torch.inference_mode():
                while True:
                    inside.set()
                    yield None

        def training(stop):
            yield None
            return torch.is_inference_mode_enabled()

        first = Job(predicting, what="Segmentation", show_progress=False).start()
        qtbot.waitUntil(inside.is_set, timeout=20_000)
        first.worker.quit()
        qtbot.waitUntil(lambda: first.done, timeout=20_000)
        assert first.session.state is JobState.DONE and not first.session.active
        seen: list[bool] = []
        second = Job(training, what="Training", on_done=seen.append, show_progress=False).start()
        qtbot.waitUntil(lambda: second.done, timeout=20_000)
        assert seen == [False]
    finally:
        pool.setMaxThreadCount(old_max)


def _train_widget(make_napari_viewer, isbi_crop, fast_training):
    image, _truth, strokes = isbi_crop
    viewer = make_napari_viewer()
    viewer.add_image(image, name="em")
    viewer.add_labels(strokes, name="strokes")
    train = dock_plugin_widget(viewer, "Train")
    train.control("New model size").value = "tiny"
    train.control("Time budget").value = 0
    train.control("Max steps").value = 40
    train.control("Live preview of the slice in view").value = False
    train.training_overrides = fast_training  # validation every 10 steps
    return viewer, train


def _fail_training_after(monkeypatch, steps: int, error: BaseException):
    """Make the loss of training step ``steps + 1`` raise ``error``; returns the real loss."""
    import napari_unet.core.training.trainer as training

    real_loss, calls = training.segmentation_loss, []

    def loss_then_error(*args, **kwargs):
        calls.append(1)
        if len(calls) > steps:
            raise error
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(training, "segmentation_loss", loss_then_error)
    return real_loss


def test_training_runtime_error_fails_cleanly_and_keeps_the_best_model(
    make_napari_viewer, qtbot, isbi_crop, fast_training, notifications, wait_for, monkeypatch
):
    """The RuntimeError of a thread left in inference mode, after the validation of step
    10 kept a best model: napari's worker swallowed it and the widget stayed stuck."""
    import napari_unet.core.training.trainer as training

    real_loss = _fail_training_after(
        monkeypatch, 15, RuntimeError("Inference tensors cannot be saved for backward.")
    )
    viewer, train = _train_widget(make_napari_viewer, isbi_crop, fast_training)
    job = train.start_training()
    wait_for(job)
    assert train.session.state is JobState.FAILED and not train.running
    assert (
        train.button("Start training").enabled
        and train.button("Retrain current model").enabled
        and not train.button("Stop").enabled
    )
    best = train.session.best
    assert best is not None and best.step == 10
    kept = store_for(viewer).model
    assert kept is best.model and kept.rounds[-1]["steps"] == 10
    assert "best of the failed run" in train.control("Current model").value
    assert "Failed" in train.status and "best model so far" in train.status
    errors = _errors(notifications)
    assert any(
        "Training failed (RuntimeError: Inference tensors" in m and "step 10" in m for m in errors
    ), errors

    monkeypatch.setattr(training, "segmentation_loss", real_loss)  # Start works again
    train.control("Max steps").value = 3
    wait_for(train.start_training())
    assert train.session.state is JobState.DONE
    assert store_for(viewer).model.rounds[-1]["steps"] == 3


def test_training_out_of_memory_ends_with_the_best_model_and_advice(
    make_napari_viewer, qtbot, isbi_crop, fast_training, notifications, wait_for, monkeypatch
):
    _fail_training_after(monkeypatch, 15, OOM("CUDA out of memory. Tried to allocate 1.5 GiB"))
    viewer, train = _train_widget(make_napari_viewer, isbi_crop, fast_training)
    wait_for(train.start_training())
    assert train.session.state is JobState.DONE and train.button("Start training").enabled
    assert store_for(viewer).model.rounds[-1]["steps"] == 10
    warnings = [msg for sev, msg in notifications if "warning" in sev.lower()]
    assert any("out of memory" in m for m in warnings), notifications
    assert "out of memory" in train.status


def test_segmentation_runtime_error_fails_cleanly(
    make_napari_viewer, qtbot, isbi_crop, fast_training, notifications, wait_for, monkeypatch
):
    viewer, train = _train_widget(make_napari_viewer, isbi_crop, fast_training)
    train.control("Max steps").value = 3
    wait_for(train.start_training())

    def predict_in_a_poisoned_thread(*args, **kwargs):
        yield None
        raise RuntimeError("Inference tensors cannot be saved for backward.")

    monkeypatch.setattr("napari_unet.core.prediction.job.predict", predict_in_a_poisoned_thread)
    segment = dock_plugin_widget(viewer, "Segment")
    job = segment.segment()
    wait_for(job)
    assert segment.session.state is JobState.FAILED
    assert segment.button("Segment").enabled and not segment.button("Stop").enabled
    assert "Failed" in segment.status
    assert any(
        "Segmentation failed (RuntimeError: Inference tensors" in m for m in _errors(notifications)
    ), notifications
    assert not any(lay.name == "em segmentation" for lay in viewer.layers)


@pytest.mark.parametrize("state", [JobState.RUNNING, JobState.STOPPING])
def test_a_second_start_while_active_is_refused(state):
    from napari_unet.core import StopFlag, UserInputError

    session = JobSession()
    session.start("Training", StopFlag())
    if state is JobState.STOPPING:
        session.request_stop()
    assert session.state is state
    with pytest.raises(UserInputError, match="Training is already going"):
        session.start("Training", StopFlag())


def test_stop_goes_through_stopping_to_done(
    make_napari_viewer, qtbot, isbi_crop, fast_training, wait_for
):
    viewer, train = _train_widget(make_napari_viewer, isbi_crop, fast_training)
    train.control("Max steps").value = 100_000
    states: list[JobState] = []
    train.session.state_changed.connect(states.append)
    job = train.start_training()
    qtbot.waitUntil(lambda: len(train._plot.losses) >= 2, timeout=120_000)
    train.stop()
    wait_for(job)
    assert states == [JobState.RUNNING, JobState.STOPPING, JobState.DONE]
    assert np.isfinite(train._plot.losses).all()
