"""Cells bounded by membranes: instance labels from the probability of a boundary class.

Where the user paints "membrane" and "inside", cells are the regions the membranes
enclose. Connected components of the interior merge two cells through a single gap in
their shared membrane; this module instead

1. **over-segments**: a seeded watershed of the (lightly smoothed) boundary probability,
   seeded at the maxima of the distance transform of the non-boundary map
   (``boundary < threshold``, distances in physical units from ``spacing``). A gap in a
   membrane is a narrow neck of that map, so each side keeps its own seed;
2. **merges** neighbouring regions whose shared face has a low mean boundary probability
   (below ``merge_threshold``): a region adjacency graph agglomerated greedily, weakest
   face first, face means updated after every merge (scikit-image's ``rag_boundary`` and
   ``merge_hierarchical``). Two seeds in one cell meet on interior pixels and merge; two
   cells meet on their membrane, whose gap is only a small part of the face, and stay apart.
   Faces are weighed on the unsmoothed probability: smoothing lowers a thin, sharp
   membrane's middle to about 0.7, so with the smoothed map the true cells of a perfect
   2-voxel membrane map merged (plant3d, merge threshold 0.6: F1 0.51, unsmoothed 0.81);
3. **absorbs small regions**: regions under ``min_size`` pixels are removed and their
   pixels flooded again from the regions around them (a watershed of the boundary
   probability). Small regions are mostly slivers along membranes left by the
   over-segmentation; dropping them would leave holes that no cell owns, whereas flooding
   gives each pixel to the neighbour it is least separated from.

A 2D model predicting a stack gives ``(K, Z, Y, X)`` probabilities of independent slices:
``spatial_dims=2`` then segments every slice on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi
from skimage import graph
from skimage.morphology import h_maxima
from skimage.segmentation import relabel_sequential, watershed

# Defaults chosen on ISBI 2012 slices 5-19 (benchmarks/bench_cells.py --tune, seeds 0-2;
# the scored slices 20-24 never): the best sum of the U-Net's and the forest's errors there.
DEFAULT_THRESHOLD = 0.5  # boundary probability above which a pixel is membrane (seeding)
DEFAULT_MERGE_THRESHOLD = 0.7  # neighbours whose face's mean probability is below merge
DEFAULT_MIN_SIZE = 100  # pixels (voxels in 3D); smaller regions join their neighbours
DEFAULT_SEED_DEPTH = 1.0  # finest-axis pixels a distance maximum must rise above its saddle
SMOOTHING_SIGMA = 1.0  # finest-axis pixels


def boundary_instances(
    probabilities: np.ndarray,
    boundary_class: int,
    *,
    background_class: int | None = None,
    spacing: Sequence[float] | None = None,
    spatial_dims: int | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    merge_threshold: float = DEFAULT_MERGE_THRESHOLD,
    min_size: int = DEFAULT_MIN_SIZE,
) -> np.ndarray:
    """Cells enclosed by the class ``boundary_class`` of a prediction's probabilities.

    probabilities: ``(K, *S)`` class probabilities (class values 1..K, channel ``k - 1``
        is class ``k``), as :func:`~napari_unet.core.predict` returns them with
        ``PredictionConfig(probabilities=True)``; ``S`` is ``(Y, X)`` or ``(Z, Y, X)``.
    boundary_class: the class value (1..K) of the membranes.
    background_class: optional class value (1..K) of what is outside every cell; pixels
        where it is the most probable class get id 0. None: every pixel is in a cell.
    spacing, spatial_dims, threshold, merge_threshold, min_size: as
        :func:`instances_from_boundary_map`.
    Returns uint32 ids ``(*S)`` (0 = background).
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim not in (3, 4):
        raise ValueError(
            f"probabilities must be (K, Y, X) or (K, Z, Y, X), got shape {probabilities.shape}."
        )
    classes = probabilities.shape[0]
    for name, value in (("boundary_class", boundary_class), ("background_class", background_class)):
        if value is not None and not 1 <= value <= classes:
            raise ValueError(f"{name} must be a class value 1..{classes}, got {value}.")
    if background_class == boundary_class:
        raise ValueError("background_class and boundary_class must differ.")
    outside = None
    if background_class is not None:
        outside = probabilities.argmax(axis=0) == background_class - 1
    return instances_from_boundary_map(
        probabilities[boundary_class - 1],
        outside=outside,
        spacing=spacing,
        spatial_dims=spatial_dims,
        threshold=threshold,
        merge_threshold=merge_threshold,
        min_size=min_size,
    )


def instances_from_boundary_map(
    boundary: np.ndarray,
    *,
    outside: np.ndarray | None = None,
    spacing: Sequence[float] | None = None,
    spatial_dims: int | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    merge_threshold: float = DEFAULT_MERGE_THRESHOLD,
    min_size: int = DEFAULT_MIN_SIZE,
) -> np.ndarray:
    """Cells of a boundary probability map (see the module docstring for the method).

    boundary: ``(*S)`` probability of membrane in [0, 1], ``S`` 2D or 3D.
    outside: optional bool ``(*S)``: pixels in no cell (id 0).
    spacing: voxel size per spatial axis of one segmentation (e.g. ``(z, y, x)`` in µm);
        distances and smoothing follow it. None: isotropic.
    spatial_dims: 2 segments each slice of a 3D ``boundary`` on its own (a 2D model on
        a stack); None or ``boundary.ndim``: one segmentation of the whole array.
    threshold: boundary probability above which a pixel is membrane when seeding.
    merge_threshold: neighbours whose shared face's mean boundary probability is below
        it become one cell; higher merges more (0 keeps the over-segmentation).
    min_size: regions under this many pixels (voxels) join their neighbours.
    Returns uint32 ids ``(*S)`` (0 = background), unique over the whole array.
    """
    boundary = np.asarray(boundary, np.float32)
    dims = spatial_dims or boundary.ndim
    _check_settings(boundary, dims, spacing, threshold, merge_threshold, min_size)
    if outside is not None and outside.shape != boundary.shape:
        raise ValueError(f"outside has shape {outside.shape}, boundary {boundary.shape}.")
    settings = dict(
        spacing=spacing, threshold=threshold, merge_threshold=merge_threshold, min_size=min_size
    )
    if dims == boundary.ndim:
        return _segment(boundary, outside, **settings)
    out = np.zeros(boundary.shape, np.uint32)
    next_id = 0
    for z in range(boundary.shape[0]):
        cells = _segment(boundary[z], None if outside is None else outside[z], **settings)
        out[z] = np.where(cells > 0, cells + next_id, 0)
        next_id = int(out[z].max(initial=next_id))
    return out


def _check_settings(
    boundary: np.ndarray,
    dims: int,
    spacing: Sequence[float] | None,
    threshold: float,
    merge_threshold: float,
    min_size: int,
) -> None:
    if boundary.ndim not in (2, 3) or dims not in (2, boundary.ndim):
        raise ValueError(
            f"boundary must be 2D or 3D with spatial_dims 2 or its own ndim; got shape "
            f"{boundary.shape} and spatial_dims {dims}."
        )
    if spacing is not None and (
        len(spacing) != dims or not all(np.isfinite(s) and s > 0 for s in spacing)
    ):
        raise ValueError(f"spacing must be {dims} positive numbers, got {tuple(spacing)}.")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}.")
    if not 0.0 <= merge_threshold <= 1.0:
        raise ValueError(f"merge_threshold must be in [0, 1], got {merge_threshold}.")
    if min_size < 0:
        raise ValueError(f"min_size must not be negative, got {min_size}.")


def _segment(
    boundary: np.ndarray,
    outside: np.ndarray | None,
    *,
    spacing: Sequence[float] | None,
    threshold: float,
    merge_threshold: float,
    min_size: int,
) -> np.ndarray:
    """Over-segment, merge, absorb small regions: uint32 ids of one 2D or 3D array."""
    sampling = _relative_spacing(spacing, boundary.ndim)
    smooth = ndi.gaussian_filter(boundary, SMOOTHING_SIGMA / sampling)
    inside = None if outside is None else ~outside
    regions = over_segment(smooth, threshold, sampling, inside)
    if merge_threshold > 0:  # faces weighed on the prediction itself (see the docstring)
        regions = merge_regions(regions, boundary, merge_threshold)
    regions = absorb_small_regions(regions, smooth, min_size, inside)
    return relabel_sequential(regions)[0].astype(np.uint32, copy=False)


def _relative_spacing(spacing: Sequence[float] | None, ndim: int) -> np.ndarray:
    """Voxel size per axis in units of the finest axis (1 for the finest)."""
    if spacing is None:
        return np.ones(ndim)
    values = np.asarray(spacing, np.float64)
    return values / values.min()


def over_segment(
    boundary: np.ndarray,
    threshold: float,
    sampling: np.ndarray,
    inside: np.ndarray | None = None,
) -> np.ndarray:
    """Watershed of ``boundary`` ``(*S)`` seeded at the maxima of the distance (voxel size
    ``sampling`` per axis) to the nearest membrane pixel (``boundary >= threshold``).

    Maxima must rise :data:`DEFAULT_SEED_DEPTH` above their saddle (h-maxima), so plateaus
    and ripples give one seed; each connected piece of the non-membrane map gets at least
    one. ``inside``: optional bool mask of the pixels to label. Returns int32 ids ``(*S)``.
    """
    interior = boundary < threshold
    if inside is not None:
        interior &= inside
    distance = ndi.distance_transform_edt(interior, sampling=sampling)
    seeds = h_maxima(distance, DEFAULT_SEED_DEPTH) & interior
    markers, count = ndi.label(seeds)
    pieces, n_pieces = ndi.label(interior)
    unseeded = np.setdiff1d(np.arange(1, n_pieces + 1), pieces[markers > 0])
    if unseeded.size:  # pieces thinner than the seed depth keep a seed of their own
        extra = np.isin(pieces, unseeded)
        markers[extra] = count + np.searchsorted(unseeded, pieces[extra]) + 1
    return watershed(boundary, markers, mask=inside)


def merge_regions(regions: np.ndarray, boundary: np.ndarray, merge_threshold: float) -> np.ndarray:
    """Merge neighbouring regions of ``regions`` ``(*S)`` (0 = outside, never merged) while
    the weakest shared face has a mean ``boundary`` ``(*S)`` below ``merge_threshold``.

    Face means are pooled (pixel sums and counts) as regions merge. Returns int ids
    ``(*S)``, 0 where ``regions`` is 0.
    """
    if regions.max() < 2:
        return regions
    rag = graph.rag_boundary(regions, boundary, connectivity=1)
    if rag.has_node(0):
        rag.remove_node(0)
    merged = graph.merge_hierarchical(
        regions,
        rag,
        thresh=merge_threshold,
        rag_copy=False,
        in_place_merge=True,
        merge_func=_no_op,
        weight_func=_pooled_face_mean,
    )
    return np.where(regions > 0, merged + 1, 0)  # merge_hierarchical numbers from 0


def _no_op(rag: graph.RAG, src: int, dst: int) -> None:
    """Nothing to update on the nodes before a merge (the faces carry all we need)."""


def _pooled_face_mean(rag: graph.RAG, src: int, dst: int, neighbour: int) -> dict[str, float]:
    """Mean boundary probability and pixel count of the face between the merged node
    (``src`` + ``dst``) and ``neighbour``: the two faces' pixels pooled."""
    faces = [rag[node][neighbour] for node in (src, dst) if rag.has_edge(node, neighbour)]
    count = sum(face["count"] for face in faces)
    total = sum(face["weight"] * face["count"] for face in faces)
    return {"count": count, "weight": total / count}


def absorb_small_regions(
    regions: np.ndarray, boundary: np.ndarray, min_size: int, inside: np.ndarray | None = None
) -> np.ndarray:
    """Regions under ``min_size`` pixels removed and their pixels flooded from the regions
    around them (a watershed of ``boundary`` within ``inside``); shapes ``(*S)``. A piece
    of ``inside`` holding only small regions keeps them."""
    if min_size <= 1 or regions.max() == 0:
        return regions
    sizes = np.bincount(regions.ravel())
    large = np.where(sizes[regions] >= min_size, regions, 0)
    if not large.any():
        return regions
    flooded = watershed(boundary, large, mask=regions > 0 if inside is None else inside)
    stranded = (flooded == 0) & (regions > 0)
    if stranded.any():  # cut off from every large region: keep the small ones there
        flooded[stranded] = regions[stranded] + flooded.max()
    return flooded
