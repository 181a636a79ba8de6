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

import itertools
import math
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ..data.labels import TargetEncoder
from ..device import autocast
from ..errors import UserInputError
from ..model.trained_model import TrainedModel
from ..prediction.engine import PredictionConfig, predict
from ..prediction.image_job import network_on, prepare_job
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


def _axis_chunks(length: int, tile: int) -> list[slice]:
    n = max(1, math.ceil(length / tile))
    edges = np.linspace(0, length, n + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


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
    network, normalization, dims, classes = _resolve(model, spatial_dims)
    image = np.asarray(image)
    job = prepare_job(
        image,
        dims,
        in_channels=model.in_channels if isinstance(model, TrainedModel) else None,
        normalization=normalization,
        channel_axis=channel_axis,
        rgb=rgb,
        indices=indices,
    )
    image_cf, todo = job.source, job.todo
    shape = job.shape
    for name, arr in (
        ("labels", labels),
        ("perturbation mask", perturb_mask),
        ("loss mask", loss_mask),
    ):
        if arr is not None and tuple(np.shape(arr)) != tuple(shape):
            raise UserInputError(
                f"The {name} have shape {np.shape(arr)} but the image has "
                f"shape {tuple(shape)} (without channels)."
            )
    num_classes = model.num_classes if isinstance(model, TrainedModel) else None
    if attack.targeted and num_classes is not None and attack.target > num_classes:
        raise UserInputError(
            f"Target class {attack.target} does not exist: the model has classes 1..{num_classes}."
        )
    truth = _targets_from_labels(labels, classes) if labels is not None else None

    low, high = job.low, job.high
    low64, span64 = low.astype(np.float64), (high - low).astype(np.float64)
    rmin, rmax = valid_range(image_cf)
    lower_n, upper_n = (rmin - low64) / span64, (rmax - low64) / span64
    device_setup = network_on(network, device, threads, dims)
    dev = device_setup.__enter__()

    lead_shape, spatial = job.lead_shape, job.spatial
    edge = tile or DEFAULT_TILE[dims]
    windows = list(itertools.product(*(_axis_chunks(s, edge) for s in spatial)))
    units = len(todo) * len(windows)

    out_dtype = np.float32 if keep_float else image_cf.dtype
    adv_cf = np.array(image_cf, dtype=out_dtype, copy=True)
    pert_cf = np.zeros(image_cf.shape, np.float32)
    k_dtype = np.uint8 if (num_classes or 2) < 256 else np.uint16
    clean_pred = np.zeros(shape, k_dtype)
    adv_pred = np.zeros(shape, k_dtype)
    completed = np.zeros(lead_shape, bool)
    cshape = (1, -1) + (1,) * dims
    lower_t = torch.as_tensor(lower_n, dtype=torch.float32, device=dev).view(cshape)
    upper_t = torch.as_tensor(upper_n, dtype=torch.float32, device=dev).view(cshape)
    stopped = False
    unit = 0

    def forward(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), autocast(dev):
            return network(x).float()

    bshape = (-1,) + (1,) * dims

    def attack_tile(region: tuple, unit: int) -> Generator[AttackProgress, None, None]:
        """Attack one tile and write its outputs into the result arrays."""
        raw = np.asarray(image_cf[(slice(None),) + region], np.float64)  # (C, *T)
        x = torch.as_tensor(
            (raw - low64.reshape(bshape)) / span64.reshape(bshape), dtype=torch.float32, device=dev
        )[None]
        clean = forward(x).argmax(1)  # (1, *T) class index
        reference = (
            torch.as_tensor(truth[region], device=dev)[None] if truth is not None else clean.clone()
        )
        targets = (
            torch.full_like(reference, attack.target - 1) if attack.targeted else reference.clone()
        )
        if loss_mask is not None:
            keep = torch.as_tensor(np.asarray(loss_mask[region], bool), device=dev)
            targets[:, ~keep] = -1
        mask = None
        if perturb_mask is not None:
            mask = torch.as_tensor(np.asarray(perturb_mask[region], bool), device=dev)[
                None, None
            ].float()
        work = attack.perturb(
            network, x, targets, lower=lower_t, upper=upper_t, mask=mask, stop=stop
        )
        while True:
            try:
                ev = next(work)  # an AttackStep
            except StopIteration as finished:
                x_adv = finished.value
                break
            yield AttackProgress(
                unit,
                units,
                ev.step,
                ev.total,
                (unit + ev.step / max(ev.total, 1)) / units,
                ev.damage,
            )
        # raw = clean + delta * span: untouched pixels stay exactly the clean value (going
        # back from the float32 normalized image would add float32 round-off, ~1e-5 raw)
        delta_n = (x_adv[0] - x[0]).double().cpu().numpy()
        adv_raw = raw + delta_n * span64.reshape(bshape)
        adv_raw = _to_dtype(adv_raw, raw, out_dtype, rmin, rmax, dims)
        adv_cf[(slice(None),) + region] = adv_raw
        pert_cf[(slice(None),) + region] = adv_raw.astype(np.float64) - raw
        xa = (adv_raw.astype(np.float64) - low64.reshape(bshape)) / span64.reshape(bshape)
        adv = forward(torch.as_tensor(xa, dtype=torch.float32, device=dev)[None]).argmax(1)
        clean_pred[region] = (clean[0] + 1).cpu().numpy()
        adv_pred[region] = (adv[0] + 1).cpu().numpy()

    try:
        for idx in todo:
            for win in windows:
                if stop.requested:
                    break
                yield from attack_tile(idx + win, unit)
                unit += 1
                yield AttackProgress(unit, units, 0, attack.iterations, unit / units, 0.0)
            else:
                completed[idx] = True
            if stop.requested:
                stopped = True
                break
    finally:
        device_setup.__exit__(None, None, None)
    if isinstance(model, TrainedModel):  # the predictions Segment makes (blended tiles)
        finished = [tuple(int(j) for j in i) for i in np.argwhere(completed)]
        clean_pred = _segment(model, image, channel_axis, rgb, finished, device, clean_pred)
        adv_pred = _segment(
            model,
            _from_cf(adv_cf, image.ndim, channel_axis, rgb),
            channel_axis,
            rgb,
            finished,
            device,
            adv_pred,
        )

    done_mask = np.zeros(shape, bool)
    done_mask[completed] = True
    eval_mask = done_mask.copy()
    if loss_mask is not None:
        eval_mask &= np.asarray(loss_mask, bool)
    reference_labels = (truth + 1).astype(k_dtype) if truth is not None else clean_pred
    if truth is not None:
        eval_mask &= truth >= 0
    metrics = attack_metrics(
        clean_pred,
        adv_pred,
        reference_labels,
        eval_mask,
        image_cf,
        pert_cf,
        low64,
        span64,
        attack.eps,
        done_mask,
        num_classes,
    )
    changed = (clean_pred != adv_pred) & done_mask
    return AttackResult(
        attack=attack.describe(),
        adversarial=_from_cf(adv_cf, image.ndim, channel_axis, rgb),
        perturbation=_from_cf(pert_cf, image.ndim, channel_axis, rgb),
        clean_prediction=clean_pred,
        adversarial_prediction=adv_pred,
        changed=changed,
        completed=completed,
        metrics=metrics,
        stopped=stopped,
        elapsed=time.perf_counter() - start,
        iterations=attack.iterations,
        image_dtype=image_cf.dtype,
    )


def _segment(
    model: TrainedModel,
    image: np.ndarray,
    channel_axis: int | None,
    rgb: bool,
    indices: list[tuple[int, ...]],
    device: str,
    out: np.ndarray,
) -> np.ndarray:
    """Class values of ``image`` at ``indices`` exactly as Segment predicts them (tiles
    with overlap and blending, :func:`..prediction.engine.predict`), in ``out`` (zeros elsewhere)."""
    out[...] = 0
    if indices:
        result = run_to_completion(
            predict(
                model,
                image,
                config=PredictionConfig(device=device),
                channel_axis=channel_axis,
                rgb=rgb,
                indices=indices,
            )
        )
        out[...] = result.labels
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


def _from_cf(arr_cf: np.ndarray, ndim: int, channel_axis: int | None, rgb: bool) -> np.ndarray:
    if rgb:
        return np.moveaxis(arr_cf, 0, -1)
    if channel_axis is not None:
        return np.moveaxis(arr_cf, 0, channel_axis % ndim)
    return arr_cf[0]
