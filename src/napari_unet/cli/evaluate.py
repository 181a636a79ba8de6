"""``napari-unet evaluate``: Dice and IoU per class (and instance F1) as JSON."""

from __future__ import annotations

import argparse
import json

import numpy as np

from napari_unet.core.data.labels import MAX_CLASSES, integer_labels
from napari_unet.core.errors import UserInputError
from napari_unet.core.io.image_files import read_image
from napari_unet.core.metrics import (
    classes_foreground,
    dice_iou_per_class,
    instance_f1,
    instance_mask_objects,
    instances_foreground,
    pooled_instances,
    split_merge_scores,
    truth_classes,
)

from ._inputs import check_pairs
from ._validate import existing_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score predictions against ground truth (JSON)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument(
        "--pred",
        nargs="+",
        required=True,
        metavar="P",
        type=existing_file,
        help="predicted class labels (1..K), or instance labels with --instances",
    )
    p.add_argument(
        "--truth",
        nargs="+",
        required=True,
        metavar="T",
        type=existing_file,
        help="ground truth: classes 1..K, or a dense mask containing 0 (e.g. 0/255), "
        "whose sorted values become classes 1..K; instance ids with --instances",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--instances",
        action="store_true",
        help="the prediction and the truth hold instance ids: also report F1 of instance "
        "matching at IoU 0.5 and the split/merge errors (adapted Rand error; variation of "
        "information split = H(pred|truth) and merge = H(truth|pred), in bits), truth 0 "
        "ignored",
    )
    mode.add_argument(
        "--truth-instances",
        action="store_true",
        help="the truth is an instance mask (0 = background, one id per object) "
        "and the prediction holds classes: compare the predicted foreground "
        "(classes >= 2) with the objects' foreground; reports class 1 = "
        "background, 2 = foreground",
    )
    p.set_defaults(run=run)


def _check_class_count(labels: np.ndarray, path: str) -> None:
    count = np.unique(labels).size
    if count > MAX_CLASSES:
        raise UserInputError(
            f"{path} holds {count} different values, more than the "
            f"{MAX_CLASSES} classes a segmentation has; for instance labels "
            "use --instances, or --truth-instances for an instance truth "
            "and a class prediction."
        )


def _refuse_instance_truth(pred: np.ndarray, truth: np.ndarray, p_path: str, t_path: str) -> None:
    """A class prediction against what looks like an instance mask needs --truth-instances:
    class by class, object ids would be scored as classes (object 1 against class 1...)."""
    classes = int(np.unique(pred[pred > 0]).size)
    objects = instance_mask_objects(truth, classes)
    if objects is not None:
        raise UserInputError(
            f"{t_path} looks like an instance mask ({objects} objects, background 0) but "
            f"{p_path} holds {classes} classes: add --truth-instances to compare the predicted "
            "foreground (classes >= 2) with the objects' foreground, or --instances if "
            f"{p_path} holds instance labels too."
        )


def _compare(
    pred: np.ndarray, truth: np.ndarray, p_path: str, t_path: str, args: argparse.Namespace
) -> tuple[np.ndarray, np.ndarray]:
    """The two arrays as classes to score per class, for the chosen comparison."""
    if args.truth_instances:
        _check_class_count(pred, p_path)
        return classes_foreground(pred), instances_foreground(truth)
    _check_class_count(pred, p_path)
    _check_class_count(truth, t_path)
    _refuse_instance_truth(pred, truth, p_path, t_path)
    return pred, truth_classes(truth)


def _split_merge(pred: np.ndarray, truth: np.ndarray, t_path: str) -> dict[str, float]:
    """Split/merge scores of one image; a truth without instances is a user error."""
    if not truth.any():
        raise UserInputError(
            f"{t_path} holds no instances (all 0); --instances needs a truth with object ids."
        )
    return split_merge_scores(pred, truth)


def run(args: argparse.Namespace) -> int:
    check_pairs(args.pred, args.truth, "predictions", "truths")
    per_image = []
    totals: dict[int, list[int]] = {}
    matched = {"true_positives": 0, "predicted": 0, "true": 0}
    instance_pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for p_path, t_path in zip(args.pred, args.truth):
        pred = integer_labels(read_image(p_path), p_path)
        truth = integer_labels(read_image(t_path), t_path)
        if pred.shape != truth.shape:
            raise UserInputError(
                f"{p_path} has shape {pred.shape} but {t_path} has shape "
                f"{truth.shape}; compare images of the same size."
            )
        entry: dict = {"pred": p_path, "truth": t_path}
        if args.instances:
            f1 = instance_f1(pred, truth, 0.5)
            entry["instance_f1"] = f1
            entry["split_merge"] = _split_merge(pred, truth, t_path)
            instance_pairs.append((pred, truth))
            for key in matched:
                matched[key] += f1[key]
            pred, truth = (pred > 0).astype(np.uint8) + 1, (truth > 0).astype(np.uint8) + 1
        else:
            pred, truth = _compare(pred, truth, p_path, t_path, args)
            if args.truth_instances:
                entry["compared"] = "foreground (prediction classes >= 2 vs truth ids > 0)"
        scores = dice_iou_per_class(pred, truth)
        entry["classes"] = {str(c): s for c, s in scores.items()}
        per_image.append(entry)
        for c in scores:
            p, t = pred == c, truth == c
            tp = int((p & t).sum())
            totals.setdefault(c, [0, 0, 0])
            totals[c][0] += tp
            totals[c][1] += int(p.sum())
            totals[c][2] += int(t.sum())
    overall = {}
    for c, (tp, n_pred, n_true) in sorted(totals.items()):
        union = n_pred + n_true - tp
        overall[str(c)] = {
            "dice": 1.0 if n_pred + n_true == 0 else 2 * tp / (n_pred + n_true),
            "iou": 1.0 if union == 0 else tp / union,
        }
    report: dict = {"classes": overall, "images": per_image}
    if args.instances:
        tp, n_pred, n_true = matched["true_positives"], matched["predicted"], matched["true"]
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_true if n_true else 0.0
        report["instance_f1"] = {
            "iou_threshold": 0.5,
            "f1": 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall),
            "precision": precision,
            "recall": recall,
            **matched,
        }
        report["split_merge"] = split_merge_scores(*pooled_instances(instance_pairs))
    print(json.dumps(report, indent=2))
    return 0
