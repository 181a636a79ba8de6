"""Scoring (core/robustness/scoring.py): Dice of perturbed predictions against the right
references, the rows' attack columns, and the checks of the images and truths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_unet.core.attacks import AttackMetrics
from napari_unet.core.errors import UserInputError
from napari_unet.core.robustness.perturbations import NATURAL, NEUTRAL
from napari_unet.core.robustness.scoring import (
    attack_columns,
    mean_dice,
    prepare_images,
)

from .conftest import clean_prediction, curve_of


@pytest.mark.parametrize("kind", NATURAL + ("pgd",))
def test_neutral_level_gives_dice_1_against_theclean_prediction(trained, held_out, kind):
    image, classes = held_out
    curve = curve_of(trained.model, image, kind, [NEUTRAL[kind]], truths=[classes], attack_steps=2)
    clean = clean_prediction(trained.model, image)
    assert curve.rows[0]["dice_vs_clean"] == 1.0
    assert curve.rows[0]["dice_vs_truth"] == pytest.approx(
        mean_dice(clean, classes, np.ones(classes.shape, bool))
    )


def test_rotation_compares_with_the_clean_prediction_rotated_the_same_way(trained, held_out):
    image, _ = held_out
    curve = curve_of(trained.model, image, "rotation", [90.0], keep_example=True)
    clean = clean_prediction(trained.model, image)
    unrotated = mean_dice(curve.example_prediction, clean, np.ones(clean.shape, bool))
    assert curve.rows[0]["dice_vs_clean"] > 0.85
    assert curve.rows[0]["dice_vs_clean"] > unrotated + 0.2


def test_mean_dice_averages_the_classes_present_over_valid_pixels():
    pred = np.array([[1, 1, 2, 2]])
    reference = np.array([[1, 2, 2, 2]])
    valid = np.array([[True, True, True, False]])
    # over the 3 valid pixels: class 1 Dice 2/3, class 2 Dice 2/3
    assert mean_dice(pred, reference, valid) == pytest.approx(2 / 3)
    assert math.isnan(mean_dice(pred, reference, np.zeros_like(valid)))


def _metrics(fraction, linf, l2, snr, below):
    return AttackMetrics(
        1.0,
        0.5,
        1.0,
        0.4,
        fraction,
        linf,
        l2,
        0.0,
        0.0,
        snr,
        0.01,
        (1.0,),
        10,
        {},
        below_quantization=below,
    )


def test_attack_columns_average_over_images_and_keep_the_largest_linf():
    columns = attack_columns(
        [_metrics(0.1, 0.02, 1.0, 30.0, False), _metrics(0.3, 0.03, 3.0, 20.0, True)]
    )
    assert columns == {
        "fraction_changed": pytest.approx(0.2),
        "linf": 0.03,
        "l2": pytest.approx(2.0),
        "snr_db": pytest.approx(25.0),
        "below_quantization": True,
    }


def test_attack_rows_of_the_perturbation_curve_carry_the_attack_columns(trained, held_out):
    image, _ = held_out
    curve = curve_of(trained.model, image, "fgsm", [8 / 255])
    row = curve.rows[0]
    assert 0 < row["fraction_changed"] <= 1 and 0 < row["linf"] <= 8 / 255 + 1e-6
    assert row["below_quantization"] is False  # a float image has no grey level


def test_images_and_truths_are_checked_against_the_model(trained, held_out):
    image, classes = held_out
    with pytest.raises(UserInputError, match="one truth per image"):
        prepare_images(trained.model, [image, image], [classes], None, False)
    with pytest.raises(UserInputError, match="Truth 1 has shape"):
        prepare_images(trained.model, [image], [classes[:10]], None, False)
    with pytest.raises(UserInputError, match="expects 1 channel"):
        prepare_images(trained.model, [np.stack([image, image])], None, 0, False)
