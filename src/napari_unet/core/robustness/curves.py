"""Robustness curves: segmentation quality against natural perturbations and attacks.

:func:`perturbation_curve` perturbs every image at every level, predicts, and scores the
prediction with Dice (mean over the classes present, as ``napari-unet evaluate`` reports
them per class) against the clean prediction and, when given, the truth. Units (see
:data:`UNITS`): noise = Gaussian sigma and attacks = eps, both in the model's normalized
intensity units; blur = Gaussian sigma in pixels; rotation = degrees about the image
centre (reflecting borders); scale = zoom factor about the centre; contrast = gamma.

The perturbation is applied to the image normalized with the *clean* image's statistics,
and the model sees it in those units (as the attacks do): a contrast change is not undone
by re-normalizing the perturbed image. For rotation and scale the clean prediction and the
truth are warped with the same grid (nearest), and only pixels whose source lies inside
the image count, so the curve measures the model's change, not the geometry's.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import transforms
from ..attacks import attack_image, make_attack
from ..data.images import Normalization, channels_first, check_spatial
from ..errors import UserInputError
from ..io.atomic_write import atomic_write
from ..metrics import dice_iou_per_class
from ..model.trained_model import TrainedModel
from ..prediction.engine import PredictionConfig, predict
from ..stopping import StopFlag, run_to_completion

NATURAL = ("noise", "blur", "rotation", "scale", "contrast")
ATTACK_KINDS = ("fgsm", "pgd", "segpgd", "eot")
KINDS = NATURAL + ATTACK_KINDS
GEOMETRIC = ("rotation", "scale")
NEUTRAL = {
    "noise": 0.0,
    "blur": 0.0,
    "rotation": 0.0,
    "scale": 1.0,
    "contrast": 1.0,
    **{k: 0.0 for k in ATTACK_KINDS},
}
UNITS = {
    "noise": "Gaussian noise sigma (normalized intensity)",
    "blur": "Gaussian blur sigma (pixels)",
    "rotation": "rotation (degrees about the centre)",
    "scale": "zoom factor about the centre",
    "contrast": "gamma",
    **{k: f"{k.upper()} eps (normalized intensity)" for k in ATTACK_KINDS},
}
CSV_COLUMNS = ("perturbation", "level", "dice_vs_clean", "dice_vs_truth")
QUANTIZATION_COLUMN = "below_quantization"  # attack kinds: eps below one grey level


def check_levels(kind: str, levels: Sequence[float]) -> list[float]:
    """The levels as floats, or :class:`UserInputError` naming the first bad one."""
    if kind not in KINDS:
        raise UserInputError(f"Unknown perturbation {kind!r}; choose one of {', '.join(KINDS)}.")
    if not levels:
        raise UserInputError("Give at least one level.")
    out = []
    for value in levels:
        level = float(value)
        if not math.isfinite(level):
            raise UserInputError(f"Level {value} of {kind} is not a finite number.")
        if kind == "scale" and level <= 0:
            raise UserInputError(f"Zoom factor {level:g} must be > 0 (1 = no zoom).")
        if kind == "contrast" and level <= 0:
            raise UserInputError(f"Gamma {level:g} must be > 0 (1 = no change).")
        if kind in ("noise", "blur") and level < 0:
            raise UserInputError(f"{kind} sigma {level:g} must be >= 0 (0 = none).")
        if kind in ATTACK_KINDS and level < 0:
            raise UserInputError(f"eps {level:g} must be >= 0 (normalized units).")
        out.append(level)
    return out


def perturb(
    kind: str, x: torch.Tensor, level: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Apply the natural perturbation ``kind`` at ``level`` to a normalized batch.

    Shape: x ``(B, C, *S)`` -> ``(B, C, *S)``; the neutral level returns ``x`` itself.
    """
    if kind == "noise":
        return transforms.gaussian_noise(x, level, generator)
    if kind == "blur":
        return transforms.gaussian_blur(x, level)
    if kind == "rotation":
        return transforms.rotate(x, level)
    if kind == "scale":
        return transforms.zoom(x, level)
    if kind == "contrast":
        return transforms.gamma(x, level)
    raise ValueError(f"{kind!r} is not a natural perturbation; one of {NATURAL}.")


def geometry_grid(kind: str, shape: tuple[int, ...], level: float) -> torch.Tensor | None:
    """The sampling grid of a rotation or zoom at ``level`` (``None`` for other kinds)."""
    if kind == "rotation":
        return transforms.affine_grid_for(shape, level, 1.0)
    if kind == "scale":
        return transforms.affine_grid_for(shape, 0.0, level)
    return None


def warp_labels(labels: np.ndarray, grid: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Labels warped like the image (nearest, reflecting), and where their source is inside.

    Shape: labels ``(*S)``, grid ``(1, *S, dims)`` -> ``(*S)`` labels, ``(*S)`` bool.
    """
    t = torch.from_numpy(np.ascontiguousarray(labels).astype(np.int64))[None, None]
    moved = transforms.warp(t, grid, "nearest", "reflection")[0, 0].numpy()
    inside = transforms.warp(torch.ones_like(t), grid, "nearest", "zeros")[0, 0].numpy() > 0
    return moved.astype(labels.dtype), inside


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


@dataclass(frozen=True)
class RobustnessProgress:
    """Level ``level_index`` of ``levels`` (value ``level``) on image ``image`` of ``images``."""

    level_index: int
    levels: int
    level: float
    image: int
    images: int
    progress: float  # 0..1 over the whole curve


@dataclass
class PerturbationCurve:
    """One row per level: ``perturbation, level, dice_vs_clean[, dice_vs_truth]`` (means
    over images). ``example`` / ``example_prediction``: the last perturbed image (raw
    intensity units, float32, the image's layout) and its prediction, when asked for."""

    perturbation: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False
    example: np.ndarray | None = None
    example_prediction: np.ndarray | None = None

    @property
    def levels(self) -> list[float]:
        return [r["level"] for r in self.rows]

    @property
    def dice(self) -> list[float]:
        return [r["dice_vs_clean"] for r in self.rows]

    @property
    def has_truth(self) -> bool:
        return any("dice_vs_truth" in r for r in self.rows)

    def quantization_note(self) -> str | None:
        """For attack curves: one line naming the levels below one grey level of the
        images' dtype (measured on float32 images, as the attacks run here; saved in the
        images' dtype those attacked images would equal the clean ones), or None."""
        below = [r["level"] for r in self.rows if r.get(QUANTIZATION_COLUMN)]
        if not below:
            return None
        return (
            f"eps {', '.join(f'{v:g}' for v in below)} below one grey level of the "
            "images' dtype: measured on float32 images; saved in the images' dtype these "
            "attacked images would equal the clean ones (CSV column "
            f"{QUANTIZATION_COLUMN})."
        )

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the rows (columns :data:`CSV_COLUMNS`, the truth column only with truth;
        attacks add :data:`QUANTIZATION_COLUMN`), atomically."""
        columns = CSV_COLUMNS if self.has_truth else CSV_COLUMNS[:3]
        if self.perturbation in ATTACK_KINDS:
            columns = (*columns, QUANTIZATION_COLUMN)
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.rows)
        return atomic_write(path, lambda handle: handle.write(text.getvalue().encode()))

    def plot(self, path: str | os.PathLike) -> Path:
        """Save the curve as a PNG (matplotlib's Agg canvas, no GUI), atomically."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(4.5, 3.2), dpi=110)
        FigureCanvasAgg(figure)
        draw_curve(figure.add_subplot(111), self)
        figure.tight_layout()
        return atomic_write(path, lambda handle: figure.savefig(handle, format="png"))


def draw_curve(ax: Any, curve: PerturbationCurve) -> None:
    """Draw Dice against level on a matplotlib axis (used by :meth:`PerturbationCurve.plot`
    and the Adversarial widget)."""
    ax.clear()
    ax.plot(curve.levels, curve.dice, "o-", ms=3, label="vs clean prediction")
    if curve.has_truth:
        ax.plot(
            curve.levels,
            [r.get("dice_vs_truth") for r in curve.rows],
            "s--",
            ms=3,
            label="vs truth",
        )
    ax.set_xlabel(UNITS.get(curve.perturbation, curve.perturbation), fontsize=8)
    ax.set_ylabel("Dice", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)


# ------------------------------------------------------------------------ the curve
@dataclass
class _Image:
    """One input image, channels first, with its clean statistics and truth classes."""

    image_cf: np.ndarray
    low: np.ndarray
    high: np.ndarray
    truth: np.ndarray | None
    clean: np.ndarray | None = None  # clean prediction (natural kinds), lazily


def _prepare(
    model: TrainedModel,
    images: Sequence[np.ndarray],
    truths: Sequence[np.ndarray] | None,
    channel_axis: int | None,
    rgb: bool,
) -> list[_Image]:
    if truths is not None and len(truths) != len(images):
        raise UserInputError(
            f"Got {len(images)} images but {len(truths)} truths; give one truth per image."
        )
    prepared = []
    for i, image in enumerate(images):
        image_cf = channels_first(image, channel_axis, rgb)
        check_spatial(image_cf, model.spatial_dims)
        if image_cf.shape[0] != model.in_channels:
            raise UserInputError(
                f"The model expects {model.in_channels} channel(s) but image "
                f"{i + 1} has {image_cf.shape[0]}."
            )
        truth = None if truths is None else np.asarray(truths[i])
        if truth is not None and truth.shape != image_cf.shape[1:]:
            raise UserInputError(
                f"Truth {i + 1} has shape {truth.shape} but its image has "
                f"shape {image_cf.shape[1:]} (without channels)."
            )
        low, high = model.normalization.statistics(image_cf)
        prepared.append(_Image(image_cf, low, high, truth))
    return prepared


def _predict_raw(
    model: TrainedModel, chunk_cf: np.ndarray, item: _Image, config: PredictionConfig
) -> np.ndarray:
    """Class values of a raw ``(C, *S)`` chunk, normalized with the clean statistics."""
    fixed = FixedNormalization(low=tuple(item.low.tolist()), high=tuple(item.high.tolist()))
    frozen = dataclasses.replace(model, normalization=fixed)
    return run_to_completion(predict(frozen, chunk_cf, config=config, channel_axis=0)).labels


def _units(item: _Image, dims: int) -> list[tuple[int, ...]]:
    return list(np.ndindex(*item.image_cf.shape[1:][: item.image_cf.ndim - 1 - dims]))


@dataclass
class _Scored:
    """Predictions of one image at one level, the references and where they count."""

    prediction: np.ndarray
    clean: np.ndarray
    truth: np.ndarray | None
    valid: np.ndarray
    example: np.ndarray | None = None
    below_quantization: bool = False  # attacks: eps below one grey level of the image


def _natural_unit(
    model: TrainedModel,
    item: _Image,
    idx: tuple,
    kind: str,
    level: float,
    gen: torch.Generator,
    config: PredictionConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """Perturb and predict one slice/volume: (prediction, clean, truth, valid, raw image)."""
    region = (slice(None),) + idx
    raw = np.asarray(item.image_cf[region], np.float32)
    shape = (-1,) + (1,) * (raw.ndim - 1)
    low, span = item.low.reshape(shape), (item.high - item.low).reshape(shape)
    x = torch.from_numpy((raw - low) / span)[None]
    with torch.no_grad():
        moved = perturb(kind, x, level, gen)
    image = raw if moved is x else moved[0].numpy() * span + low  # neutral: the raw image
    prediction = _predict_raw(model, image, item, config)
    clean = item.clean[idx]
    truth = None if item.truth is None else item.truth[idx]
    valid = np.ones(clean.shape, bool)
    grid = geometry_grid(kind, x.shape, level)
    if grid is not None:
        clean, valid = warp_labels(clean, grid)
        if truth is not None:
            truth = warp_labels(truth, grid)[0]
    return prediction, clean, truth, valid, image


def _score_natural(
    model: TrainedModel,
    item: _Image,
    kind: str,
    level: float,
    seed: int,
    config: PredictionConfig,
    keep: bool,
    stop: StopFlag,
) -> _Scored | None:
    """Perturb every slice/volume of one image at one level; ``None`` when stopped."""
    dims = model.spatial_dims
    shape = item.image_cf.shape[1:]
    if item.clean is None:
        item.clean = _predict_raw(model, item.image_cf, item, config)
    out = _Scored(
        np.zeros_like(item.clean),
        np.zeros_like(item.clean),
        None if item.truth is None else np.zeros_like(item.truth),
        np.zeros(shape, bool),
        np.zeros(item.image_cf.shape, np.float32) if keep else None,
    )
    gen = torch.Generator().manual_seed(seed)
    for idx in _units(item, dims):
        if stop.requested:
            return None
        pred, clean, truth, valid, image = _natural_unit(model, item, idx, kind, level, gen, config)
        out.prediction[idx], out.clean[idx], out.valid[idx] = pred, clean, valid
        if truth is not None:
            out.truth[idx] = truth
        if keep:
            out.example[(slice(None),) + idx] = image
    return out


def _score_attack(
    model: TrainedModel,
    item: _Image,
    kind: str,
    level: float,
    options: dict,
    device: str,
    stop: StopFlag,
) -> Generator[float, None, _Scored | None]:
    """Attack one image at eps ``level``; yields the fraction done, returns the scores."""
    attack = make_attack(kind, level, options.get("steps"), **options.get("extra", {}))
    work = attack_image(
        attack, model, item.image_cf, channel_axis=0, keep_float=True, device=device, stop=stop
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
    return _Scored(
        result.adversarial_prediction,
        result.clean_prediction,
        item.truth,
        np.ones(result.clean_prediction.shape, bool),
        result.adversarial,
        result.metrics.below_quantization,
    )


def _row(kind: str, level: float, scored: list[_Scored]) -> dict[str, Any]:
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
    if kind in ATTACK_KINDS:
        row[QUANTIZATION_COLUMN] = any(s.below_quantization for s in scored)
    return row


def perturbation_curve(
    model: TrainedModel,
    images: Sequence[np.ndarray],
    kind: str,
    levels: Sequence[float],
    *,
    truths: Sequence[np.ndarray] | None = None,
    seed: int = 0,
    attack_steps: int | None = None,
    attack_options: dict | None = None,
    channel_axis: int | None = None,
    rgb: bool = False,
    device: str = "auto",
    keep_example: bool = False,
    stop: StopFlag | None = None,
) -> Generator[RobustnessProgress, None, PerturbationCurve]:
    """Dice against the clean prediction (and the truth) at every level of ``kind``.

    images: napari-style arrays (leading axes allowed, channels at ``channel_axis``).
    truths: class values 1..K (0 = not counted) shaped like each image without channels.
    seed: seed of the noise (the same pattern, scaled, at every level).
    attack_steps / attack_options: for the attack kinds (``steps``; constructor options
        such as ``samples`` for EOT). Attacks run on continuous float images.
    keep_example: keep the last perturbed image and its prediction (for the widget).
    Yields :class:`RobustnessProgress`; returns :class:`PerturbationCurve`, rows in the
    order of ``levels``.
    """
    stop = stop or StopFlag()
    values = check_levels(kind, levels)
    items = _prepare(model, images, truths, channel_axis, rgb)
    config = PredictionConfig(device=device)
    curve = PerturbationCurve(kind)
    options = {"steps": attack_steps, "extra": attack_options or {}}
    total = len(values) * len(items)
    for li, level in enumerate(values):
        scored = []
        for ii, item in enumerate(items):
            done = li * len(items) + ii
            yield RobustnessProgress(li, len(values), level, ii, len(items), done / total)
            if kind in NATURAL:
                result = _score_natural(
                    model, item, kind, level, seed + ii, config, keep_example, stop
                )
            else:
                work = _score_attack(model, item, kind, level, options, device, stop)
                while True:
                    try:
                        frac = next(work)
                    except StopIteration as finished:
                        result = finished.value
                        break
                    yield RobustnessProgress(
                        li, len(values), level, ii, len(items), (done + frac) / total
                    )
            if result is None:
                curve.stopped = True
                return curve
            scored.append(result)
            if keep_example:
                curve.example = _from_cf(result.example, images[ii], channel_axis, rgb)
                curve.example_prediction = result.prediction
        curve.rows.append(_row(kind, level, scored))
    return curve


def _from_cf(
    example: np.ndarray | None, image: np.ndarray, channel_axis: int | None, rgb: bool
) -> np.ndarray | None:
    """A channels-first example back in the layout of ``image``."""
    if example is None:
        return None
    if rgb:
        return np.moveaxis(example, 0, -1)
    if channel_axis is not None:
        return np.moveaxis(example, 0, channel_axis % np.ndim(image))
    return example[0]


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
    item = _prepare(model, [image], None, channel_axis, rgb)[0]
    attacked_cf = channels_first(attacked, channel_axis, rgb)
    config = PredictionConfig(device=device)
    scores = []
    for idx in _units(item, model.spatial_dims):
        region = (slice(None),) + idx
        preds = []
        for source in (item.image_cf, attacked_cf):
            raw = np.asarray(source[region], np.float32)[None]
            grid = transforms.affine_grid_for(raw.shape, degrees, factor)
            moved = transforms.warp(torch.from_numpy(raw), grid)[0].numpy()
            preds.append(_predict_raw(model, moved, item, config))
        valid = warp_labels(preds[0], grid)[1]
        scores.append(mean_dice(preds[1], preds[0], valid))
    return float(np.mean(scores))
