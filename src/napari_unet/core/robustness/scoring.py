"""Scoring a perturbed model: Dice of each perturbed prediction, the curve's rows.

Natural kinds perturb the image normalized with the *clean* image's statistics, and the
model sees it in those units (as the attacks do): a contrast change is not undone by
re-normalizing the perturbed image. For rotation and scale the clean prediction and the
truth are warped with the same grid (nearest), and only pixels whose source lies inside
the image count, so the curve measures the model's change, not the geometry's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import transforms
from ..attacks import AttackResult, attack_image, make_attack
from ..attacks.metrics import AttackMetrics
from ..data.images import Normalization, channels_first
from ..errors import UserInputError
from ..metrics import dice_iou_per_class
from ..model.trained_model import TrainedModel
from ..prediction.engine import PredictionConfig, predict
from ..prediction.image_job import ImageJob, prepare_job
from ..stopping import StopFlag, run_to_completion
from .curve import QUANTIZATION_COLUMN
from .perturbations import geometry_grid, perturb, warp_labels


def mean_dice(pred: np.ndarray, reference: np.ndarray, valid: np.ndarray) -> float:
    """Dice per class (:func:`.metrics.dice_iou_per_class`) averaged over the classes present
    in either array, over the ``valid`` pixels; NaN when no pixel is valid."""
    if not valid.any():
        return math.nan
    scores = dice_iou_per_class(pred[valid], reference[valid])
    return float(np.mean([s["dice"] for s in scores.values()]))


@dataclass(frozen=True)
class FixedNormalization(Normalization):
    """Normalization with given per-channel statistics (those of the clean image)."""

    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()

    def statistics(self, image_cf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.low, np.float32), np.asarray(self.high, np.float32)


@dataclass
class ScoredImage:
    """One input image: its checked job (channels first, clean statistics, slices), its
    truth classes ``(*lead, *S)`` or None, and its clean prediction (natural kinds, lazily)."""

    job: ImageJob
    truth: np.ndarray | None
    clean: np.ndarray | None = None


def prepare_images(
    model: TrainedModel,
    images: Sequence[np.ndarray],
    truths: Sequence[np.ndarray] | None,
    channel_axis: int | None,
    rgb: bool,
) -> list[ScoredImage]:
    """Check every image against the model (:func:`..prediction.image_job.prepare_job`)
    and its truth against the image; :class:`UserInputError` names the first bad one."""
    if truths is not None and len(truths) != len(images):
        raise UserInputError(
            f"Got {len(images)} images but {len(truths)} truths; give one truth per image."
        )
    model_and_layout = {
        "in_channels": model.in_channels,
        "normalization": model.normalization,
        "channel_axis": channel_axis,
        "rgb": rgb,
    }
    prepared = []
    for i, image in enumerate(images):
        job = prepare_job(image, model.spatial_dims, **model_and_layout)
        truth = None if truths is None else np.asarray(truths[i])
        if truth is not None and truth.shape != job.shape:
            raise UserInputError(
                f"Truth {i + 1} has shape {truth.shape} but its image has "
                f"shape {job.shape} (without channels)."
            )
        prepared.append(ScoredImage(job, truth))
    return prepared


def predict_raw(
    model: TrainedModel, chunk_cf: np.ndarray, item: ScoredImage, config: PredictionConfig
) -> np.ndarray:
    """Class values of a raw ``(C, *S)`` chunk, normalized with the clean statistics."""
    low, high = item.job.low, item.job.high
    fixed = FixedNormalization(low=tuple(low.tolist()), high=tuple(high.tolist()))
    frozen = dataclasses.replace(model, normalization=fixed)
    return run_to_completion(predict(frozen, chunk_cf, config=config, channel_axis=0)).labels


@dataclass
class Scored:
    """Predictions of one image at one level, the references and where they count.

    Shapes ``(*lead, *S)``; example: the perturbed image ``(C, *lead, *S)`` when kept;
    metrics: of the attack (attack kinds only)."""

    prediction: np.ndarray
    clean: np.ndarray
    truth: np.ndarray | None
    valid: np.ndarray
    example: np.ndarray | None = None
    metrics: AttackMetrics | None = None


def _natural_unit(
    model: TrainedModel,
    item: ScoredImage,
    idx: tuple,
    kind: str,
    level: float,
    gen: torch.Generator,
    config: PredictionConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """Perturb and predict one slice/volume: (prediction, clean, truth, valid, raw image)."""
    region = (slice(None),) + idx
    raw = np.asarray(item.job.source[region], np.float32)
    shape = (-1,) + (1,) * (raw.ndim - 1)
    low, span = item.job.low.reshape(shape), (item.job.high - item.job.low).reshape(shape)
    x = torch.from_numpy((raw - low) / span)[None]
    with torch.no_grad():
        moved = perturb(kind, x, level, gen)
    image = raw if moved is x else moved[0].numpy() * span + low  # neutral: the raw image
    prediction = predict_raw(model, image, item, config)
    clean = item.clean[idx]
    truth = None if item.truth is None else item.truth[idx]
    valid = np.ones(clean.shape, bool)
    grid = geometry_grid(kind, x.shape, level)
    if grid is not None:
        clean, valid = warp_labels(clean, grid)
        if truth is not None:
            truth = warp_labels(truth, grid)[0]
    return prediction, clean, truth, valid, image


def score_natural(
    model: TrainedModel,
    item: ScoredImage,
    kind: str,
    level: float,
    seed: int,
    config: PredictionConfig,
    keep: bool,
    stop: StopFlag,
) -> Scored | None:
    """Perturb every slice/volume of one image at one level; ``None`` when stopped."""
    source = item.job.source
    if item.clean is None:
        item.clean = predict_raw(model, source, item, config)
    out = Scored(
        np.zeros_like(item.clean),
        np.zeros_like(item.clean),
        None if item.truth is None else np.zeros_like(item.truth),
        np.zeros(item.job.shape, bool),
        np.zeros(source.shape, np.float32) if keep else None,
    )
    gen = torch.Generator().manual_seed(seed)
    for idx in item.job.todo:
        if stop.requested:
            return None
        pred, clean, truth, valid, image = _natural_unit(model, item, idx, kind, level, gen, config)
        out.prediction[idx], out.clean[idx], out.valid[idx] = pred, clean, valid
        if truth is not None:
            out.truth[idx] = truth
        if keep:
            out.example[(slice(None),) + idx] = image
    return out


def score_attack(
    model: TrainedModel,
    item: ScoredImage,
    kind: str,
    level: float,
    options: dict,
    device: str,
    stop: StopFlag,
) -> Generator[float, None, Scored | None]:
    """Attack one image at eps ``level``; yields the fraction done, returns the scores."""
    attack = make_attack(kind, level, options.get("steps"), **options.get("extra", {}))
    work = attack_image(
        attack, model, item.job.source, channel_axis=0, keep_float=True, device=device, stop=stop
    )
    while True:
        try:
            ev = next(work)
        except StopIteration as done:
            result = done.value
            break
        yield ev.progress
    if result.stopped:
        return None
    return Scored(
        result.adversarial_prediction,
        result.clean_prediction,
        item.truth,
        np.ones(result.clean_prediction.shape, bool),
        result.adversarial,
        result.metrics,
    )


def level_row(kind: str, level: float, scored: list[Scored]) -> dict[str, Any]:
    """The curve's row (:data:`.curve.CSV_COLUMNS`) of one level: Dice means over the
    images; attack columns (:func:`attack_columns`) when the images were attacked."""
    row: dict[str, Any] = {
        "perturbation": kind,
        "level": level,
        "dice_vs_clean": float(
            np.mean([mean_dice(s.prediction, s.clean, s.valid) for s in scored])
        ),
    }
    if all(s.truth is not None for s in scored):
        row["dice_vs_truth"] = float(
            np.mean([mean_dice(s.prediction, s.truth, s.valid & (s.truth > 0)) for s in scored])
        )
    if all(s.metrics is not None for s in scored):
        row.update(attack_columns([s.metrics for s in scored]))
    return row


def attack_columns(metrics: Sequence[AttackMetrics]) -> dict[str, Any]:
    """The attack columns of a row over attacked images: mean fraction changed, largest
    L-inf, mean L2 and SNR, and whether any image's eps is below one grey level."""
    return {
        "fraction_changed": float(np.mean([m.fraction_changed for m in metrics])),
        "linf": max(m.linf for m in metrics),
        "l2": float(np.mean([m.l2 for m in metrics])),
        "snr_db": float(np.mean([m.snr_db for m in metrics])),
        QUANTIZATION_COLUMN: any(m.below_quantization for m in metrics),
    }


def sweep_row(attack: str, eps: float, result: AttackResult, truth: bool) -> dict[str, Any]:
    """The row of one eps of an eps sweep: Dice from the attack's metrics, against the
    truth when ``truth`` (the attack had labels) else against the clean prediction."""
    m = result.metrics
    done = np.zeros(result.clean_prediction.shape, bool)
    done[result.completed] = True
    against = "dice_vs_truth" if truth else "dice_vs_clean"
    row = {"perturbation": attack, "level": eps, against: m.dice_adversarial}
    if truth:
        row["dice_vs_clean"] = mean_dice(
            result.adversarial_prediction, result.clean_prediction, done
        )
    row.update(attack_columns([m]))
    return row


def clean_row(attack: str, result: AttackResult, truth: bool) -> dict[str, Any]:
    """The eps-0 row of an eps sweep: the clean prediction's scores, no perturbation."""
    m = result.metrics
    row = {"perturbation": attack, "level": 0.0, "dice_vs_clean": 1.0 if truth else m.dice_clean}
    if truth:
        row["dice_vs_truth"] = m.dice_clean
    zero = {"fraction_changed": 0.0, "linf": 0.0, "l2": 0.0, "snr_db": math.inf}
    return {**row, **zero, QUANTIZATION_COLUMN: False}


def dice_after_transform(
    model: TrainedModel,
    image: np.ndarray,
    attacked: np.ndarray,
    *,
    degrees: float = 12.0,
    factor: float = 0.9,
    channel_axis: int | None = None,
    rgb: bool = False,
    device: str = "auto",
) -> float:
    """Does an attack survive a rotation and a zoom?

    Rotates by ``degrees`` and zooms by ``factor`` (about the centre, reflecting borders)
    both the clean ``image`` and the ``attacked`` one (same layout; normalized with the
    clean image's statistics), predicts both and returns their Dice (mean over classes)
    over the pixels whose source lies inside the image. 1 = the attack did nothing after
    the transform.
    """
    item = prepare_images(model, [image], None, channel_axis, rgb)[0]
    attacked_cf = channels_first(attacked, channel_axis, rgb)
    config = PredictionConfig(device=device)
    scores = []
    for idx in item.job.todo:
        region = (slice(None),) + idx
        preds = []
        for source in (item.job.source, attacked_cf):
            raw = np.asarray(source[region], np.float32)[None]
            grid = transforms.affine_grid_for(raw.shape, degrees, factor)
            moved = transforms.warp(torch.from_numpy(raw), grid)[0].numpy()
            preds.append(predict_raw(model, moved, item, config))
        valid = warp_labels(preds[0], grid)[1]
        scores.append(mean_dice(preds[1], preds[0], valid))
    return float(np.mean(scores))
