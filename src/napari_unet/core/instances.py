"""Instance labels from class labels: connected components, touching objects split."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

BACKGROUND = 1


def instance_labels(
    class_labels: np.ndarray, *, min_size: int = 16, split_touching: bool = True,
    split_depth: float = 2.0,
) -> np.ndarray:
    """Objects of every non-background class (values >= 2) as separate instances.

    Touching objects are split by a watershed of the distance transform, seeded at its
    regional maxima that stand at least ``split_depth`` pixels above the neck between
    them. Objects under ``min_size`` pixels are dropped.
    Returns uint32 ids (0 = background), the shape of ``class_labels``.
    """
    out = np.zeros(class_labels.shape, np.uint32)
    next_id = 1
    for value in np.unique(class_labels):
        if value <= BACKGROUND:
            continue
        mask = class_labels == value
        components, n = ndi.label(mask)
        if n == 0:
            continue
        objects = components
        if split_touching:
            distance = ndi.distance_transform_edt(mask)
            markers, _ = ndi.label(h_maxima(distance, split_depth))
            # components too thin for a marker keep one of their own
            unmarked = np.setdiff1d(np.arange(1, n + 1), np.unique(components[markers > 0]))
            if unmarked.size:
                extra = np.isin(components, unmarked)
                markers[extra] = components[extra] + markers.max()
            objects = watershed(-distance, markers, mask=mask)
        sizes = np.bincount(objects.ravel())
        keep = np.flatnonzero(sizes >= min_size)
        keep = keep[keep > 0]
        lut = np.zeros(sizes.size, np.uint32)
        lut[keep] = np.arange(next_id, next_id + keep.size, dtype=np.uint32)
        out[mask] = lut[objects[mask]]
        next_id += keep.size
    return out
