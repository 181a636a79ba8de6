"""Windows cut from the spatial axes of an array, mirrored or filled where they leave it.

Shared by the in-memory training units and the lazy ones (:mod:`.lazy_units`), so both
give the same patch for the same window.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def inside(start: Sequence[int], size: Sequence[int], spatial: Sequence[int]) -> tuple[slice, ...]:
    """The part of the window ``start + size`` that lies inside ``spatial`` (slices)."""
    return tuple(slice(max(a, 0), min(a + n, s)) for a, n, s in zip(start, size, spatial))


def pad_window(part: np.ndarray, start: Sequence[int], size: Sequence[int],
               spatial: Sequence[int], fill: int | None) -> np.ndarray:
    """``part`` (the window's :func:`inside` part, leading axes kept) grown to ``size``:
    outside parts mirrored (``fill`` None) or set to ``fill``."""
    pads = [(max(0, -a), max(0, a + n - s)) for a, n, s in zip(start, size, spatial)]
    if not any(b or e for b, e in pads):
        return part
    pads = [(0, 0)] * (part.ndim - len(size)) + pads
    if fill is None:
        return np.pad(part, pads, mode="reflect" if min(part.shape) > 1 else "edge")
    return np.pad(part, pads, constant_values=fill)


def cut_window(array: np.ndarray, start: Sequence[int], size: Sequence[int],
               fill: int | None) -> np.ndarray:
    """The window ``start + size`` of the last axes of ``array``; outside parts mirrored
    (``fill`` None) or set to ``fill``."""
    spatial = array.shape[array.ndim - len(size):]
    lead = (slice(None),) * (array.ndim - len(size))
    return pad_window(array[lead + inside(start, size, spatial)], start, size, spatial, fill)
