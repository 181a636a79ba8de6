"""The loss learns only from painted pixels: unpainted pixels change nothing, a perfect
prediction has a small loss and a wrong one a large one; the Dice per class from the
confusion counts is None for a class with no true pixels."""

from __future__ import annotations

import torch

from napari_unet.core.data.labels import IGNORE
from napari_unet.core.training.losses import (
    confusion_counts,
    dice_from_confusion,
    segmentation_loss,
)


def _logits(classes: torch.Tensor, k: int = 2, margin: float = 10.0) -> torch.Tensor:
    """``(1, K, H, W)`` logits that predict ``classes`` (``(H, W)``, 0..K-1) confidently."""
    return (torch.nn.functional.one_hot(classes, k).movedim(-1, 0)[None].float() - 0.5) * margin


def test_unpainted_pixels_do_not_change_the_loss():
    truth = torch.tensor([[0, 1], [1, 0]])
    targets = torch.full((1, 2, 2), IGNORE)
    targets[0, 0, 0], targets[0, 1, 1] = 0, 0
    logits = _logits(truth)
    other = logits.clone()
    other[:, :, 0, 1] = -other[:, :, 0, 1]  # an unpainted pixel predicted differently
    assert torch.isclose(segmentation_loss(logits, targets), segmentation_loss(other, targets))


def test_a_right_prediction_costs_less_than_a_wrong_one():
    truth = torch.tensor([[0, 1], [1, 0]])
    right = segmentation_loss(_logits(truth), truth[None])
    wrong = segmentation_loss(_logits(1 - truth), truth[None])
    assert right < 0.05 < 1.0 < wrong
    assert segmentation_loss(_logits(truth), torch.full((1, 2, 2), IGNORE)) == 0


def test_dice_per_class_from_confusion_counts():
    pred = torch.tensor([0, 0, 1, 1, 0])
    targets = torch.tensor([0, 0, 1, 0, IGNORE])
    conf = confusion_counts(pred, targets, 3)
    assert conf.tolist() == [[2, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert dice_from_confusion(conf) == [0.8, 2 / 3, None]
