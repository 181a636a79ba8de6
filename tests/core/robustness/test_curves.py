"""Robustness curves (core/robustness/curves.py) on a model trained on real ISBI strokes."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy import ndimage

from napari_unet.core import StopFlag, run_to_completion
from napari_unet.core.errors import UserInputError
from napari_unet.core.robustness.curves import (
    NATURAL,
    NEUTRAL,
    check_levels,
    mean_dice,
    perturbation_curve,
)
from tests.conftest import isbi_slice


@pytest.fixture(scope="module")
def held_out():
    """A 128x128 crop of ISBI slice 6 (not trained on) and its classes."""
    image, classes = isbi_slice(6, crop=128)
    return image, classes


def _curve(model, image, kind, levels, **kwargs):
    return run_to_completion(perturbation_curve(model, [image], kind, levels, **kwargs))


def _clean_prediction(model, image):
    from napari_unet.core import predict

    return run_to_completion(predict(model, image)).labels


def _normalized(model, image):
    low, high = model.normalization.statistics(image[None])
    return (image.astype(np.float64) - low[0]) / (high[0] - low[0]), low[0], high[0] - low[0]


@pytest.mark.parametrize("kind", NATURAL + ("pgd",))
def test_neutral_level_gives_dice_1_against_the_clean_prediction(trained, held_out, kind):
    image, classes = held_out
    curve = _curve(trained.model, image, kind, [NEUTRAL[kind]], truths=[classes], attack_steps=2)
    clean = _clean_prediction(trained.model, image)
    assert curve.rows[0]["dice_vs_clean"] == 1.0
    assert curve.rows[0]["dice_vs_truth"] == pytest.approx(
        mean_dice(clean, classes, np.ones(classes.shape, bool))
    )


def test_noise_level_is_the_standard_deviation_in_normalized_units(trained, held_out):
    image, _ = held_out
    curve = _curve(trained.model, image, "noise", [0.1], keep_example=True)
    x, _, span = _normalized(trained.model, image)
    residual = (curve.example.astype(np.float64) - image) / span
    assert residual.std() == pytest.approx(0.1, rel=0.05)
    assert curve.rows[0]["dice_vs_clean"] < 1.0


def test_blur_level_is_sigma_in_pixels(trained, held_out):
    image, _ = held_out
    curve = _curve(trained.model, image, "blur", [2.0], keep_example=True)
    expected = ndimage.gaussian_filter(image.astype(np.float64), 2.0, mode="reflect")
    assert np.abs(curve.example - expected).max() < 1e-3


def test_rotation_level_is_degrees_about_the_centre_with_mirrored_borders(trained, held_out):
    image, _ = held_out
    curve = _curve(trained.model, image, "rotation", [12.0], keep_example=True)
    expected = ndimage.rotate(image.astype(np.float64), 12.0, reshape=False, order=1, mode="mirror")
    assert np.abs(curve.example - expected).max() < 1e-2


def test_scale_level_is_the_zoom_factor_about_the_centre(trained, held_out):
    image, _ = held_out
    curve = _curve(trained.model, image, "scale", [2.0], keep_example=True)
    centre = image[32:96, 32:96].astype(np.float64)
    expected = ndimage.zoom(centre, 2.0, order=1, grid_mode=False)
    # the zoom maps the centre (63.5, 63.5) to itself: compare away from the borders
    assert np.abs(curve.example[8:120, 8:120] - expected[8:120, 8:120]).mean() < 3.0


def test_contrast_level_is_gamma_on_normalized_intensities(trained, held_out):
    image, _ = held_out
    curve = _curve(trained.model, image, "contrast", [2.0], keep_example=True)
    x, low, span = _normalized(trained.model, image)
    inside = (x > 0) & (x < 1)
    got = (curve.example.astype(np.float64) - low) / span
    assert np.allclose(got[inside], x[inside] ** 2, atol=1e-4)
    assert np.allclose(got[~inside], x[~inside], atol=1e-4)


def test_rotation_compares_with_the_clean_prediction_rotated_the_same_way(trained, held_out):
    image, _ = held_out
    curve = _curve(trained.model, image, "rotation", [90.0], keep_example=True)
    clean = _clean_prediction(trained.model, image)
    unrotated = mean_dice(curve.example_prediction, clean, np.ones(clean.shape, bool))
    assert curve.rows[0]["dice_vs_clean"] > 0.85
    assert curve.rows[0]["dice_vs_clean"] > unrotated + 0.2


def test_stronger_levels_do_more_damage_and_rows_follow_the_levels(trained, held_out):
    image, classes = held_out
    curve = _curve(trained.model, image, "blur", [0.0, 1.0, 4.0], truths=[classes])
    assert curve.levels == [0.0, 1.0, 4.0]
    assert curve.dice[0] == 1.0 > curve.dice[1] > curve.dice[2]
    assert all("dice_vs_truth" in r for r in curve.rows)


def test_curve_is_written_as_csv_and_png(trained, held_out, tmp_path):
    image, _ = held_out
    curve = _curve(trained.model, image, "contrast", [1.0, 0.5])
    path = curve.to_csv(tmp_path / "c.csv")
    rows = list(csv.DictReader(open(path)))
    assert list(rows[0]) == ["perturbation", "level", "dice_vs_clean"]
    assert [float(r["level"]) for r in rows] == [1.0, 0.5]
    png = curve.plot(tmp_path / "c.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stop_ends_the_curve_early_and_marks_it_stopped(trained, held_out):
    image, _ = held_out
    stop = StopFlag()
    work = perturbation_curve(trained.model, [image, image], "noise", [0.0, 0.1], stop=stop)
    next(work)
    stop.request_stop()
    curve = run_to_completion(work)
    assert curve.stopped and len(curve.rows) < 2


@pytest.mark.parametrize(
    "kind,level,match",
    [
        ("noise", -0.1, ">= 0"),
        ("blur", -1.0, ">= 0"),
        ("scale", 0.0, "> 0"),
        ("contrast", 0.0, "> 0"),
        ("rotation", math.nan, "finite"),
        ("pgd", -0.01, "eps"),
        ("wobble", 1.0, "Unknown perturbation"),
    ],
)
def test_bad_levels_raise_a_user_input_error(kind, level, match):
    with pytest.raises(UserInputError, match=match):
        check_levels(kind, [0.0, level] if kind != "wobble" else [level])


def test_attack_levels_are_eps_in_normalized_units(trained, held_out):
    image, _ = held_out
    curve = _curve(trained.model, image, "pgd", [8 / 255], attack_steps=3, keep_example=True)
    _, _, span = _normalized(trained.model, image)
    linf = np.abs(curve.example.astype(np.float64) - image).max() / span
    assert linf == pytest.approx(8 / 255, rel=1e-3)
    assert curve.rows[0]["dice_vs_clean"] < 0.99
