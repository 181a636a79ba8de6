"""Shared by the robustness tests: a held-out ISBI crop and helpers around the curves."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core import run_to_completion
from napari_unet.core.robustness import perturbation_curve
from tests.conftest import isbi_slice


@pytest.fixture(scope="module")
def held_out():
    """A 128x128 crop of ISBI slice 6 (not trained on) and its classes."""
    image, classes = isbi_slice(6, crop=128)
    return image, classes


def curve_of(model, image, kind, levels, **kwargs):
    """The perturbation curve of one image."""
    return run_to_completion(perturbation_curve(model, [image], kind, levels, **kwargs))


def clean_prediction(model, image):
    from napari_unet.core import predict

    return run_to_completion(predict(model, image)).labels


def normalized(model, image):
    """The image in the model's normalized units, its low and span."""
    low, high = model.normalization.statistics(image[None])
    return (image.astype(np.float64) - low[0]) / (high[0] - low[0]), low[0], high[0] - low[0]
