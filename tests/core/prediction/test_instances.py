"""Instances from the network's output: touching objects split, single objects whole.

Real shapes come from the ``nuclei2d`` ground truth (125 nuclei, many touching); the
synthetic pairs check the split rule itself (relative neck width, scale-free)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.metrics import instance_f1
from napari_unet.core.prediction.instances import instance_labels
from napari_unet.core.training.trainer import MIN_RELIABLE_PIXELS, ValidationScores
from tests.conftest import require_shared_data


def _discs(shape, centres_radii) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, bool)
    for (cy, cx), r in centres_radii:
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
    return mask


def _count(classes: np.ndarray, **kw) -> int:
    return len(np.unique(instance_labels(classes, **kw))) - 1


@pytest.mark.parametrize("scale", [1, 4])
def test_touching_pair_is_split_at_any_scale(scale):
    pair = _discs(
        (60 * scale, 100 * scale),
        [((30 * scale, 30 * scale), 20 * scale), ((30 * scale, 64 * scale), 16 * scale)],
    )
    classes = np.where(pair, 2, 1).astype(np.uint8)
    assert _count(classes, split_touching=False) == 1
    assert _count(classes) == 2
    assert _count(classes, split_strength=0.0) == 1  # 0 = never split


@pytest.mark.parametrize("scale", [1, 4])
def test_single_elongated_or_irregular_object_stays_whole(scale):
    yy, xx = np.mgrid[: 80 * scale, : 160 * scale]
    ellipse = ((yy - 40 * scale) / (14 * scale)) ** 2 + ((xx - 80 * scale) / (60 * scale)) ** 2 < 1
    bumpy = ellipse | _discs(ellipse.shape, [((28 * scale, 60 * scale), 8 * scale)])
    for shape in (ellipse, bumpy):
        assert _count(np.where(shape, 2, 1).astype(np.uint8)) == 1


def test_the_old_distance_split_cuts_a_large_elongated_object():
    """The reason for the relative rule: an absolute depth in pixels over-splits big objects."""
    yy, xx = np.mgrid[:320, :640]
    bumpy = (((yy - 160) / 56) ** 2 + ((xx - 320) / 240) ** 2 < 1) | _discs(
        (320, 640), [((100, 240), 32), ((220, 420), 32)]
    )  # two bulges, wide necks
    classes = np.where(bumpy, 2, 1).astype(np.uint8)
    assert _count(classes, method="distance") > 1
    assert _count(classes) == 1


def test_a_dim_gap_in_the_probabilities_splits_a_blob_the_mask_cannot():
    blob = _discs((60, 100), [((30, 45), 22), ((30, 55), 22)])  # wide neck: one blob by shape
    classes = np.where(blob, 2, 1).astype(np.uint8)
    assert _count(classes) == 1
    object_p = np.where(blob, 0.95, 0.05).astype(np.float32)
    object_p[:, 47:53] = np.where(blob[:, 47:53], 0.55, 0.05)  # the network saw a dim seam
    probabilities = np.stack([1 - object_p, object_p])
    assert _count(classes, probabilities=probabilities) == 2


def test_nuclei2d_truth_mask_is_split_into_its_nuclei():
    from skimage.io import imread

    # the whole image: the 128x128 crop in tests/data has too few touching nuclei
    truth = np.asarray(imread(require_shared_data("nuclei2d/mask2d.tif")))
    classes = np.where(truth > 0, 2, 1).astype(np.uint8)
    merged = instance_f1(instance_labels(classes, split_touching=False), truth)["f1"]
    split = instance_f1(instance_labels(classes), truth)["f1"]
    old = instance_f1(instance_labels(classes, method="distance"), truth)["f1"]
    assert split > 0.9 and split > merged + 0.05 and split > old


def test_min_size_drops_small_objects():
    specks = _discs((60, 100), [((10, 10), 2), ((40, 60), 10)])
    classes = np.where(specks, 2, 1).astype(np.uint8)
    assert _count(classes, min_size=0) == 2
    assert _count(classes, min_size=50) == 1


def test_validation_from_few_pixels_is_marked_unreliable():
    few = ValidationScores(25, (1.0, 1.0), 1.0, 3.0, True, (40, 30))
    many = ValidationScores(25, (0.9, 0.8), 0.85, 3.0, True, (2000, MIN_RELIABLE_PIXELS))
    assert not few.reliable and "unreliable" in few.summary() and "70 held-out" in few.summary()
    assert many.reliable and "unreliable" not in many.summary()
