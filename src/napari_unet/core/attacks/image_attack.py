"""Attacking a whole image: normalization, slices and tiles, dtype round trip, metrics.

:func:`attack_image` takes a napari-style array (any number of leading axes, channels at
``channel_axis`` or RGB last), normalizes it with the model's own statistics, attacks
each 2D slice (2D model) or volume (3D model) tile by tile, and returns the adversarial
image in the image's dtype and value range together with predictions and metrics.

Units: ``eps`` is in normalized intensity units (``(raw - low) / (high - low)``, with the
model's percentile statistics of this image); ``eps_raw = eps * (high - low)`` per
channel. The valid range is the dtype range for integer images and the image's own
per-channel min/max for float images. Integer images are quantized *towards the clean
value* (the perturbation is truncated), so the result never leaves the eps ball; an eps
below one grey level therefore changes nothing unless ``keep_float=True``, which returns
the unrounded float32 intensities instead. The metrics say when that happens
(``below_quantization``), and :meth:`AttackResult.quantization_warning` words it.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ..data.images import channels_back
from ..data.labels import TargetEncoder
from ..device import autocast
from ..errors import UserInputError
from ..model.trained_model import TrainedModel
from ..prediction.engine import PredictionConfig, predict
from ..prediction.image_job import ImageJob, network_on, prepare_job
from ..prediction.tiling import tile_grid
from ..stopping import StopFlag, run_to_completion
from .metrics import AttackMetrics, attack_metrics, quantization_warning

DEFAULT_TILE = {2: 512, 3: 128}


class BatchAttack(Protocol):
    """What :func:`attack_image` needs of an attack: :class:`.base.Attack` is one (``base``
    imports this module for ``Attack.run``, so this module does not import ``base``)."""

    eps: float | None
    target: int | None

    @property
    def targeted(self) -> bool: ...

    @property
    def iterations(self) -> int: ...

    def describe(self) -> str: ...

    def perturb(
        self,
        network: nn.Module,
        x: torch.Tensor,
        targets: torch.Tensor,
        *,
        lower: torch.Tensor | None = None,
        upper: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        stop: StopFlag | None = None,
    ) -> Generator[Any, None, torch.Tensor]:
        """Yields :class:`.base.AttackStep` events, returns the adversarial batch."""


@dataclass(frozen=True)
class AttackProgress:
    """Progress over the units (slice-tiles) of an image.

    unit: units finished before this event; units: total units.
    step / steps: attack iterations done in the current unit.
    progress: overall fraction done, 0..1.
    damage: fraction of counted pixels fooled so far in the current unit.
    """

    unit: int
    units: int
    step: int
    steps: int
    progress: float
    damage: float


@dataclass
class AttackResult:
    """What an attack did to one image.

    adversarial: the attacked image, same shape and dtype as the input (float32 when
        ``keep_float``).
    perturbation: ``adversarial - image`` in raw intensity units, float32, same shape.
    clean_prediction / adversarial_prediction: class values 1..K (uint8), shaped like the
        image without channels; 0 in units not attacked (stopped runs).
    changed: bool, where the predicted class changed.
    completed: bool over leading (slice) indices: attacked or not.
    """

    attack: str
    adversarial: np.ndarray
    perturbation: np.ndarray
    clean_prediction: np.ndarray
    adversarial_prediction: np.ndarray
    changed: np.ndarray
    completed: np.ndarray
    metrics: AttackMetrics
    stopped: bool
    elapsed: float
    iterations: int  # attack iterations per unit
    image_dtype: np.dtype | None = None  # of the attacked image (the adversarial may be float)

    def to_dict(self) -> dict:
        """JSON-ready summary (no arrays)."""
        return {
            "attack": self.attack,
            "stopped": self.stopped,
            "elapsed": round(self.elapsed, 3),
            "iterations": self.iterations,
            **self.metrics.to_dict(),
        }

    def quantization_warning(self, float_hint: str) -> str | None:
        """One line when eps is below one grey level of the image's dtype (the attack then
        cannot show in an image of that dtype), else None; ``float_hint`` says how the
        caller keeps float output. See :func:`.metrics.quantization_warning`."""
        dtype = self.image_dtype if self.image_dtype is not None else self.adversarial.dtype
        return quantization_warning(
            self.metrics, dtype, self.adversarial.dtype.kind == "f", float_hint
        )


def _resolve(model: TrainedModel | nn.Module, spatial_dims: int | None):
    """(network, normalization or None, spatial dims, classes or None)."""
    if isinstance(model, TrainedModel):
        return model.network, model.normalization, model.spatial_dims, model.classes
    if isinstance(model, nn.Module):
        return model, None, spatial_dims or 2, None
    raise UserInputError(
        f"Expected a trained model or a torch network, got {type(model).__name__}."
    )


def valid_range(image_cf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw per-channel ``(min, max)`` an attacked image may take: dtype range for integers
    and bools, the image's own min/max for floats. Shapes ``(C,)``, float64."""
    c = image_cf.shape[0]
    kind = image_cf.dtype.kind
    if kind == "b":
        return np.zeros(c), np.ones(c)
    if kind in "iu":
        info = np.iinfo(image_cf.dtype)
        return np.full(c, float(info.min)), np.full(c, float(info.max))
    flat = image_cf.reshape(c, -1)
    return flat.min(1).astype(np.float64), flat.max(1).astype(np.float64)


def _targets_from_labels(labels: np.ndarray, classes) -> np.ndarray:
    """Truth labels -> int64 class index, -1 = ignore."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biu":
        raise UserInputError(f"Truth labels must hold integers, got dtype {labels.dtype}.")
    if classes is not None:
        return TargetEncoder(classes).encode(labels)
    out = labels.astype(np.int64) - 1  # bare network: class values 1..K, 0 = ignore
    out[out < 0] = -1
    return out


def _check_shapes_and_target(
    attack: BatchAttack,
    num_classes: int | None,
    shape: tuple[int, ...],
    arrays: dict[str, np.ndarray | None],
) -> None:
    """:class:`UserInputError` when an array of ``arrays`` (labels, masks) is not shaped
    like the image without channels, ``shape``, or the target class does not exist."""
    for name, arr in arrays.items():
        if arr is not None and tuple(np.shape(arr)) != tuple(shape):
            raise UserInputError(
                f"The {name} have shape {np.shape(arr)} but the image has "
                f"shape {tuple(shape)} (without channels)."
            )
    if attack.targeted and num_classes is not None and attack.target > num_classes:
        raise UserInputError(
            f"Target class {attack.target} does not exist: the model has classes 1..{num_classes}."
        )


@dataclass
class _Outputs:
    """The arrays an attack fills tile by tile.

    adversarial_cf / perturbation_cf: ``(C, *lead, *S)``; clean / adversarial: class
    values 1..K ``(*lead, *S)`` (0 where not attacked); completed: bool ``lead``.
    """

    adversarial_cf: np.ndarray
    perturbation_cf: np.ndarray
    clean: np.ndarray
    adversarial: np.ndarray
    completed: np.ndarray

    @classmethod
    def allocate(cls, job: ImageJob, keep_float: bool, num_classes: int | None) -> _Outputs:
        """Zeroed outputs for ``job`` (the adversarial image starts as the clean one)."""
        out_dtype = np.float32 if keep_float else job.source.dtype
        k_dtype = np.uint8 if (num_classes or 2) < 256 else np.uint16
        return cls(
            np.array(job.source, dtype=out_dtype, copy=True),
            np.zeros(job.source.shape, np.float32),
            np.zeros(job.shape, k_dtype),
            np.zeros(job.shape, k_dtype),
            np.zeros(job.lead_shape, bool),
        )


@dataclass
class _TileAttack:
    """Attacks one tile at a time and writes the results into :class:`_Outputs`.

    truth: int64 class indices ``(*lead, *S)`` (-1 = ignore) or None. Derived: low /
    span, the per-channel normalization ``(C,)`` float64; lower / upper, the valid range
    in normalized units, ``(1, C, 1, ...)`` tensors on ``device``.
    """

    attack: BatchAttack
    network: nn.Module
    device: torch.device
    job: ImageJob
    truth: np.ndarray | None
    perturb_mask: np.ndarray | None
    loss_mask: np.ndarray | None
    out: _Outputs
    stop: StopFlag

    def __post_init__(self) -> None:
        self.image_cf, self.dims = self.job.source, self.job.dims
        self.low = self.job.low.astype(np.float64)
        self.span = (self.job.high - self.job.low).astype(np.float64)
        self.rmin, self.rmax = valid_range(self.image_cf)
        cshape = (1, -1) + (1,) * self.dims
        self.lower, self.upper = (
            torch.as_tensor(
                (bound - self.low) / self.span, dtype=torch.float32, device=self.device
            ).view(cshape)
            for bound in (self.rmin, self.rmax)
        )

    def _per_channel(self, values: np.ndarray) -> np.ndarray:
        return values.reshape((-1,) + (1,) * self.dims)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class indices ``(1, *T)`` of a normalized tile ``(1, C, *T)``."""
        with torch.no_grad(), autocast(self.device):
            return self.network(x).float().argmax(1)

    def _normalized(self, raw: np.ndarray) -> torch.Tensor:
        """A raw tile ``(C, *T)`` as a normalized float32 batch ``(1, C, *T)``."""
        x = (raw - self._per_channel(self.low)) / self._per_channel(self.span)
        return torch.as_tensor(x, dtype=torch.float32, device=self.device)[None]

    def _targets(self, region: tuple, clean: torch.Tensor) -> torch.Tensor:
        """Class indices ``(1, *T)`` the attack moves towards (targeted) or away from;
        -1 outside the loss mask."""
        if self.truth is not None:
            reference = torch.as_tensor(self.truth[region], device=self.device)[None]
        else:
            reference = clean.clone()
        if self.attack.targeted:
            targets = torch.full_like(reference, self.attack.target - 1)
        else:
            targets = reference.clone()
        if self.loss_mask is not None:
            keep = torch.as_tensor(np.asarray(self.loss_mask[region], bool), device=self.device)
            targets[:, ~keep] = -1
        return targets

    def _mask(self, region: tuple) -> torch.Tensor | None:
        """Where the tile may change, ``(1, 1, *T)`` float, or None (everywhere)."""
        if self.perturb_mask is None:
            return None
        mask = torch.as_tensor(np.asarray(self.perturb_mask[region], bool), device=self.device)
        return mask[None, None].float()

    def run(self, region: tuple, unit: int, units: int) -> Generator[AttackProgress, None, None]:
        """Attack the tile at ``region`` (leading index + spatial window) as unit ``unit``
        of ``units``, and write its outputs."""
        raw = np.asarray(self.image_cf[(slice(None),) + region], np.float64)  # (C, *T)
        x = self._normalized(raw)
        clean = self._forward(x)  # (1, *T) class index
        work = self.attack.perturb(
            self.network,
            x,
            self._targets(region, clean),
            lower=self.lower,
            upper=self.upper,
            mask=self._mask(region),
            stop=self.stop,
        )
        while True:
            try:
                ev = next(work)  # an AttackStep
            except StopIteration as finished:
                x_adv = finished.value
                break
            fraction = (unit + ev.step / max(ev.total, 1)) / units
            yield AttackProgress(unit, units, ev.step, ev.total, fraction, ev.damage)
        self._write(region, raw, x, x_adv, clean)

    def _write(
        self, region: tuple, raw: np.ndarray, x: torch.Tensor, x_adv: torch.Tensor, clean
    ) -> None:
        """Store the attacked tile in the output dtype, its perturbation and predictions."""
        # raw = clean + delta * span: untouched pixels stay exactly the clean value (going
        # back from the float32 normalized image would add float32 round-off, ~1e-5 raw)
        delta = (x_adv[0] - x[0]).double().cpu().numpy()
        adv_raw = raw + delta * self._per_channel(self.span)
        out = self.out
        adv_raw = _to_dtype(adv_raw, raw, out.adversarial_cf.dtype, self.rmin, self.rmax, self.dims)
        out.adversarial_cf[(slice(None),) + region] = adv_raw
        out.perturbation_cf[(slice(None),) + region] = adv_raw.astype(np.float64) - raw
        adversarial = self._forward(self._normalized(adv_raw.astype(np.float64)))
        out.clean[region] = (clean[0] + 1).cpu().numpy()
        out.adversarial[region] = (adversarial[0] + 1).cpu().numpy()


def _attack_units(
    tiles: _TileAttack, job: ImageJob, edge: int
) -> Generator[AttackProgress, None, bool]:
    """Attack every slice of ``job.todo`` tile by tile (windows of
    :func:`..prediction.tiling.tile_grid`, no overlap, edge at most ``edge``); returns
    whether a stop request ended the run early."""
    _size, windows = tile_grid(job.spatial, (edge,) * job.dims, (0,) * job.dims)
    units = len(job.todo) * len(windows)
    iterations = tiles.attack.iterations
    unit = 0
    for idx in job.todo:
        for window in windows:
            if tiles.stop.requested:
                return True
            yield from tiles.run(idx + window, unit, units)
            unit += 1
            yield AttackProgress(unit, units, 0, iterations, unit / units, 0.0)
        tiles.out.completed[idx] = True
        if tiles.stop.requested:
            return True
    return False


def _predict_as_segment(
    model: TrainedModel, image: np.ndarray, layout: dict, device: str, out: _Outputs
) -> None:
    """Replace the per-tile predictions of the completed slices by those Segment makes
    (blended tiles) of the clean and the adversarial image. ``layout``: ``channel_axis``
    and ``rgb`` of ``image``."""
    finished = [tuple(int(j) for j in i) for i in np.argwhere(out.completed)]
    adversarial = channels_back(out.adversarial_cf, image.ndim, **layout)
    out.clean = _segment(model, image, layout, finished, device, out.clean)
    out.adversarial = _segment(model, adversarial, layout, finished, device, out.adversarial)


def _score(
    out: _Outputs,
    job: ImageJob,
    truth: np.ndarray | None,
    loss_mask: np.ndarray | None,
    eps: float | None,
    num_classes: int | None,
) -> tuple[AttackMetrics, np.ndarray]:
    """The metrics over the completed slices (inside the loss mask and the truth), and
    where the predicted class changed, bool ``(*lead, *S)``."""
    done_mask = np.zeros(job.shape, bool)
    done_mask[out.completed] = True
    eval_mask = done_mask.copy()
    if loss_mask is not None:
        eval_mask &= np.asarray(loss_mask, bool)
    reference = out.clean
    if truth is not None:
        reference = (truth + 1).astype(out.clean.dtype)
        eval_mask &= truth >= 0
    low, span = job.low.astype(np.float64), (job.high - job.low).astype(np.float64)
    metrics = attack_metrics(
        out.clean,
        out.adversarial,
        reference,
        eval_mask,
        job.source,
        out.perturbation_cf,
        low,
        span,
        eps,
        done_mask,
        num_classes,
    )
    return metrics, (out.clean != out.adversarial) & done_mask


def _prepare(
    attack: BatchAttack,
    model: TrainedModel | nn.Module,
    image: np.ndarray,
    spatial_dims: int | None,
    labels: np.ndarray | None,
    masks: dict[str, np.ndarray | None],
    layout: dict,
    indices: list[tuple[int, ...]] | None,
) -> tuple[nn.Module, ImageJob, np.ndarray | None]:
    """The network, the checked image job and the truth as class indices ``(*lead, *S)``
    (-1 = ignore; None without labels). ``layout``: ``channel_axis`` and ``rgb``."""
    network, normalization, dims, classes = _resolve(model, spatial_dims)
    trained = isinstance(model, TrainedModel)
    job = prepare_job(
        image,
        dims,
        in_channels=model.in_channels if trained else None,
        normalization=normalization,
        indices=indices,
        **layout,
    )
    num_classes = model.num_classes if trained else None
    _check_shapes_and_target(attack, num_classes, job.shape, {"labels": labels, **masks})
    truth = _targets_from_labels(labels, classes) if labels is not None else None
    return network, job, truth


def attack_image(
    attack: BatchAttack,
    model: TrainedModel | nn.Module,
    image: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    perturb_mask: np.ndarray | None = None,
    loss_mask: np.ndarray | None = None,
    channel_axis: int | None = None,
    rgb: bool = False,
    indices: list[tuple[int, ...]] | None = None,
    tile: int | None = None,
    keep_float: bool = False,
    spatial_dims: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    stop: StopFlag | None = None,
) -> Generator[AttackProgress, None, AttackResult]:
    """Attack ``image`` with ``attack``; yields :class:`AttackProgress`, returns :class:`AttackResult`.

    model: a :class:`TrainedModel`, or a bare network taking ``(B, C, *S)`` (its input is
        taken as already normalized; ``spatial_dims`` says 2D or 3D, default 2).
    labels: optional truth (shaped like the image without channels; the model's label
        convention). Untargeted attacks then move away from the truth, and Dice is
        measured against it; by default both use the model's clean prediction.
    perturb_mask: bool, where the image may change (shaped like the image without channels).
    loss_mask: bool, where the loss (and the metrics) count.
    indices: leading indices (slices) to attack; default all.
    tile: largest tile edge attacked in one pass (default 512 in 2D, 128 in 3D).
    """
    stop = stop or StopFlag()
    start = time.perf_counter()
    image = np.asarray(image)
    layout = {"channel_axis": channel_axis, "rgb": rgb}
    masks = {"perturbation mask": perturb_mask, "loss mask": loss_mask}
    network, job, truth = _prepare(
        attack, model, image, spatial_dims, labels, masks, layout, indices
    )
    num_classes = model.num_classes if isinstance(model, TrainedModel) else None
    with network_on(network, device, threads, job.dims) as dev:
        out = _Outputs.allocate(job, keep_float, num_classes)
        tiles = _TileAttack(attack, network, dev, job, truth, perturb_mask, loss_mask, out, stop)
        stopped = yield from _attack_units(tiles, job, tile or DEFAULT_TILE[job.dims])
    if isinstance(model, TrainedModel):  # the predictions Segment makes (blended tiles)
        _predict_as_segment(model, image, layout, device, out)
    metrics, changed = _score(out, job, truth, loss_mask, attack.eps, num_classes)
    return AttackResult(
        attack=attack.describe(),
        adversarial=channels_back(out.adversarial_cf, image.ndim, **layout),
        perturbation=channels_back(out.perturbation_cf, image.ndim, **layout),
        clean_prediction=out.clean,
        adversarial_prediction=out.adversarial,
        changed=changed,
        completed=out.completed,
        metrics=metrics,
        stopped=stopped,
        elapsed=time.perf_counter() - start,
        iterations=attack.iterations,
        image_dtype=job.source.dtype,
    )


def _segment(
    model: TrainedModel,
    image: np.ndarray,
    layout: dict,
    indices: list[tuple[int, ...]],
    device: str,
    out: np.ndarray,
) -> np.ndarray:
    """Class values of ``image`` (``layout``: its ``channel_axis`` and ``rgb``) at
    ``indices`` exactly as Segment predicts them (tiles with overlap and blending,
    :func:`..prediction.engine.predict`), in ``out`` (zeros elsewhere)."""
    out[...] = 0
    if indices:
        config = PredictionConfig(device=device)
        work = predict(model, image, config=config, indices=indices, **layout)
        out[...] = run_to_completion(work).labels
    return out


def _to_dtype(adv_raw: np.ndarray, raw: np.ndarray, dtype, rmin, rmax, dims: int) -> np.ndarray:
    """Back to the output dtype; integers truncated towards the clean value, then clipped."""
    bshape = (-1,) + (1,) * dims
    if np.dtype(dtype).kind == "f":
        return np.clip(adv_raw, rmin.reshape(bshape), rmax.reshape(bshape)).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return np.where(np.abs(adv_raw - raw) >= 1.0, 1.0 - raw, raw).astype(bool)
    delta = np.trunc(np.round(adv_raw - raw, 4))  # float noise must not cost a level
    out = np.clip(raw + delta, rmin.reshape(bshape), rmax.reshape(bshape))
    return out.astype(dtype)
