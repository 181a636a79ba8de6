"""The perturbation kinds (core/robustness/perturbations.py): each level means what its
unit says, seen through a curve's example image on real ISBI data, and bad levels are
refused with a clear message."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_unet.core.errors import UserInputError
from napari_unet.core.robustness.perturbations import NATURAL, NEUTRAL, check_levels, perturb

from .conftest import curve_of, normalized


def test_noise_level_is_the_standard_deviation_in_normalized_units(trained, held_out):
    image, _ = held_out
    curve = curve_of(trained.model, image, "noise", [0.1], keep_example=True)
    x, _, span = normalized(trained.model, image)
    residual = (curve.example.astype(np.float64) - image) / span
    assert residual.std() == pytest.approx(0.1, rel=0.05)
    assert curve.rows[0]["dice_vs_clean"] < 1.0


def test_blur_level_is_sigma_in_pixels(trained, held_out):
    image, _ = held_out
    curve = curve_of(trained.model, image, "blur", [2.0], keep_example=True)
    expected = ndimage.gaussian_filter(image.astype(np.float64), 2.0, mode="reflect")
    assert np.abs(curve.example - expected).max() < 1e-3


def test_rotation_level_is_degrees_about_the_centre_with_mirrored_borders(trained, held_out):
    image, _ = held_out
    curve = curve_of(trained.model, image, "rotation", [12.0], keep_example=True)
    expected = ndimage.rotate(image.astype(np.float64), 12.0, reshape=False, order=1, mode="mirror")
    assert np.abs(curve.example - expected).max() < 1e-2


def test_scale_level_is_the_zoom_factor_about_the_centre(trained, held_out):
    image, _ = held_out
    curve = curve_of(trained.model, image, "scale", [2.0], keep_example=True)
    centre = image[32:96, 32:96].astype(np.float64)
    expected = ndimage.zoom(centre, 2.0, order=1, grid_mode=False)
    # the zoom maps the centre (63.5, 63.5) to itself: compare away from the borders
    assert np.abs(curve.example[8:120, 8:120] - expected[8:120, 8:120]).mean() < 3.0


def test_contrast_level_is_gamma_on_normalized_intensities(trained, held_out):
    image, _ = held_out
    curve = curve_of(trained.model, image, "contrast", [2.0], keep_example=True)
    x, low, span = normalized(trained.model, image)
    inside = (x > 0) & (x < 1)
    got = (curve.example.astype(np.float64) - low) / span
    assert np.allclose(got[inside], x[inside] ** 2, atol=1e-4)
    assert np.allclose(got[~inside], x[~inside], atol=1e-4)


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


@pytest.mark.parametrize("kind", NATURAL)
def test_neutral_level_returns_the_batch_itself(kind):
    x = torch.rand(1, 1, 16, 16)
    assert perturb(kind, x, NEUTRAL[kind]) is x or torch.equal(perturb(kind, x, NEUTRAL[kind]), x)


def test_attack_kinds_are_not_natural_perturbations():
    with pytest.raises(ValueError, match="not a natural perturbation"):
        perturb("pgd", torch.rand(1, 1, 8, 8), 0.1)
