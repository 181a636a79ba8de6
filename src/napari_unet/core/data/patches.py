"""Windows cut from the spatial axes of an array, mirrored or filled where they leave it.

Shared by the in-memory training units and the lazy ones (:mod:`.lazy_units`), so both
give the same patch for the same window; :func:`window_around` centres a window on the
painted objects (the object-size measurement's window).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MARGIN = 32  # pixels around the painted objects' bounding box (:func:`window_around`)


def inside(start: Sequence[int], size: Sequence[int], spatial: Sequence[int]) -> tuple[slice, ...]:
    """The part of the window ``start + size`` that lies inside ``spatial`` (slices)."""
    return tuple(slice(max(a, 0), min(a + n, s)) for a, n, s in zip(start, size, spatial))


def pad_window(
    part: np.ndarray,
    start: Sequence[int],
    size: Sequence[int],
    spatial: Sequence[int],
    fill: int | None,
) -> np.ndarray:
    """``part`` (the window's :func:`inside` part, leading axes kept) grown to ``size``:
    outside parts mirrored (``fill`` None) or set to ``fill``."""
    pads = [(max(0, -a), max(0, a + n - s)) for a, n, s in zip(start, size, spatial)]
    if not any(b or e for b, e in pads):
        return part
    pads = [(0, 0)] * (part.ndim - len(size)) + pads
    if fill is None:
        return np.pad(part, pads, mode="reflect" if min(part.shape) > 1 else "edge")
    return np.pad(part, pads, constant_values=fill)


def cut_window(
    array: np.ndarray, start: Sequence[int], size: Sequence[int], fill: int | None
) -> np.ndarray:
    """The window ``start + size`` of the last axes of ``array``; outside parts mirrored
    (``fill`` None) or set to ``fill``."""
    spatial = array.shape[array.ndim - len(size) :]
    lead = (slice(None),) * (array.ndim - len(size))
    return pad_window(array[lead + inside(start, size, spatial)], start, size, spatial, fill)


def window_around(
    low: np.ndarray, high: np.ndarray, shape: tuple[int, ...], edge: int
) -> tuple[slice, ...]:
    """The box ``low..high`` plus ``MARGIN``, at most ``edge`` pixels per axis (centred
    on the box), inside ``shape``."""
    out = []
    for lo, hi, n in zip(low, high, shape):
        size = min(n, edge, int(hi - lo) + 1 + 2 * MARGIN)
        start = int(np.clip((lo + hi) // 2 - size // 2, 0, n - size))
        out.append(slice(start, start + size))
    return tuple(out)
