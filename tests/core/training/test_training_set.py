"""Training sets of several images of different sizes: patches drawn from each image in
proportion to its painted pixels per class, validation Dice per image, strokes added
while a run goes (:mod:`napari_unet.core.training.live_labels`)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core import Trainer, TrainingConfig, run_to_completion
from napari_unet.core.data.labels import IGNORE
from napari_unet.core.training.live_labels import LiveLabels, apply_edits
from napari_unet.core.training.trainer import StrokesJoined
from napari_unet.core.training.training_data import PatchSampler

FAST = dict(max_time=None, device="cpu", batch_size=2, patch_size=(64, 64), seed=0)


@pytest.fixture
def two_sizes(isbi_crops, isbi_strokes):
    """A 192x192 crop with its strokes and a 120x160 crop of another slice with strokes
    on a third of its rows only (fewer painted pixels)."""
    (big, _), (small, _) = isbi_crops[0], isbi_crops[1]
    small_strokes = isbi_strokes[1][:120, :160].copy()
    small_strokes[40:] = 0
    return [big, small[:120, :160]], [isbi_strokes[0], small_strokes]


def test_patches_come_from_each_image_in_proportion_to_its_painted_pixels_per_class(two_sizes):
    images, strokes = two_sizes
    trainer = Trainer(images, strokes, config=TrainingConfig(max_steps=1, **FAST))
    per_image = trainer.data.image_class_pixels()  # (images, classes)
    assert per_image[1].sum() > 0 and per_image[1].sum() < per_image[0].sum()
    sampler = PatchSampler(trainer.data, np.random.default_rng(0))
    drawn = np.zeros(2)
    for _ in range(400):
        sampler.sample(4)
        for u in sampler.drawn_units:
            drawn[trainer.data.unit_image(u)] += 1
    # classes are drawn uniformly, then a pixel of the class from any image
    share = per_image / per_image.sum(0, keepdims=True)
    expected = share.mean(1)
    assert np.allclose(drawn / drawn.sum(), expected, atol=0.04), (drawn, expected)


def test_validation_dice_is_reported_per_image_and_overall(two_sizes):
    images, strokes = two_sizes
    result = run_to_completion(
        Trainer(images, strokes, config=TrainingConfig(max_steps=4, **FAST)).run()
    )
    last = result.validations[-1]
    assert len(last.per_image) == 2 and last.mean_dice is not None
    assert "per image: 1: " in last.summary()
    assert "per image: 1: " in result.model.describe()


def test_one_image_has_no_per_image_dice(isbi_crops, isbi_strokes):
    result = run_to_completion(
        Trainer(
            [isbi_crops[0][0]], [isbi_strokes[0]], config=TrainingConfig(max_steps=2, **FAST)
        ).run()
    )
    assert result.validations[-1].per_image == ()
    assert "per image" not in result.model.describe()


def test_strokes_posted_during_a_run_join_the_next_step(two_sizes):
    images, strokes = two_sizes
    live = LiveLabels()
    trainer = Trainer(images, strokes, config=TrainingConfig(max_steps=6, **FAST), live=live)
    before = int(trainer.data.class_pixels.sum())
    region = (slice(80, 100), slice(20, 40))  # rows of the small image that had no strokes
    painted = np.full((20, 20), 2, np.uint8)
    joined, posted = [], False
    for event in trainer.run():  # posted after the first event, as a painting user would
        if isinstance(event, StrokesJoined):
            joined.append(event)
        elif not posted:
            live.post(1, region, painted)
            posted = True
    assert len(joined) == 1 and joined[0].added == 400 and joined[0].latency >= 0
    assert int(trainer.data.class_pixels.sum()) == before + 400


def test_erasing_removes_training_pixels_and_new_slices_become_units(isbi_crops, isbi_strokes):
    stack = np.stack([isbi_crops[0][0], isbi_crops[1][0]])  # 2 slices, strokes on the first
    labels = np.stack([isbi_strokes[0], np.zeros_like(isbi_strokes[0])])
    trainer = Trainer([stack], [labels], config=TrainingConfig(max_steps=1, **FAST))
    data, encoder = trainer.data, trainer.encoder
    assert data.keys == [(0, (0,))]
    live = LiveLabels()
    live.post(0, (slice(1, 2), slice(0, 10), slice(0, 10)), np.ones((1, 10, 10), np.uint8))
    applied = apply_edits(data, live.take(), encoder, 2)
    assert applied is not None and applied.added == 100
    assert data.keys == [(0, (0,)), (0, (1,))]
    painted_rows = np.nonzero((isbi_strokes[0] > 0).any(1))[0]
    row = int(painted_rows[0])
    live.post(0, (slice(0, 1), slice(row, row + 1), slice(None)), np.zeros((1, 1, 192), np.uint8))
    applied = apply_edits(data, live.take(), encoder, 2)
    assert applied is not None and applied.removed > 0
    assert (data.units[0].targets[row] == IGNORE).all()
    assert (data.units[0].validation[row] == IGNORE).all()
