"""Simulated brush strokes from a dense mask: what a person paints in a minute.

Used by the benchmarks, the tests and the synthetic sample data. Each stroke is a
random walk that stays inside one class, thickened by a small brush, so strokes follow
thin structures (membranes) as well as blobs (nuclei).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

_STEPS = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])


def simulate_strokes(
    classes: np.ndarray,
    *,
    strokes_per_class: int = 6,
    stroke_length: int = 60,
    brush_radius: int = 1,
    max_fraction: float = 0.01,
    seed: int = 0,
) -> np.ndarray:
    """Sparse labels (0 = unpainted, class values kept) drawn inside each class of a 2D mask.

    ``classes``: ``(Y, X)`` integer mask whose non-zero values are the classes to paint
    (e.g. 1 = background, 2 = object). At most ``max_fraction`` of pixels are painted.
    """
    if classes.ndim != 2:
        raise ValueError(f"simulate_strokes works on 2D masks, got shape {classes.shape}.")
    rng = np.random.default_rng(seed)
    out = np.zeros(classes.shape, classes.dtype)
    budget = int(max_fraction * classes.size)
    values = [v for v in np.unique(classes) if v != 0]
    disk = ndi.generate_binary_structure(2, 1)
    for value in values:
        region = classes == value
        inner = ndi.binary_erosion(region, iterations=brush_radius + 1)
        seeds_from = inner if inner.sum() > 10 * stroke_length else region
        candidates = np.argwhere(seeds_from)
        if candidates.size == 0:
            continue
        share = budget // len(values)
        painted = np.zeros(classes.shape, bool)
        for _ in range(strokes_per_class):
            pos = candidates[rng.integers(len(candidates))]
            direction = rng.integers(len(_STEPS))
            path = [tuple(pos)]
            for _ in range(stroke_length):
                for _attempt in range(8):
                    step = _STEPS[(direction + rng.integers(-1, 2)) % len(_STEPS)]
                    nxt = pos + step
                    if (
                        0 <= nxt[0] < classes.shape[0]
                        and 0 <= nxt[1] < classes.shape[1]
                        and seeds_from[tuple(nxt)]
                    ):
                        pos = nxt
                        direction = int(np.flatnonzero((_STEPS == step).all(1))[0])
                        path.append(tuple(pos))
                        break
                    direction = rng.integers(len(_STEPS))
            line = np.zeros(classes.shape, bool)
            line[tuple(np.array(path).T)] = True
            if brush_radius:
                line = ndi.binary_dilation(line, disk, iterations=brush_radius)
            line &= region
            if painted.sum() + line.sum() > share:
                break
            painted |= line
        out[painted] = value
    return out
