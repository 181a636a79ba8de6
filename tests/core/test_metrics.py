"""Split and merge errors of instances: scikit-image's numbers, the right way round."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import adapted_rand_error, variation_of_information

from napari_unet.core.metrics import pooled_instances, split_merge_scores
from tests.conftest import data_root


def two_halves() -> np.ndarray:
    truth = np.zeros((10, 20), np.uint16)
    truth[:, :10], truth[:, 10:] = 1, 2
    return truth


def test_a_perfect_segmentation_has_no_split_and_no_merge_error():
    scores = split_merge_scores(two_halves() * 7, two_halves())  # other ids, same cells
    assert scores["adapted_rand_error"] == pytest.approx(0.0)
    assert scores["vi_split"] == pytest.approx(0.0) and scores["vi_merge"] == pytest.approx(0.0)


def test_an_over_segmentation_raises_the_split_error_not_the_merge_error():
    truth = two_halves()
    pred = truth.copy()
    pred[:5, :10] = 3  # one true cell cut in two halves
    scores = split_merge_scores(pred, truth)
    assert scores["vi_split"] == pytest.approx(0.5)  # half the pixels, 1 bit each
    assert scores["vi_merge"] == pytest.approx(0.0)
    assert scores["rand_precision"] < 1.0 and scores["rand_recall"] == pytest.approx(1.0)


def test_an_under_segmentation_raises_the_merge_error_not_the_split_error():
    truth = two_halves()
    scores = split_merge_scores(np.ones_like(truth), truth)  # the two cells as one
    assert scores["vi_merge"] == pytest.approx(1.0)
    assert scores["vi_split"] == pytest.approx(0.0)
    assert scores["rand_recall"] < 1.0 and scores["rand_precision"] == pytest.approx(1.0)


def test_scores_equal_scikit_image_on_real_cells_in_2d_and_3d():
    from skimage.io import imread

    truth = np.asarray(imread(data_root() / "plant3d" / "label.tif"))
    pred = np.roll(truth, 3, axis=2)  # shifted: some splits and merges at every edge
    for t, p in ((truth, pred), (truth[len(truth) // 2], pred[len(pred) // 2])):
        scores = split_merge_scores(p, t)
        error, precision, recall = adapted_rand_error(t, p, ignore_labels=(0,))
        split, merge = variation_of_information(t, p, ignore_labels=(0,))
        assert scores["adapted_rand_error"] == pytest.approx(error)
        assert scores["rand_precision"] == pytest.approx(precision)
        assert scores["rand_recall"] == pytest.approx(recall)
        assert (scores["vi_split"], scores["vi_merge"]) == pytest.approx((split, merge))
        assert 0 < scores["adapted_rand_error"] < 1


def test_huge_ids_are_scored_as_small_ones():
    truth = two_halves()
    big = np.where(truth == 2, 4_000_000_000, truth).astype(np.uint32)
    assert split_merge_scores(big, truth)["vi"] == pytest.approx(0.0)


def test_background_of_the_truth_is_ignored():
    truth = two_halves()
    truth[:, 9:11] = 0  # a membrane between the cells, unlabelled in the truth
    pred = two_halves()
    pred[:, 9:11] = 5  # the prediction gives the membrane to a third cell: not counted
    assert split_merge_scores(pred, truth)["adapted_rand_error"] == pytest.approx(0.0)


def test_pooled_images_keep_their_cells_apart():
    truth = two_halves()
    pred, pooled_truth = pooled_instances([(truth, truth), (truth, truth)])
    assert np.unique(pooled_truth).size == 4 and np.unique(pred).size == 4
    assert split_merge_scores(pred, pooled_truth)["vi"] == pytest.approx(0.0)


def test_a_truth_without_instances_is_refused():
    with pytest.raises(ValueError, match="no instances"):
        split_merge_scores(two_halves(), np.zeros((10, 20), np.uint8))
