"""A run that ended undertrained says so (steps, the minimum it needed) in the docked Train
widget and offers 'Continue training', which trains the same model further."""

from __future__ import annotations

from napari_unet.core.training.trainer import MIN_STEPS
from napari_unet.widgets.model_store import store_for


def test_an_undertrained_run_says_so_and_continue_trains_the_model_further(
    make_napari_viewer, dock_widget, isbi_crop, fast_training, wait_for, notifications
):
    image, _truth, strokes = isbi_crop
    viewer = make_napari_viewer()
    viewer.add_image(image, name="em")
    viewer.add_labels(strokes, name="strokes")
    train = dock_widget(viewer, "Train")
    train.control("New model size").value = "tiny"
    train.control("Live preview of the slice in view").value = False
    train.control("Time budget").value = 0
    train.control("Max steps").value = 3
    train.training_overrides = dict(fast_training)
    assert not train.run_section.continue_offered
    wait_for(train.start_training())
    assert "3 steps in" in train.status
    assert f"needs at least {MIN_STEPS[2]}" in train.status
    assert any(sev == "warning" and "Undertrained" in msg for sev, msg in notifications)
    assert train.run_section.continue_offered
    first = store_for(viewer).model
    wait_for(train.continue_training())
    continued = train.last_outcome.result.model  # current unless it validated worse
    assert continued is not first and continued.rounds[-1]["finetuned"]
    assert [r["steps"] for r in continued.rounds][-2:] == [3, 3]
    assert store_for(viewer).model in (first, continued)


def test_a_run_that_took_its_steps_offers_no_continue(
    make_napari_viewer, dock_widget, isbi_crop, fast_training, wait_for
):
    image, _truth, strokes = isbi_crop
    viewer = make_napari_viewer()
    viewer.add_image(image, name="em")
    viewer.add_labels(strokes, name="strokes")
    train = dock_widget(viewer, "Train")
    train.control("New model size").value = "tiny"
    train.control("Live preview of the slice in view").value = False
    train.control("Time budget").value = 1
    train.control("Max steps").value = 0
    train.training_overrides = {**fast_training, "min_steps": 1, "validate_every_steps": 1000}
    wait_for(train.start_training())
    assert "Undertrained" not in train.status
    assert not train.run_section.continue_offered
