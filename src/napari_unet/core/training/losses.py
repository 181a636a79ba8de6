"""Cross entropy plus soft Dice, both restricted to painted pixels."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.labels import IGNORE


def soft_dice_loss(logits: torch.Tensor, targets: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - mean soft Dice over the classes present among the painted pixels.

    Shape:
        - logits: ``(B, K, *S)``
        - targets: ``(B, *S)`` int64, class index or -1 (ignored)
    """
    k = logits.shape[1]
    valid = targets != IGNORE
    if not valid.any():
        return logits.sum() * 0.0
    probs = logits.float().softmax(1).movedim(1, -1)[valid]  # (N, K)
    onehot = F.one_hot(targets[valid], k).float()  # (N, K)
    inter = (probs * onehot).sum(0)
    denom = probs.sum(0) + onehot.sum(0)
    present = onehot.sum(0) > 0
    dice = (2 * inter + eps) / (denom + eps)
    return 1.0 - dice[present].mean()


def segmentation_loss(
    logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Class-weighted cross entropy + soft Dice over painted pixels (shapes as above)."""
    valid = targets != IGNORE
    if not valid.any():
        return logits.sum() * 0.0
    ce = F.cross_entropy(logits.float(), targets, weight=class_weights, ignore_index=IGNORE)
    return ce + soft_dice_loss(logits, targets)


def confusion_counts(pred: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    """``(K, K)`` counts, rows = true class, columns = predicted, over non-ignored pixels."""
    valid = targets != IGNORE
    idx = targets[valid] * k + pred[valid]
    return torch.bincount(idx, minlength=k * k).reshape(k, k)


def dice_from_confusion(conf: torch.Tensor) -> list[float | None]:
    """Per-class Dice 2TP / (2TP + FP + FN); None for a class with no true pixels
    (its Dice would only say whether it was wrongly predicted, which the Dice of the
    other classes already counts)."""
    tp = conf.diag().double()
    fp = conf.sum(0).double() - tp
    truth = conf.sum(1).double()
    fn = truth - tp
    return [
        None if n == 0 else float(2 * t / (2 * t + p + f)) for t, p, f, n in zip(tp, fp, fn, truth)
    ]
