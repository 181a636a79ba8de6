"""Projects in a real napari viewer, through the plugin path, on a crop of a real ISBI
slice: saved, closed and opened in a new viewer (equal layers, a model predicting the
same), every round autosaved and any earlier round made current again, and a missing
image file named in a clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage.io import imsave

from napari_unet.core import PredictionConfig, predict, run_to_completion
from napari_unet.core.data.simulated_strokes import simulate_strokes
from napari_unet.core.project import Project
from napari_unet.widgets.model_store import store_for
from tests.conftest import isbi_slice

PLACE = {"scale": (2.0, 2.0), "translate": (10.0, 5.0)}


@pytest.fixture
def crop():
    """(image uint8 96x96, strokes uint8 of classes 1 and 2) of ISBI slice 0."""
    image, truth = isbi_slice(0, crop=96)
    strokes = simulate_strokes(truth, seed=0, stroke_length=30, max_fraction=0.05)
    return image, strokes.astype(np.uint8)


def _train_round(train, wait_for, fast_training, seed=0, wait_saved=True):
    """A 5-step run of a tiny model; then (``wait_saved``) its round written."""
    train.control("New model size").value = "tiny"
    train.control("Time budget").value = 0
    train.control("Max steps").value = 5
    train.training_overrides = {**fast_training, "seed": seed}
    wait_for(train.start_training())
    if wait_saved:
        _wait_saved(train, wait_for)


def _painted_viewer(make_napari_viewer, dock_widget, crop):
    """A viewer with the crop as "em", its strokes, and Train docked: (viewer, train)."""
    image, strokes = crop
    viewer = make_napari_viewer()
    viewer.add_image(image, name="em")
    viewer.add_labels(strokes.copy(), name="strokes")
    return viewer, dock_widget(viewer, "Train")


def _wait_saved(train, wait_for):
    """The round is written in a worker thread (the window never waits for the disk)."""
    assert train.projects.saving is not None
    wait_for(train.projects.saving)


def _probabilities(model, image):
    config = PredictionConfig(device="cpu", probabilities=True)
    return run_to_completion(predict(model, image, config=config)).probabilities


def test_saved_project_reopens_in_new_viewer_with_equal_layers_and_model(
    make_napari_viewer, dock_widget, wait_for, fast_training, crop, tmp_path
):
    image, strokes = crop
    viewer = make_napari_viewer()
    viewer.add_image(image, name="em", **PLACE)
    painted = viewer.add_labels(strokes.copy(), name="strokes", **PLACE)
    train = dock_widget(viewer, "Train")
    assert train.projects.new_project(tmp_path / "project") is not None
    _train_round(train, wait_for, fast_training)
    expected = _probabilities(store_for(viewer).model, image)
    painted.data[:4, :4] = 1  # painted after the round, saved by hand
    assert train.projects.save_project() is not None
    labels = np.array(painted.data)
    viewer.close()

    again = make_napari_viewer()
    train2 = dock_widget(again, "Train")
    assert train2.projects.open_project(tmp_path / "project") is not None
    em, strokes2 = again.layers["em"], again.layers["strokes"]
    assert np.array_equal(np.asarray(em.data), image)
    assert np.array_equal(np.asarray(strokes2.data), labels)
    for layer in (em, strokes2):
        np.testing.assert_array_equal(layer.scale, PLACE["scale"])
        np.testing.assert_array_equal(layer.translate, PLACE["translate"])
    assert train2.control("Image").value == em and train2.control("Strokes").value == strokes2
    model = store_for(again).model
    assert model is not None
    np.testing.assert_array_equal(_probabilities(model, image), expected)
    assert train2.history.table.shape[0] == 1 and train2.history.roll_back.enabled


def test_every_round_is_autosaved_and_rolling_back_makes_round_1_current_and_kept(
    make_napari_viewer, dock_widget, wait_for, fast_training, crop, tmp_path
):
    image, _strokes = crop
    viewer, train = _painted_viewer(make_napari_viewer, dock_widget, crop)
    _train_round(train, wait_for, fast_training, seed=0)
    project = train.projects.project  # none was open: the first round started one
    assert project is not None and Path(project.folder).parent == tmp_path / "data" / "projects"
    round_1 = _probabilities(store_for(viewer).model, image)
    _train_round(train, wait_for, fast_training, seed=1)
    assert not np.array_equal(_probabilities(store_for(viewer).model, image), round_1)
    assert train.history.table.shape[0] == 2
    assert Project.open(project.folder).manifest.current_round == 2

    train.history.table.native.selectRow(0)
    train.history.roll_back.native.click()  # "Make selected round current"
    np.testing.assert_array_equal(_probabilities(store_for(viewer).model, image), round_1)
    reopened = Project.open(project.folder)
    assert reopened.manifest.current_round == 1 and len(reopened.manifest.rounds) == 2
    assert train.history.table.value["index"][0] == "round 1 (current)"

    wait_for(train.start_retraining())  # a retraining of round 1 is kept as round 3
    _wait_saved(train, wait_for)
    record = Project.open(project.folder).manifest.rounds[-1]
    assert (record.number, record.parent, record.what) == (3, 1, "Retraining")
    assert record.labels[0].image == "em" and train.history.table.shape[0] == 3


def test_missing_image_file_is_named_when_the_project_opens(
    make_napari_viewer, dock_widget, crop, tmp_path, notifications
):
    image, strokes = crop
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / "em.tif"
    imsave(path, image, check_contrast=False)
    viewer = make_napari_viewer()
    viewer.open(str(path))
    viewer.add_labels(strokes.copy(), name="strokes")
    train = dock_widget(viewer, "Train")
    train.projects.new_project(tmp_path / "project")
    assert Project.open(tmp_path / "project").manifest.images[0].source == "file"
    viewer.close()
    path.unlink()

    again = make_napari_viewer()
    train2 = dock_widget(again, "Train")
    assert train2.projects.open_project(tmp_path / "project") is not None
    warnings = [m for severity, m in notifications if "warning" in severity.lower()]
    assert any("image 'em'" in m and "../data/em.tif" in m for m in warnings), notifications
    assert [layer.name for layer in again.layers] == ["strokes"]  # the labels are kept
    np.testing.assert_array_equal(again.layers["strokes"].data, strokes)


def test_a_round_is_written_off_the_gui_thread_from_a_copy_of_the_strokes(
    make_napari_viewer, dock_widget, wait_for, fast_training, crop, monkeypatch
):
    import threading

    image, strokes = crop
    viewer = make_napari_viewer()
    viewer.add_image(image, name="em")
    painted = viewer.add_labels(strokes.copy(), name="strokes")
    train = dock_widget(viewer, "Train")
    written: list = []
    put_image = Project.put_image

    def recording(self, name, data, **kwargs):
        written.append((threading.current_thread(), kwargs["labels"]))
        return put_image(self, name, data, **kwargs)

    monkeypatch.setattr(Project, "put_image", recording)
    _train_round(train, wait_for, fast_training)
    assert written and all(thread is not threading.main_thread() for thread, _ in written)
    assert all(labels is not painted.data for _, labels in written)  # painting may go on


def test_closing_the_viewer_while_a_round_is_written_waits_for_it(
    make_napari_viewer, dock_widget, wait_for, fast_training, crop, monkeypatch
):
    import time

    viewer, train = _painted_viewer(make_napari_viewer, dock_widget, crop)
    save = Project.save

    def slow_save(self):
        time.sleep(1.0)  # a large image being copied
        save(self)

    monkeypatch.setattr(Project, "save", slow_save)
    _train_round(train, wait_for, fast_training, wait_saved=False)
    folder = train.projects.project.folder
    assert not train.projects.saving.done
    viewer.close()  # closing napari right after a run
    assert len(Project.open(folder).manifest.rounds) == 1
