"""Turning images and painted labels into training patches and validation windows.

Only the parts of the data that hold painted pixels are kept: with a 2D model, the
painted 2D slices of any stack; with a 3D model, the painted volumes. Each such *unit*
is normalized once, padded to at least one patch, and split into training and
validation pixels by blocks (so validation pixels are spatially apart from training
pixels, as a held-back stroke would be).

Lazy images or labels (dask, zarr, napari multiscale) are never read whole: the painted
pixels are found chunk by chunk of the labels and a unit reads only the windows that are
sampled from it (:mod:`.lazy_units`); the patches are the same as for NumPy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.images import Normalization, channels_first, check_spatial
from ..data.labels import IGNORE, TargetEncoder, check_labels
from ..data.lazy_units import SparseUnit, painted_pixels
from ..data.patches import cut_window
from ..errors import UserInputError
from ..io.lazy_arrays import is_lazy, read, readable

VALIDATION_BLOCK = {2: 32, 3: 16}
MIN_PIXELS_FOR_VALIDATION = 100


@dataclass
class Unit:
    """One normalized training unit held in memory. image: (C, *S) float32; targets:
    (*S) int64. Lazy images use :class:`.lazy_units.SparseUnit`, which answers the same
    questions without holding the unit."""

    image: np.ndarray
    targets: np.ndarray  # training targets, validation pixels set to IGNORE
    validation: np.ndarray  # validation targets, training pixels set to IGNORE

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.targets.shape)

    def image_window(self, start: Sequence[int], size: Sequence[int]) -> np.ndarray:
        return cut_window(self.image, start, size, None)

    def target_window(self, start: Sequence[int], size: Sequence[int]) -> np.ndarray:
        return cut_window(self.targets, start, size, IGNORE)

    def training_pixels(self, target: int) -> np.ndarray:
        """Ascending flat positions of the training pixels of class ``target``."""
        return np.flatnonzero(self.targets == target)

    def painted_values(self) -> np.ndarray:
        """Target classes of the training pixels, in ascending position order."""
        return self.targets[self.targets != IGNORE]

    def validation_count(self) -> int:
        return int((self.validation != IGNORE).sum())

    def in_blocks(self, pick: np.ndarray, block: int) -> np.ndarray:
        """For each training pixel: does its ``block``-sized cell have ``pick`` set?"""
        return pick[tuple(c // block for c in np.nonzero(self.targets != IGNORE))]

    def hold_out(self, chosen: np.ndarray) -> None:
        """Move the ``chosen`` training pixels (mask over :meth:`painted_values`) to validation."""
        at = tuple(c[chosen] for c in np.nonzero(self.targets != IGNORE))
        self.validation[at] = self.targets[at]
        self.targets[at] = IGNORE

    def validation_windows(self, patch: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Patches ``[(image (C, *P), targets (*P))]`` covering every validation pixel once."""
        windows = []
        remaining = self.validation.copy()
        while True:
            idx = np.flatnonzero(remaining != IGNORE)
            if idx.size == 0:
                break
            centre = np.unravel_index(int(idx[0]), remaining.shape)
            start = [
                int(np.clip(c - size // 4, 0, s - size))
                for c, size, s in zip(centre, patch, remaining.shape)
            ]
            window = tuple(slice(a, a + size) for a, size in zip(start, patch))
            windows.append((self.image[(slice(None),) + window], remaining[window].copy()))
            remaining[window] = IGNORE
        return windows


@dataclass(frozen=True)
class SourceImage:
    """One image of the training set as the units read it: ``image_cf`` ``(C, *lead, *S)``
    (NumPy or lazy) and its per-channel normalization statistics ``low``, ``high`` (C,)."""

    image_cf: Any
    low: np.ndarray
    high: np.ndarray


@dataclass
class TrainingData:
    """The painted units of a training set. ``keys[i]`` says where unit ``i`` comes from:
    ``(index of its image in the training set, leading index in that image)``."""

    units: list[Unit | SparseUnit]
    patch_size: tuple[int, ...]
    num_classes: int
    class_pixels: np.ndarray  # (K,) painted training pixels per class
    validation_pixels: int
    keys: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    images: list[SourceImage] = field(default_factory=list)

    @property
    def painted_pixels(self) -> int:
        return int(self.class_pixels.sum()) + self.validation_pixels

    @property
    def image_count(self) -> int:
        """Images in the training set (those without painted pixels included)."""
        return len(self.images) or 1

    def unit_image(self, index: int) -> int:
        """The training-set image unit ``index`` was cut from (0 without ``keys``)."""
        return self.keys[index][0] if self.keys else 0

    def image_class_pixels(self) -> np.ndarray:
        """Painted training pixels ``(images, K)`` per image and class."""
        out = np.zeros((self.image_count, self.num_classes), np.int64)
        for i, u in enumerate(self.units):
            out[self.unit_image(i)] += np.bincount(u.painted_values(), minlength=self.num_classes)[
                : self.num_classes
            ]
        return out

    def recount(self) -> None:
        """Update ``class_pixels`` and ``validation_pixels`` after the units changed."""
        self.class_pixels = self.image_class_pixels().sum(0)
        self.validation_pixels = sum(u.validation_count() for u in self.units)

    def class_weights(self) -> np.ndarray:
        """Inverse square-root frequency weights, mean 1, for the classes that are painted."""
        counts = self.class_pixels.astype(np.float64)
        w = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
        w *= (counts > 0).sum() / max(w.sum(), 1e-12)
        return w.astype(np.float32)


def build_training_data(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    encoder: TargetEncoder,
    normalization: Normalization,
    spatial_dims: int,
    patch_size: tuple[int, ...],
    in_channels: int,
    validation_fraction: float,
    rng: np.random.Generator,
    channel_axis: int | None = None,
    rgb: bool = False,
) -> TrainingData:
    """Collect painted units from all images; see the module docstring."""
    if len(images) != len(labels):
        raise UserInputError(
            f"Got {len(images)} images but {len(labels)} label images; "
            "give one label image per image."
        )
    if not images:
        raise UserInputError("No training images were given.")
    units: list[Unit | SparseUnit] = []
    keys: list[tuple[int, tuple[int, ...]]] = []
    sources: list[SourceImage] = []
    for n, (image, lab) in enumerate(zip(images, labels)):
        image_cf = channels_first(image, channel_axis, rgb)
        check_spatial(image_cf, spatial_dims)
        if image_cf.shape[0] != in_channels:
            raise UserInputError(
                f"Image {n + 1} has {image_cf.shape[0]} channel(s) but the model expects "
                f"{in_channels}. Pick an image with {in_channels} channel(s) or train a new model."
            )
        lab = readable(lab)
        check_labels(lab, image_cf.shape[1:], name=f"labels of image {n + 1}")
        low, high = normalization.statistics(image_cf)
        sources.append(SourceImage(image_cf, low, high))
        if is_lazy(image_cf) or is_lazy(lab):  # read chunk by chunk, patch by patch
            found = _lazy_units(image_cf, lab, encoder, low, high, spatial_dims, patch_size)
            units.extend(found.values())
            keys.extend((n, lead) for lead in found)
            continue
        lead_shape = lab.shape[: lab.ndim - spatial_dims]
        for lead in np.ndindex(*lead_shape):
            targets = encoder.encode(np.asarray(lab[lead]))
            if not (targets != IGNORE).any():
                continue
            units.append(in_memory_unit(sources[-1], lead, targets, patch_size))
            keys.append((n, lead))
    if not units:
        raise UserInputError("No painted pixels found. Paint a few strokes of each class first.")
    k = encoder.classes.num_classes
    _split_validation(units, spatial_dims, validation_fraction, k, rng)
    data = TrainingData(units, patch_size, k, np.zeros(k, np.int64), 0, keys, sources)
    data.recount()
    return data


def in_memory_unit(
    source: SourceImage, lead: tuple[int, ...], targets: np.ndarray, patch: tuple[int, ...]
) -> Unit:
    """The unit at ``lead`` of ``source``, normalized, with training ``targets`` (*S)."""
    chunk = np.asarray(source.image_cf[(slice(None),) + tuple(lead)])
    return _make_unit(Normalization.apply(chunk, source.low, source.high), targets, patch)


def _lazy_units(
    image_cf: Any,
    lab: Any,
    encoder: TargetEncoder,
    low: np.ndarray,
    high: np.ndarray,
    dims: int,
    patch: tuple[int, ...],
) -> dict[tuple[int, ...], Unit | SparseUnit]:
    """Units of a lazy image or labels array by leading index: painted pixels found chunk
    by chunk; a unit at least one patch large stays on disk (:class:`SparseUnit`), a
    smaller one is read and padded as in memory."""
    units: dict[tuple[int, ...], Unit | SparseUnit] = {}
    shape = tuple(lab.shape[len(lab.shape) - dims :])
    for lead, (flat, values) in painted_pixels(lab, encoder, dims).items():
        if all(s >= p for s, p in zip(shape, patch)):
            units[lead] = SparseUnit(image_cf, lead, low, high, shape, flat, values)
            continue
        targets = np.full(shape, IGNORE, np.int64)
        targets.flat[flat] = values
        norm = Normalization.apply(read(image_cf, (slice(None), *lead)), low, high)
        units[lead] = _make_unit(norm, targets, patch)
    return units


def _make_unit(norm: np.ndarray, targets: np.ndarray, patch: tuple[int, ...]) -> Unit:
    """Pad a unit to at least ``patch`` in every axis (reflect image, ignore targets)."""
    pads = [(0, max(0, p - s)) for p, s in zip(patch, targets.shape)]
    if any(after for _, after in pads):
        mode = "reflect" if all(after < s for (_, after), s in zip(pads, targets.shape)) else "edge"
        norm = np.pad(norm, [(0, 0)] + pads, mode=mode)
        targets = np.pad(targets, pads, constant_values=IGNORE)
    return Unit(norm, targets, np.full_like(targets, IGNORE))


def _split_validation(
    units: list[Unit | SparseUnit], dims: int, fraction: float, k: int, rng: np.random.Generator
) -> None:
    """Move the painted pixels of a random ``fraction`` of blocks to validation.

    Nothing is held back when there are too few painted pixels, or when a class would
    lose all its training pixels.
    """
    values = [u.painted_values() for u in units]
    if fraction <= 0 or sum(v.size for v in values) < MIN_PIXELS_FOR_VALIDATION:
        return
    block = VALIDATION_BLOCK[dims]
    chosen = []
    for u in units:
        grid = tuple(-(-s // block) for s in u.shape)
        chosen.append(u.in_blocks(rng.random(grid) < fraction, block))
    remaining = np.zeros(k, np.int64)
    painted = np.zeros(k, np.int64)
    for v, mask in zip(values, chosen):
        remaining += np.bincount(v[~mask], minlength=k)[:k]
        painted += np.bincount(v, minlength=k)[:k]
    if ((painted > 0) & (remaining == 0)).any() or not any(m.any() for m in chosen):
        return
    for u, mask in zip(units, chosen):
        u.hold_out(mask)


class PatchSampler:
    """Draws training windows centred near painted pixels, classes drawn uniformly.

    Each window is placed so that a randomly chosen painted pixel of a randomly chosen
    class falls inside its central patch: a few strokes on a large image still give
    every batch something to learn from. The pixels of a class are pooled over all the
    units of all the images, so each image of a training set gives patches of a class in
    proportion to its painted pixels of that class, whatever the image's size. ``context`` (>= 1, per spatial axis) makes the
    window larger than the patch, for augmentations that zoom out or rotate
    (:func:`napari_unet.core.training.augment.context_factor`); the painted pixel then lies
    within a quarter patch of the window centre, so it stays in view at a zoom of 2.
    Parts of a window outside the unit are mirrored (image) and ignored (targets).
    """

    def __init__(
        self, data: TrainingData, rng: np.random.Generator, context: Sequence[float] | None = None
    ) -> None:
        self.data = data
        self.rng = rng
        p = data.patch_size
        factors = tuple(context) if context is not None else (1.0,) * len(p)
        self.window = tuple(max(s, int(math.ceil(s * f))) for s, f in zip(p, factors))
        self._by_class: list[tuple[np.ndarray, np.ndarray]] = []
        self.drawn_units: list[int] = []  # unit of each window drawn by the last sample()
        self.refresh()

    def refresh(self) -> None:
        """Re-read the units' training pixels (after strokes were added or erased)."""
        by_class = []
        for c in range(self.data.num_classes):
            unit_ids, flat = [], []
            for i, u in enumerate(self.data.units):
                idx = u.training_pixels(c)
                unit_ids.append(np.full(idx.size, i, np.int32))
                flat.append(idx)
            ids = np.concatenate(unit_ids) if unit_ids else np.zeros(0, np.int32)
            if ids.size:
                by_class.append((ids, np.concatenate(flat)))
        if not by_class:
            raise UserInputError("No painted training pixels left.")
        self._by_class = by_class

    def _start(self, centre: int, patch: int, window: int, extent: int) -> int:
        if window == patch:  # plain patch: the painted pixel anywhere in it, inside the unit
            return int(np.clip(centre - self.rng.integers(0, patch), 0, extent - patch))
        offset = int(self.rng.integers(-(patch // 4), patch // 4 + 1))
        return centre + offset - window // 2

    def sample(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Return images ``(B, C, *W)`` float32 and targets ``(B, *W)`` int64, W = window."""
        xs, ys = [], []
        self.drawn_units = []
        for _ in range(batch_size):
            ids, flat = self._by_class[self.rng.integers(len(self._by_class))]
            j = self.rng.integers(ids.size)
            self.drawn_units.append(int(ids[j]))
            unit = self.data.units[int(ids[j])]
            centre = np.unravel_index(int(flat[j]), unit.shape)
            start = [
                self._start(int(c), p, w, s)
                for c, p, w, s in zip(centre, self.data.patch_size, self.window, unit.shape)
            ]
            xs.append(unit.image_window(start, self.window))
            ys.append(unit.target_window(start, self.window))
        return np.stack(xs), np.stack(ys)


def validation_windows(data: TrainingData) -> list[tuple[np.ndarray, np.ndarray]]:
    """Patches that cover every validation pixel once: [(image (C, *P), targets (*P))].

    A pixel already scored by an earlier window is ignored in later ones.
    """
    return [w for _, w in image_validation_windows(data)]


def image_validation_windows(
    data: TrainingData,
) -> list[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """:func:`validation_windows`, each with the index of its training-set image."""
    return [
        (data.unit_image(i), w)
        for i, u in enumerate(data.units)
        for w in u.validation_windows(data.patch_size)
    ]
