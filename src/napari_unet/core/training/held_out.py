"""Scoring models on the same held-out painted pixels, to compare them fairly.

A retraining round fine-tunes the current model on the old strokes and the new
corrections; its own validation Dice is measured on pixels the previous model was never
scored on, so the two Dice figures cannot be compared. :func:`compare_on_windows` scores
both models on the same held-out pixels (those the retraining run kept aside) and says
whether the new model is worse beyond the noise of those pixels
(:func:`.reliability.noise_margin`, the margin the trainer uses between its final and
best weights).

>>> comparison = compare_on_windows(previous, result.model, validation_windows(trainer.data))
>>> comparison.new_is_worse, comparison.summary()
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..data.images import Normalization, channels_first, check_spatial
from ..data.labels import IGNORE, check_labels, finetuning_encoder
from ..device import select_device
from ..model.trained_model import TrainedModel
from ..reliability import MIN_RELIABLE_PIXELS
from .losses import confusion_counts, dice_from_confusion
from .trainer import DEFAULT_PATCH, ValidationScores
from .training_data import Unit, _make_unit

Window = tuple[np.ndarray, np.ndarray]  # image (C, *P) normalized float32, targets (*P) int64


def score_windows(
    model: TrainedModel, windows: Sequence[Window], *, device: str = "auto", batch_size: int = 4
) -> ValidationScores:
    """Dice of ``model`` on the held-out pixels of ``windows``: per window an image
    ``(C, *P)`` normalized as the model normalizes, and targets ``(*P)`` (class indices
    0..K-1, :data:`~.labels.IGNORE` where not held out). Float32, in inference mode, on a
    copy of the model (the given one is not moved). ``step`` is the model's last round's
    steps; ``pixels``: held-out pixels per class."""
    k = model.num_classes
    dev = select_device(device)
    network = model.copy().network.to(dev).eval()
    conf = torch.zeros(k, k, dtype=torch.long)
    with torch.inference_mode():
        for i in range(0, len(windows), batch_size):
            chunk = windows[i : i + batch_size]
            x = torch.from_numpy(np.stack([w[0] for w in chunk]).astype(np.float32)).to(dev)
            y = torch.from_numpy(np.stack([w[1] for w in chunk]).astype(np.int64))
            conf += confusion_counts(network(x).argmax(1).cpu(), y, k)
    dice = tuple(dice_from_confusion(conf))
    scored = [d for d in dice if d is not None]
    steps = int(model.rounds[-1].get("steps") or 0) if model.rounds else 0
    return ValidationScores(
        steps,
        dice,
        float(np.mean(scored)) if scored else None,
        0.0,
        False,
        tuple(int(n) for n in conf.sum(1).tolist()),
    )


def held_out_windows(
    model: TrainedModel,
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    *,
    dense: bool = False,
    rgb: bool = False,
    channel_axis: int | None = None,
    patch: Sequence[int] | None = None,
) -> list[Window]:
    """The windows :func:`score_windows` reads, from in-memory images.

    images: ``(*leading, *spatial)`` (channels at ``channel_axis`` or RGB last); labels:
    painted values shaped like the image without channels (sparse: 0 = unpainted, v =
    class v; dense: the model's values); masks: bool, same shape, True = held-out pixel
    to score. Images are normalized with the model's normalization, per image.
    """
    dims = model.spatial_dims
    size = tuple(patch or DEFAULT_PATCH[dims])
    encoder = finetuning_encoder(model.classes, list(labels), dense)
    windows: list[Window] = []
    for image, lab, mask in zip(images, labels, masks):
        image_cf = channels_first(np.asarray(image), channel_axis, rgb)
        check_spatial(image_cf, dims)
        lab, mask = np.asarray(lab), np.asarray(mask, bool)
        check_labels(lab, image_cf.shape[1:])
        low, high = model.normalization.statistics(image_cf)
        for lead in np.ndindex(*lab.shape[: lab.ndim - dims]):
            held = np.where(mask[lead], encoder.encode(lab[lead]), IGNORE)
            if not (held != IGNORE).any():
                continue
            norm = Normalization.apply(image_cf[(slice(None),) + lead], low, high)
            padded = _make_unit(norm, held, size)  # held-out targets padded like a unit
            unit = Unit(padded.image, np.full_like(padded.targets, IGNORE), padded.targets)
            windows.extend(unit.validation_windows(size))
    return windows


def score_held_out(
    model: TrainedModel,
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    *,
    dense: bool = False,
    rgb: bool = False,
    channel_axis: int | None = None,
    device: str = "auto",
) -> ValidationScores:
    """Dice of ``model`` on the pixels of ``labels`` where ``masks`` is True (see
    :func:`held_out_windows` for the shapes)."""
    windows = held_out_windows(
        model, images, labels, masks, dense=dense, rgb=rgb, channel_axis=channel_axis
    )
    return score_windows(model, windows, device=device)


@dataclass(frozen=True)
class ModelComparison:
    """Two models scored on the same held-out pixels."""

    previous: ValidationScores
    new: ValidationScores

    @property
    def comparable(self) -> bool:
        return self.previous.mean_dice is not None and self.new.mean_dice is not None

    @property
    def noise(self) -> float:
        """Differences within this are noise: ``max(0.02, 1 / sqrt(fewest pixels))``."""
        return self.new.noise

    @property
    def new_is_worse(self) -> bool:
        """The new model's Dice is below the previous one's by more than the noise."""
        if not self.comparable:
            return False
        return self.new.mean_dice < self.previous.mean_dice - self.noise

    def summary(self) -> str:
        """One sentence: both Dice figures, the pixels they rest on and the noise."""
        if not self.comparable:
            return "No held-out pixels to compare the new and previous models on."
        pixels = self.new.scored_pixels
        text = (
            f"On the same {sum(pixels):,} held-out pixels, the new model scores Dice "
            f"{self.new.mean_dice:.3f}, the previous one {self.previous.mean_dice:.3f} "
            f"(differences under {self.noise:.3f} are noise)"
        )
        if self.new.reliable:
            return text + "."
        return (
            text + f"; too few pixels to trust (under {MIN_RELIABLE_PIXELS} per class): "
            "paint more strokes."
        )


def compare_on_windows(
    previous: TrainedModel, new: TrainedModel, windows: Sequence[Window], *, device: str = "auto"
) -> ModelComparison:
    """Score ``previous`` and ``new`` on the same held-out ``windows`` (see
    :func:`score_windows`)."""
    return ModelComparison(
        score_windows(previous, windows, device=device), score_windows(new, windows, device=device)
    )
