"""Quick class labels from the classical methods of the field, to seed training labels.

Thresholds (Otsu, Li, Yen, Kapur's maximum entropy), edge-based segmentation (Sobel
elevation map + marker watershed) and distance-transform watershed seeding that splits
touching objects. Every method returns *class labels* in the project's convention:
1 = background, 2 = object, and 0 = "not painted" in an optional uncertain band
around the class boundaries (``margin``), so the result can be corrected with napari's
brush and used directly as training labels. Imports neither napari nor Qt.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi
from skimage import filters
from skimage.feature import peak_local_max
from skimage.segmentation import find_boundaries, watershed

from ..errors import UserInputError

BACKGROUND, OBJECT = 1, 2

METHODS: dict[str, str] = {
    "otsu": "Otsu threshold",
    "li": "Li threshold (minimum cross-entropy)",
    "yen": "Yen threshold",
    "max_entropy": "Maximum-entropy threshold (Kapur)",
    "edges": "Edge-based: Sobel edges + watershed",
    "watershed": "Watershed seeding: split touching objects",
}


def threshold_max_entropy(image: np.ndarray, nbins: int = 256) -> float:
    """Kapur-Sahoo-Wong maximum-entropy threshold of ``image`` (any shape).

    Chooses ``t`` maximizing the sum of the entropies of the histograms below and
    above ``t`` (Kapur et al. 1985, CVGIP 29:273). Returns an intensity value.
    """
    values = np.asarray(image, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0 or values.min() == values.max():
        raise UserInputError("The image is constant: no threshold separates two classes.")
    hist, edges = np.histogram(values, bins=nbins)
    p = hist / hist.sum()
    cdf = np.cumsum(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0.0)
        cum_plogp = np.cumsum(plogp)
        total_plogp = cum_plogp[-1]
        # entropy of the normalized lower part [0..t] and upper part (t..]
        low = np.log(cdf) - cum_plogp / cdf
        high_mass = 1.0 - cdf
        high = np.log(high_mass) - (total_plogp - cum_plogp) / high_mass
        score = low + high
    valid = (cdf > 0) & (high_mass > 1e-12)
    score = np.where(valid & np.isfinite(score), score, -np.inf)
    t = int(np.argmax(score))
    return float(edges[t + 1])


THRESHOLDS: dict[str, Callable[[np.ndarray], float]] = {
    "otsu": filters.threshold_otsu,
    "li": filters.threshold_li,
    "yen": filters.threshold_yen,
    "max_entropy": threshold_max_entropy,
}


def _as_float(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype.kind not in "biuf":
        raise UserInputError(f"Quick labels need a numeric image, got dtype {image.dtype}.")
    if image.ndim < 2:
        raise UserInputError(f"Quick labels need a 2D image or a stack, got shape {image.shape}.")
    return image.astype(np.float32, copy=False)


def _edges_2d(image: np.ndarray, invert: bool) -> np.ndarray:
    """Sobel elevation map flooded from confident dark / bright markers -> classes 1/2."""
    lo, hi = np.percentile(image, (30, 70))
    t = filters.threshold_otsu(image) if image.max() > image.min() else lo
    markers = np.zeros(image.shape, np.int32)
    low_marker, high_marker = (OBJECT, BACKGROUND) if invert else (BACKGROUND, OBJECT)
    markers[image < min(lo, t)] = low_marker
    markers[image > max(hi, t)] = high_marker
    elevation = filters.sobel(image)
    return watershed(elevation, markers).astype(np.uint8)


def _watershed_2d(objects: np.ndarray, min_distance: int) -> np.ndarray:
    """Split touching objects of a binary mask; boundaries between objects -> background."""
    distance = ndi.distance_transform_edt(objects)
    coords = peak_local_max(
        distance, min_distance=min_distance, labels=ndi.label(objects)[0], exclude_border=False
    )
    markers = np.zeros(objects.shape, np.int32)
    markers[tuple(coords.T)] = np.arange(1, len(coords) + 1)
    split = watershed(-distance, markers, mask=objects)
    out = np.where(objects, OBJECT, BACKGROUND).astype(np.uint8)
    touching = find_boundaries(split, mode="inner") & objects
    touching &= ndi.grey_dilation(split, size=3) != ndi.grey_erosion(
        np.where(split > 0, split, np.iinfo(np.int32).max), size=3
    )
    out[touching] = BACKGROUND
    return out


def _per_slice(image: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    out = np.zeros(image.shape, np.uint8)
    for idx in np.ndindex(*image.shape[:-2]):
        out[idx] = fn(image[idx])
    return out


def _uncertain_band(labels: np.ndarray, margin: int) -> np.ndarray:
    """Set pixels within ``margin`` of a class boundary (per 2D slice) to 0 = unpainted."""
    if margin <= 0:
        return labels
    out = labels.copy()
    for idx in np.ndindex(*labels.shape[:-2]):
        plane = labels[idx]
        boundary = find_boundaries(plane, mode="thick")
        band = ndi.binary_dilation(boundary, iterations=margin) if margin > 1 else boundary
        out[idx][band] = 0
    return out


def quick_labels(
    image: np.ndarray,
    method: str = "otsu",
    *,
    invert: bool = False,
    smoothing: float = 1.0,
    margin: int = 0,
    min_distance: int = 5,
) -> np.ndarray:
    """Class labels ``uint8`` shaped like ``image`` (2D, or a stack of 2D slices).

    method: a key of :data:`METHODS`. Thresholds are computed on the whole image (one
        value for the stack); edge and watershed methods work slice by slice.
    invert: objects are darker than the background (e.g. EM membranes, stained nuclei
        in brightfield).
    smoothing: Gaussian sigma in pixels applied before thresholding (0 = none).
    margin: pixels within this distance of a class boundary are left unpainted (0).
    Returns 1 = background, 2 = object, 0 = unpainted band.
    """
    if method not in METHODS:
        raise UserInputError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    data = _as_float(image)
    if smoothing > 0:
        sigma = (0,) * (data.ndim - 2) + (smoothing, smoothing)
        data = ndi.gaussian_filter(data, sigma)
    if float(data.max()) == float(data.min()):
        raise UserInputError("The image is constant: there is nothing to separate.")
    if method == "edges":
        labels = _per_slice(data, lambda plane: _edges_2d(plane, invert))
    else:
        t = THRESHOLDS["otsu" if method == "watershed" else method](data)
        objects = data < t if invert else data > t
        if method == "watershed":
            labels = _per_slice(objects, lambda plane: _watershed_2d(plane, min_distance))
        else:
            labels = np.where(objects, OBJECT, BACKGROUND).astype(np.uint8)
    return _uncertain_band(labels, margin)
