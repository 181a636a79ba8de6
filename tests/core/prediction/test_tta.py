"""Test-time augmentation: probabilities averaged over flips, mapped back to the image."""

from __future__ import annotations

import numpy as np
import torch

from napari_unet.core import PredictionConfig, predict, run_to_completion
from napari_unet.core.prediction.tta import FlipAveraged, flip_sets


def test_2d_views_are_the_four_flips_and_3d_never_flips_z():
    assert sorted(flip_sets(2)) == [(), (2,), (2, 3), (3,)]
    assert sorted(flip_sets(3)) == [(), (3,), (3, 4), (4,)]


def test_flip_average_is_the_mean_of_the_mapped_back_probabilities():
    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 3, 5, padding=2)  # not flip-invariant: views differ
    x = torch.rand(2, 1, 16, 20)
    expected = torch.stack(
        [net(x.flip(a)).softmax(1).flip(a) if a else net(x).softmax(1) for a in flip_sets(2)]
    ).mean(0)
    with torch.no_grad():
        out = FlipAveraged(net, 2)(x)
        torch.testing.assert_close(out.softmax(1), expected.detach(), atol=1e-5, rtol=1e-4)
        assert not torch.allclose(expected, net(x).softmax(1), atol=1e-3)


def test_a_flip_invariant_network_gives_the_plain_prediction():
    net = torch.nn.Conv2d(1, 2, 1)  # pointwise: every view agrees
    x = torch.rand(1, 1, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(FlipAveraged(net, 2)(x).softmax(1), net(x).softmax(1))


def test_predict_with_tta_changes_some_pixels_and_keeps_labels_the_argmax(
    isbi_model, isbi_test_slice
):
    image, _ = isbi_test_slice
    plain = run_to_completion(
        predict(isbi_model, image, config=PredictionConfig(device="cpu", probabilities=True))
    )
    tta = run_to_completion(
        predict(
            isbi_model, image, config=PredictionConfig(device="cpu", probabilities=True, tta=True)
        )
    )
    np.testing.assert_allclose(tta.probabilities.sum(0), 1.0, atol=1e-4)
    np.testing.assert_array_equal(tta.labels, tta.probabilities.argmax(0) + 1)
    assert 0 < (tta.labels != plain.labels).mean() < 0.2
