"""Sliding-window tiles with overlap and smooth blending weights.

Tiles are as few as possible and all of one size: an axis of length ``L`` with a nominal
tile ``T`` and at least ``O`` pixels of overlap takes ``n = ceil(L / T)`` tiles of size
``t = ceil((L + (n - 1) O) / n)`` (rounded up to the model's size multiple, so at most
about ``T + O``), spread evenly. A 2048-pixel axis with T=1024, O=32 takes 2 tiles of 1040
pixels (1.6% more pixels than the axis), where a fixed 1024 tile with a fixed stride would
take 3; and every tile has the same shape, so tiles of all slices share batches.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def axis_tiles(length: int, tile: int, overlap: int, multiple: int = 1) -> tuple[int, list[int]]:
    """Return ``(size, starts)`` of the tiles along one axis."""
    if length <= tile:
        return length, [0]
    overlap = min(overlap, tile // 2)
    n = math.ceil(length / tile)
    size = math.ceil((length + (n - 1) * overlap) / n)
    size = min(length, -(-size // multiple) * multiple)
    starts = np.round(np.linspace(0, length - size, n)).astype(int).tolist()
    return size, starts


def tile_grid(
    shape: tuple[int, ...], tile: tuple[int, ...], overlap: tuple[int, ...], multiple: int = 1
) -> tuple[tuple[int, ...], list[tuple[slice, ...]]]:
    """Tile size and the list of tile windows (tuples of slices) covering ``shape``."""
    sizes, starts = [], []
    for length, t, o in zip(shape, tile, overlap):
        size, st = axis_tiles(length, t, o, multiple)
        sizes.append(size)
        starts.append(st)
    windows = [
        tuple(slice(s, s + size) for s, size in zip(corner, sizes))
        for corner in itertools.product(*starts)
    ]
    return tuple(sizes), windows


def _ramp(size: int, overlap: int) -> np.ndarray:
    """1D weight: a raised-cosine rise over ``overlap`` pixels at each end, 1 in the middle."""
    w = np.ones(size, np.float32)
    o = min(overlap, size // 2)
    if o > 0:
        rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(o) + 0.5) / o)
        w[:o] = rise
        w[-o:] = rise[::-1]
    return w


def blend_weights(
    tile_size: tuple[int, ...],
    window: tuple[slice, ...],
    shape: tuple[int, ...],
    overlap: tuple[int, ...],
) -> np.ndarray:
    """Separable weight of one tile; edges on the image border keep full weight (no seams,
    no darkening at the border). Shape: ``tile_size``."""
    weight = np.ones((), np.float32)
    for size, win, length, o in zip(tile_size, window, shape, overlap):
        w = _ramp(size, o)
        if win.start == 0:
            w[: size // 2] = 1.0
        if win.stop >= length:
            w[size - size // 2 :] = 1.0
        weight = np.multiply.outer(weight, w)
    return np.maximum(weight, 1e-3).astype(np.float32)
