"""Training units of images and labels that may not fit in memory (dask, zarr, ...).

The painted pixels are found chunk by chunk of the labels (:func:`painted_pixels`): only
their flat positions and target classes are kept, about 10 bytes per painted pixel,
whatever the size of the stack. A :class:`SparseUnit` then reads and normalizes the image
of a training window only when that window is sampled, and builds its targets from the
kept positions. For the same random draws it gives exactly the patches of the in-memory
:class:`.training_data.Unit` (same windows, same mirroring at the borders, same
normalization), so lazy and NumPy training are the same training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..io.lazy_arrays import chunk_regions, read, readable
from .images import Normalization
from .labels import IGNORE, TargetEncoder
from .patches import inside, pad_window, window_around


def painted_pixels(
    labels: Any, encoder: TargetEncoder, spatial_dims: int
) -> dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]]:
    """Painted pixels of ``labels`` ``(*lead, *spatial)`` per unit (leading index, in
    ascending order): ``(flat, targets)``, flat positions in the unit ascending (int64)
    and their target classes 0..K-1 (uint8). Reads one chunk of ``labels`` at a time."""
    arr = readable(labels)  # read directly: a dask graph per chunk costs ~ms
    n_lead = len(arr.shape) - spatial_dims
    spatial = tuple(arr.shape[n_lead:])
    found: dict[tuple[int, ...], list[tuple[np.ndarray, np.ndarray]]] = {}
    for region in chunk_regions(arr):
        targets = encoder.encode(read(arr, region))
        hit = np.nonzero(targets != IGNORE)
        if not hit[0].size:
            continue
        coords = [h + r.start for h, r in zip(hit, region)]
        values = targets[hit].astype(np.uint8)
        flat = np.ravel_multi_index(tuple(coords[n_lead:]), spatial)
        leads = np.stack(coords[:n_lead], axis=1) if n_lead else np.zeros((flat.size, 0), int)
        for lead in np.unique(leads, axis=0):
            at = np.all(leads == lead, axis=1)
            found.setdefault(tuple(int(i) for i in lead), []).append((flat[at], values[at]))
    out = {}
    for lead in sorted(found):
        flat = np.concatenate([f for f, _ in found[lead]])
        values = np.concatenate([v for _, v in found[lead]])
        order = np.argsort(flat, kind="stable")
        out[lead] = (flat[order].astype(np.int64), values[order])
    return out


@dataclass
class SparseUnit:
    """One training unit of a lazy image, read on demand.

    source: the channels-first image ``(C, *lead, *S)`` (lazy or NumPy); lead: this
    unit's leading index; low / high: per-channel normalization statistics ``(C,)``;
    shape: the unit's spatial shape S (at least one patch in every axis); flat / values:
    painted pixels (ascending flat positions in S, target classes); held_out: which of
    them are validation pixels.
    """

    source: Any
    lead: tuple[int, ...]
    low: np.ndarray
    high: np.ndarray
    shape: tuple[int, ...]
    flat: np.ndarray
    values: np.ndarray
    held_out: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.held_out = np.zeros(self.flat.size, bool)

    # -------------------------------------------------------- what the sampler asks
    def image_window(self, start: Sequence[int], size: Sequence[int]) -> np.ndarray:
        """Normalized image ``(C, *size)`` float32 of the window; only its inside is read."""
        part = read(self.source, (slice(None), *self.lead, *inside(start, size, self.shape)))
        norm = Normalization.apply(part, self.low, self.high)
        return pad_window(norm, start, size, self.shape, None)

    def target_window(self, start: Sequence[int], size: Sequence[int]) -> np.ndarray:
        """Training targets ``(*size)`` int64 of the window, IGNORE where unpainted/outside."""
        return self._window(np.flatnonzero(~self.held_out), start, size)[0]

    def training_pixels(self, target: int) -> np.ndarray:
        """Ascending flat positions of the training pixels of class ``target``."""
        return self.flat[(self.values == target) & ~self.held_out]

    def painted_values(self) -> np.ndarray:
        """Target classes of the training pixels, in ascending position order (int64)."""
        return self.values[~self.held_out].astype(np.int64)

    def validation_count(self) -> int:
        return int(self.held_out.sum())

    def object_crop(self, edge: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``(image (C, *W), strokes (*W))`` around the painted object pixels (classes > 0,
        training and validation), as :func:`.object_scale.painted_object_diameter` would
        cut its window from the whole unit, plus one pixel on sides that are not the
        unit's edge (so objects cut by the window are still told apart); None when no
        object pixel is painted. strokes: class indices, IGNORE where unpainted."""
        objects = self.flat[self.values > 0]
        if not objects.size:
            return None
        points = np.stack(np.unravel_index(objects, self.shape), axis=1)
        window = window_around(points.min(0), points.max(0), self.shape, edge)
        start = [max(w.start - 1, 0) for w in window]
        size = [min(w.stop + 1, s) - a for w, s, a in zip(window, self.shape, start)]
        strokes, _ = self._window(np.arange(self.flat.size), start, size)
        return self.image_window(start, size), strokes

    # -------------------------------------------------------- validation split
    def in_blocks(self, pick: np.ndarray, block: int) -> np.ndarray:
        """For each training pixel (ascending order): does its ``block``-sized cell have
        ``pick`` set? ``pick``: bool grid ``ceil(S / block)``."""
        coords = np.unravel_index(self.flat[~self.held_out], self.shape)
        return pick[tuple(c // block for c in coords)]

    def hold_out(self, chosen: np.ndarray) -> None:
        """Move the ``chosen`` training pixels (mask over :meth:`painted_values`) to validation."""
        self.held_out[np.flatnonzero(~self.held_out)[chosen]] = True

    def validation_windows(self, patch: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Patches covering every validation pixel once, as the in-memory unit makes them."""
        windows = []
        left = np.flatnonzero(self.held_out)
        while left.size:
            centre = np.unravel_index(int(self.flat[left[0]]), self.shape)
            start = [
                int(np.clip(c - p // 4, 0, s - p)) for c, p, s in zip(centre, patch, self.shape)
            ]
            targets, within = self._window(left, start, patch)
            windows.append((self.image_window(start, patch), targets))
            left = left[~within]
        return windows

    def _window(
        self, which: np.ndarray, start: Sequence[int], size: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Targets ``(*size)`` of the painted pixels ``which`` (indices into ``flat``) in
        the window, and which of ``which`` lie in it."""
        out = np.full(tuple(size), IGNORE, np.int64)
        rows = int(np.prod(self.shape[1:], dtype=np.int64))  # flat span of one first-axis row
        lo, hi = np.searchsorted(
            self.flat[which],
            [max(start[0], 0) * rows, min(start[0] + size[0], self.shape[0]) * rows],
        )
        coords = np.unravel_index(self.flat[which[lo:hi]], self.shape)
        inner = np.ones(hi - lo, bool)
        for c, a, n in zip(coords, start, size):
            inner &= (c >= a) & (c < a + n)
        out[tuple(c[inner] - a for c, a in zip(coords, start))] = self.values[which[lo:hi][inner]]
        within = np.zeros(which.size, bool)
        within[lo:hi] = inner
        return out, within
