"""A retraining round never makes the model worse silently: through the docked Train
widget, a retrained model that validates worse than the previous one on the same
held-out pixels leaves the previous one current, says so, and the user can still take
the new one; the model lines give the held-out pixels a validation rests on."""

from __future__ import annotations

import torch

import napari_unet.widgets.train.session as session_module
from napari_unet.core import Trainer
from napari_unet.widgets.model_store import store_for


def _always_first_class(model):
    """A deliberately worse copy: predicts class 1 everywhere."""
    worse = model.copy()
    with torch.no_grad():
        worse.network.head.bias[0] += 1000.0
    return worse


class _WorseTrainer(Trainer):
    """Trains as usual, then hands back a deliberately worse model (as a retraining on
    bad corrections can); the widget's worker compares it with the previous model."""

    def run(self):
        result = yield from super().run()
        result.model = _always_first_class(result.model)
        return result


def _trainer_returning(model):
    """A Trainer that trains as usual, then hands back ``model`` (a copy) as its result:
    a retraining that made a known better model."""

    class _ImprovingTrainer(Trainer):
        def run(self):
            result = yield from super().run()
            result.model = model.copy()
            return result

    return _ImprovingTrainer


def _docked(viewer, name: str = "Train"):
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-unet", name)
    return widget


def _train_first_model(viewer, isbi_crop, fast_training, wait_for):
    image, _truth, strokes = isbi_crop
    viewer.add_image(image, name="em")
    viewer.add_labels(strokes, name="strokes")
    train = _docked(viewer)
    train.training_overrides = fast_training
    train.control("Live preview of the slice in view").value = False
    train.control("Time budget").value = 0
    train.control("Max steps").value = 15
    wait_for(train.start_training())
    assert store_for(viewer).model is not None
    return train


def test_a_worse_retrained_model_is_not_made_current_and_the_user_can_take_it(
    make_napari_viewer, isbi_crop, fast_training, wait_for, notifications, monkeypatch
):
    viewer = make_napari_viewer()
    train = _train_first_model(viewer, isbi_crop, fast_training, wait_for)
    previous = store_for(viewer).model
    monkeypatch.setattr(session_module, "Trainer", _WorseTrainer)
    train.control("Retrain time").value = 60
    train.control("Max steps").value = 10
    wait_for(train.start_retraining())

    assert store_for(viewer).model is previous, "the worse model must not become current"
    assert "previous model is kept" in train.status
    assert "held-out pixels" in train.status
    assert any("previous model is kept" in message for _sev, message in notifications)
    assert "kept: the retrained model validated worse" in train.control("Current model").value
    choice = train.model_choice
    assert choice.shown
    assert choice.use_other.text == "Use the new model anyway"
    rejected = choice.other
    assert rejected is not None and rejected is not previous

    choice.use_other.clicked.emit()  # "Use the new model anyway"
    assert store_for(viewer).model is rejected
    assert not choice.shown


def test_a_better_retrained_model_becomes_current_and_the_previous_stays_on_offer(
    make_napari_viewer, isbi_crop, fast_training, wait_for, monkeypatch
):
    viewer = make_napari_viewer()
    train = _train_first_model(viewer, isbi_crop, fast_training, wait_for)
    good = store_for(viewer).model
    previous = _always_first_class(good)  # a poor current model
    store_for(viewer).set(previous)
    monkeypatch.setattr(session_module, "Trainer", _trainer_returning(good))
    train.control("Retrain time").value = 60
    train.control("Max steps").value = 5
    wait_for(train.start_retraining())

    assert store_for(viewer).model is not previous
    assert "retrained model is current" in train.status
    assert train.model_choice.shown
    comparison = train.model_choice.comparison
    assert comparison.new.mean_dice > comparison.previous.mean_dice
    assert train.model_choice.use_other.text == "Go back to the previous model"
    train.model_choice.keep.clicked.emit()  # "Keep the new model"
    assert store_for(viewer).model is not previous and not train.model_choice.shown


def test_model_lines_give_the_held_out_pixels_and_the_too_few_caveat(
    make_napari_viewer, tiny_isbi_model
):
    image, model = tiny_isbi_model
    few = model.copy()
    few.summary["rounds"][-1].update(validation_dice=1.0, validation_pixels=[40, 12])
    viewer = make_napari_viewer()
    viewer.add_image(image, name="em")
    train = _docked(viewer)
    segment = _docked(viewer, "Segment")
    store_for(viewer).set(few)
    for line in (train.control("Current model").value, segment.control("Model").value):
        assert "validation Dice 1.000 on 52 held-out pixels (too few to trust" in line
