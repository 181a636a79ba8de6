"""The Train widget's training set of several images, in a real viewer: images of
different sizes train together, a different channel count is refused, validation is
reported per image, and strokes painted during a run join it."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.data.simulated_strokes import simulate_strokes
from napari_unet.core.training.training_data import PatchSampler
from tests.conftest import isbi_slice


@pytest.fixture
def two_images(make_napari_viewer, dock_widget, isbi_crop, fast_training):
    """A viewer with a 256x256 ISBI crop and a 160x200 crop of another slice, each with
    its strokes, and the Train widget (tiny model, fast settings) with both added."""
    image, _truth, strokes = isbi_crop
    other, truth = isbi_slice(3, crop=256)
    other, truth = other[:160, :200], truth[:160, :200]
    viewer = make_napari_viewer()
    viewer.add_image(image, name="em")
    viewer.add_labels(strokes, name="strokes")
    viewer.add_image(other, name="em small")
    viewer.add_labels(simulate_strokes(truth, seed=3).astype(np.uint8), name="strokes small")
    train = dock_widget(viewer, "Train")
    train.control("New model size").value = "tiny"
    train.control("Live preview of the slice in view").value = False
    train.training_overrides = fast_training
    train.data.training_set.add_painted.native.click()
    return viewer, train


@pytest.fixture
def sampler_spy(monkeypatch):
    """Per sampled batch: the training-set images its patches came from, and the painted
    training pixels the sampler drew from."""
    seen: list[tuple[set[int], int]] = []
    original = PatchSampler.sample

    def sample(self, batch_size):
        out = original(self, batch_size)
        images = {self.data.unit_image(u) for u in self.drawn_units}
        seen.append((images, sum(ids.size for ids, _ in self._by_class)))
        return out

    monkeypatch.setattr(PatchSampler, "sample", sample)
    return seen


def test_two_images_of_different_sizes_train_together_with_patches_from_both(
    two_images, sampler_spy, wait_for
):
    viewer, train = two_images
    pairs = train.training_pairs()
    assert [(i.name, lab.name) for i, lab in pairs] == [
        ("em", "strokes"),
        ("em small", "strokes small"),
    ]
    train.control("Time budget").value = 600
    train.control("Max steps").value = 20
    wait_for(train.start_training())
    drawn = set().union(*(images for images, _ in sampler_spy))
    assert drawn == {0, 1}
    assert "steps" in train.status


def test_validation_dice_is_reported_per_image_in_the_status_and_model_line(two_images, wait_for):
    viewer, train = two_images
    train.control("Time budget").value = 600
    train.control("Max steps").value = 20
    wait_for(train.start_training())
    assert "per image: 1: " in train.run_section.validation.value
    assert "2: " in train.run_section.validation.value.split("per image:")[1]
    assert "per image: 1: " in train.control("Current model").value


def test_an_image_with_another_channel_count_is_refused_with_a_clear_message(
    two_images, notifications
):
    viewer, train = two_images
    rgb = np.zeros((64, 64, 3), np.uint8)
    viewer.add_image(rgb, name="colour", rgb=True)
    viewer.add_labels(np.ones((64, 64), np.uint8), name="colour strokes")
    train.control("Image").value = viewer.layers["colour"]
    train.control("Strokes").value = viewer.layers["colour strokes"]
    train.data.training_set.add_current.native.click()
    assert len(train.training_pairs()) == 2
    assert any(
        "'colour' has 2 axes and 3 channel(s)" in msg and "1 channel(s)" in msg
        for _sev, msg in notifications
    )


def test_without_added_images_training_pairs_is_the_chosen_image_and_strokes(
    make_napari_viewer, dock_widget, isbi_crop
):
    image, _truth, strokes = isbi_crop
    viewer = make_napari_viewer()
    viewer.add_image(image, name="em")
    viewer.add_labels(strokes, name="strokes")
    train = dock_widget(viewer, "Train")
    assert [(i.name, lab.name) for i, lab in train.training_pairs()] == [("em", "strokes")]
    train.data.training_set.add_current.native.click()
    train.data.training_set.list.value = [0]
    train.data.training_set.remove.native.click()
    assert train.data.training_set.pairs == []


def test_a_stroke_painted_mid_run_joins_the_training_within_seconds(
    two_images, sampler_spy, qtbot, wait_for
):
    viewer, train = two_images
    train.control("Time budget").value = 600
    train.control("Max steps").value = 0
    job = train.start_training()
    qtbot.waitUntil(lambda: len(train._plot.losses) >= 2, timeout=120_000)
    before = sampler_spy[-1][1]
    small = viewer.layers["strokes small"]
    small.brush_size = 9
    small.paint((80, 100), 2)  # on the second image, as a user's brush does
    qtbot.waitUntil(lambda: bool(train.strokes_joined), timeout=30_000)  # a generous wait
    qtbot.waitUntil(lambda: sampler_spy[-1][1] > before, timeout=30_000)
    train.stop()
    wait_for(job)
    joined = train.strokes_joined[0]
    assert joined.added > 0
    print(f"stroke -> first step learning from it: {joined.latency:.2f} s (step {joined.step})")


def test_a_retraining_on_one_image_keeps_learning_from_the_other_images(
    two_images, sampler_spy, wait_for
):
    viewer, train = two_images
    train.control("Time budget").value = 600
    train.control("Max steps").value = 10
    wait_for(train.start_training())
    wait_for(train.projects.saving)
    sampler_spy.clear()
    train.control("Learn from").value = [viewer.layers["strokes"]]
    wait_for(train.start_retraining())
    drawn = set().union(*(images for images, _ in sampler_spy))
    assert drawn == {0, 1}  # the corrections of "em" and the strokes of "em small"
