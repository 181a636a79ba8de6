"""A retrained model is compared with the previous one on the same held-out pixels: a
model worse beyond the noise of those pixels is flagged, a better one (or one within the
noise) is not; the model line says how many pixels a validation rests on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unet.core import PRESETS, Trainer, TrainingConfig, UNetConfig, run_to_completion
from napari_unet.core.data.simulated_strokes import simulate_strokes
from napari_unet.core.reliability import MIN_RELIABLE_PIXELS, noise_margin
from napari_unet.core.training.held_out import (
    ModelComparison,
    compare_on_windows,
    held_out_windows,
    score_held_out,
)
from napari_unet.core.training.trainer import ValidationScores
from tests.conftest import isbi_slice


@pytest.fixture(scope="module")
def trained():
    """(image, strokes, model): the tiny preset, 40 steps on strokes of an ISBI crop."""
    image, truth = isbi_slice(0, crop=256)
    strokes = simulate_strokes(truth, seed=0).astype(np.uint8)
    trainer = Trainer(
        [image],
        [strokes],
        model_config=UNetConfig(**PRESETS["tiny"]),
        config=TrainingConfig(
            max_time=None, max_steps=40, seed=0, device="cpu", batch_size=2, patch_size=(64, 64)
        ),
    )
    return image, strokes, run_to_completion(trainer.run()).model


def _always_first_class(model):
    """A deliberately worse copy: the head's bias makes it predict class 1 everywhere."""
    worse = model.copy()
    with torch.no_grad():
        worse.network.head.bias[0] += 1000.0
    return worse


def _scores(mean: float, pixels: int) -> ValidationScores:
    return ValidationScores(0, (mean, mean), mean, 0.0, False, (pixels, pixels))


def test_a_worse_new_model_is_flagged_and_a_better_one_is_not(trained):
    image, strokes, good = trained
    worse = _always_first_class(good)
    windows = held_out_windows(good, [image], [strokes], [strokes > 0])
    rejected = compare_on_windows(good, worse, windows, device="cpu")
    assert rejected.new_is_worse
    assert rejected.previous.pixels == rejected.new.pixels  # the same held-out pixels
    assert sum(rejected.new.pixels) == np.count_nonzero(strokes)
    accepted = compare_on_windows(worse, good, windows, device="cpu")
    assert not accepted.new_is_worse
    assert accepted.new.mean_dice > accepted.previous.mean_dice


def test_score_held_out_counts_only_the_masked_pixels(trained):
    image, strokes, good = trained
    mask = np.zeros(strokes.shape, bool)
    mask[:, :128] = True
    scores = score_held_out(good, [image], [strokes], [mask], device="cpu")
    assert sum(scores.pixels) == np.count_nonzero(strokes[:, :128])


def test_a_new_model_within_the_noise_of_the_held_out_pixels_is_not_worse():
    few = 400  # noise 1 / sqrt(400) = 0.05
    assert noise_margin([few, few]) == pytest.approx(0.05)
    assert not ModelComparison(_scores(0.80, few), _scores(0.76, few)).new_is_worse
    assert ModelComparison(_scores(0.80, few), _scores(0.74, few)).new_is_worse
    many = 10_000  # noise floor 0.02
    assert not ModelComparison(_scores(0.80, many), _scores(0.785, many)).new_is_worse
    assert ModelComparison(_scores(0.80, many), _scores(0.77, many)).new_is_worse


def test_without_held_out_pixels_nothing_is_flagged():
    empty = ValidationScores(0, (None, None), None, 0.0, False, (0, 0))
    comparison = ModelComparison(_scores(0.9, 1000), empty)
    assert not comparison.comparable and not comparison.new_is_worse


def test_comparison_summary_gives_pixels_and_caveat():
    text = ModelComparison(_scores(0.956, 100), _scores(0.405, 100)).summary()
    assert "200 held-out pixels" in text and "0.405" in text and "0.956" in text
    assert f"under {MIN_RELIABLE_PIXELS} per class" in text


def test_model_line_gives_held_out_pixels_and_caveat(trained):
    _image, _strokes, model = trained
    last = model.rounds[-1]
    assert last["validation_pixels"], "the trainer records the pixels of its validation"
    line = model.describe()
    assert f"on {sum(last['validation_pixels']):,} held-out pixels" in line
    few = model.copy()
    few.summary["rounds"][-1].update(validation_dice=1.0, validation_pixels=[40, 12])
    assert "validation Dice 1.000 on 52 held-out pixels (too few to trust" in few.describe()
    many = model.copy()
    many.summary["rounds"][-1].update(validation_dice=0.9, validation_pixels=[900, 800])
    assert "too few" not in many.describe() and "1,700 held-out pixels" in many.describe()
