"""Segmentation scores: Dice and IoU per class, F1 of instance matching, split/merge errors."""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching


def dice_iou_per_class(
    pred: np.ndarray, truth: np.ndarray, classes: list[int] | None = None
) -> dict[int, dict[str, float]]:
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


BACKGROUND, FOREGROUND = 1, 2  # the classes a foreground comparison reports


def classes_foreground(classes: np.ndarray) -> np.ndarray:
    """Class labels (1 = background, 2..K = object classes; a dense mask containing 0 is
    mapped by :func:`truth_classes` first) as 1 = background, 2 = any object class."""
    classes = truth_classes(classes)
    return np.where(classes >= FOREGROUND, FOREGROUND, BACKGROUND).astype(np.uint8)


def instances_foreground(instances: np.ndarray) -> np.ndarray:
    """An instance mask (0 = background, one id per object) as 1 = background, 2 = object."""
    return np.where(instances > 0, FOREGROUND, BACKGROUND).astype(np.uint8)


def instance_mask_objects(truth: np.ndarray, pred_classes: int) -> int | None:
    """The number of objects when ``truth`` looks like an instance mask rather than the
    classes of a prediction with ``pred_classes`` classes, else None.

    An instance mask has background 0, more ids than the prediction has classes (at least
    3), and about one connected region per id, whereas a class occurs in many regions."""
    from scipy import ndimage as ndi

    if not (truth == 0).any():
        return None
    ids = np.unique(truth)
    objects = int(ids.size - 1)
    if objects < 3 or objects <= pred_classes:
        return None
    _regions, count = ndi.label(truth > 0)
    return objects if count <= 2 * objects else None


def instance_overlaps(
    pred: np.ndarray, truth: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """IoU of every (predicted, true) instance pair that actually overlaps.

    Returns ``(pred_index, true_index, iou, n_pred, n_true)``: indices into the sorted
    non-zero ids of each array, one entry per overlapping pair. Memory grows with the
    pixels and the overlapping pairs, never with ``n_pred * n_true`` (a joint histogram
    of combined ids through ``np.unique``, not a dense overlap matrix).
    """
    p_ids, p_inv = np.unique(pred.ravel(), return_inverse=True)
    t_ids, t_inv = np.unique(truth.ravel(), return_inverse=True)
    p_inv, t_inv = p_inv.ravel().astype(np.int64), t_inv.ravel().astype(np.int64)
    p_area, t_area = np.bincount(p_inv), np.bincount(t_inv)
    p_zero = int(np.searchsorted(p_ids, 0)) if p_ids.size and p_ids[0] == 0 else -1
    t_zero = int(np.searchsorted(t_ids, 0)) if t_ids.size and t_ids[0] == 0 else -1
    both = (p_inv != p_zero) & (t_inv != t_zero)
    pairs, inter = np.unique(p_inv[both] * t_ids.size + t_inv[both], return_counts=True)
    pi, ti = np.divmod(pairs, t_ids.size)
    iou = inter / (p_area[pi] + t_area[ti] - inter)
    # renumber to foreground-only indices (drop the background id 0 when present)
    pi, ti = pi - (p_zero == 0), ti - (t_zero == 0)
    return pi, ti, iou, int(p_ids.size - (p_zero == 0)), int(t_ids.size - (t_zero == 0))


def instance_f1(
    pred: np.ndarray, truth: np.ndarray, iou_threshold: float = 0.5
) -> dict[str, float]:
    """F1, precision and recall of one-to-one instance matching at IoU >= ``iou_threshold``.

    0 is background in both arrays; ids need not be contiguous. True positives are the
    largest one-to-one matching among pairs with IoU >= the threshold (for thresholds
    above 0.5 each instance has at most one such partner).
    """
    if pred.shape != truth.shape:
        raise ValueError(f"Prediction shape {pred.shape} differs from truth shape {truth.shape}.")
    pi, ti, iou, n_pred, n_true = instance_overlaps(pred, truth)
    keep = iou >= iou_threshold
    tp = 0
    if keep.any():
        graph = csr_matrix((np.ones(int(keep.sum())), (pi[keep], ti[keep])), shape=(n_pred, n_true))
        tp = int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())
    precision = tp / n_pred if n_pred else float(n_true == 0)
    recall = tp / n_true if n_true else float(n_pred == 0)
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "true_positives": tp,
        "predicted": n_pred,
        "true": n_true,
    }


def split_merge_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Scores that count false splits and false merges of instances (CREMI / ISBI 2012).

    pred, truth: instance ids ``(*S)`` (2D or 3D, any integer type; 0 = background).
    Pixels where ``truth`` is 0 are ignored (unlabelled, e.g. membranes), as CREMI does.

    * ``adapted_rand_error`` (scikit-image's ``adapted_rand_error``): 1 - the F-score of
      scikit-image's Rand precision and recall; 0 is perfect. In its convention (pairs
      of pixels together in both, over pairs together in the truth / in the prediction)
      ``rand_precision`` drops with false splits, ``rand_recall`` with false merges.
    * ``vi_split`` = H(pred | truth), over-segmentation, and ``vi_merge`` = H(truth |
      pred), under-segmentation, in bits (scikit-image's ``variation_of_information``
      of ``(truth, pred)`` returns them in that order); ``vi`` is their sum; 0 is perfect.
    """
    from skimage.metrics import adapted_rand_error, variation_of_information

    if pred.shape != truth.shape:
        raise ValueError(f"Prediction shape {pred.shape} differs from truth shape {truth.shape}.")
    pred, truth = _nonnegative_ids(pred), _nonnegative_ids(truth)
    if not truth.any():
        raise ValueError("The truth has no instances (all 0): nothing to compare.")
    error, precision, recall = adapted_rand_error(truth, pred, ignore_labels=(0,))
    split, merge = variation_of_information(truth, pred, ignore_labels=(0,))
    return {
        "adapted_rand_error": float(error),
        "rand_precision": float(precision),
        "rand_recall": float(recall),
        "vi_split": float(split),
        "vi_merge": float(merge),
        "vi": float(split + merge),
    }


def _nonnegative_ids(labels: np.ndarray) -> np.ndarray:
    """Integer ids ``(*S)`` renumbered 0..n in order, 0 kept as 0 (int64): scikit-image's
    contingency table sizes itself by the largest id, which may be huge."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iub":
        raise ValueError(f"Instance ids must be integers, got dtype {labels.dtype}.")
    ids, compact = np.unique(labels, return_inverse=True)
    if ids.size and ids[0] < 0:
        raise ValueError("Instance ids must not be negative.")
    compact = compact.reshape(labels.shape).astype(np.int64, copy=False)
    return compact if ids.size and ids[0] == 0 else compact + 1


def pooled_instances(pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Several (pred, truth) instance images as one flat pair ``(N,)`` int64 whose ids do
    not collide between images, so :func:`split_merge_scores` scores them together."""
    preds, truths = [], []
    pred_offset = truth_offset = 0
    for pred, truth in pairs:
        pred, truth = _nonnegative_ids(pred).ravel(), _nonnegative_ids(truth).ravel()
        preds.append(np.where(pred > 0, pred + pred_offset, 0))
        truths.append(np.where(truth > 0, truth + truth_offset, 0))
        pred_offset += int(pred.max(initial=0))
        truth_offset += int(truth.max(initial=0))
    return np.concatenate(preds), np.concatenate(truths)
