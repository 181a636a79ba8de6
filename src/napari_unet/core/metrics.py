"""Segmentation scores: Dice and IoU per class, F1 of instance matching."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def dice_iou_per_class(pred: np.ndarray, truth: np.ndarray,
                       classes: list[int] | None = None) -> dict[int, dict[str, float]]:
    """``{class: {"dice", "iou"}}`` for each class value present in either array."""
    if pred.shape != truth.shape:
        raise ValueError(f"Prediction shape {pred.shape} differs from truth shape {truth.shape}.")
    if classes is None:
        classes = sorted(set(np.unique(pred).tolist()) | set(np.unique(truth).tolist()))
    scores = {}
    for c in classes:
        p, t = pred == c, truth == c
        inter = int(np.logical_and(p, t).sum())
        total = int(p.sum()) + int(t.sum())
        union = total - inter
        scores[int(c)] = {
            "dice": 1.0 if total == 0 else 2 * inter / total,
            "iou": 1.0 if union == 0 else inter / union,
        }
    return scores


def dense_to_classes(truth: np.ndarray) -> np.ndarray:
    """Map dense truth values (e.g. 0/255) to classes 1..K by sorted value."""
    values = np.unique(truth)
    return (np.searchsorted(values, truth) + 1).astype(np.uint16)


def truth_classes(truth: np.ndarray) -> np.ndarray:
    """Truth as class values 1..K: a dense mask containing 0 (e.g. 0/255) maps its sorted
    values to 1..K (:func:`dense_to_classes`); anything else is taken as class values."""
    return dense_to_classes(truth) if (truth == 0).any() else truth


def instance_f1(pred: np.ndarray, truth: np.ndarray, iou_threshold: float = 0.5) -> dict[str, float]:
    """F1, precision and recall of one-to-one instance matching at IoU >= ``iou_threshold``.

    0 is background in both arrays; ids need not be contiguous.
    """
    if pred.shape != truth.shape:
        raise ValueError(f"Prediction shape {pred.shape} differs from truth shape {truth.shape}.")
    p_ids, p_inv = np.unique(pred, return_inverse=True)
    t_ids, t_inv = np.unique(truth, return_inverse=True)
    overlap = np.zeros((p_ids.size, t_ids.size), np.int64)
    np.add.at(overlap, (p_inv.ravel(), t_inv.ravel()), 1)
    p_fg, t_fg = p_ids != 0, t_ids != 0
    overlap = overlap[np.ix_(p_fg, t_fg)]
    p_area = np.bincount(p_inv.ravel())[p_fg][:, None]
    t_area = np.bincount(t_inv.ravel())[t_fg][None, :]
    iou = overlap / np.maximum(p_area + t_area - overlap, 1)
    n_pred, n_true = int(p_fg.sum()), int(t_fg.sum())
    if n_pred and n_true:
        rows, cols = linear_sum_assignment(-iou)
        tp = int((iou[rows, cols] >= iou_threshold).sum())
    else:
        tp = 0
    precision = tp / n_pred if n_pred else float(n_true == 0)
    recall = tp / n_true if n_true else float(n_pred == 0)
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {"f1": f1, "precision": precision, "recall": recall, "true_positives": tp,
            "predicted": n_pred, "true": n_true}
