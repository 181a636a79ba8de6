"""Lazy access to images that may not fit in memory.

The core accepts NumPy arrays, dask arrays, zarr arrays, any array-like with ``shape``,
``dtype`` and slicing (a tifffile zarr store, h5py...), and napari multiscale data (a list
of levels, of which the first, full-resolution level is used). Everything that is not
already a NumPy array becomes a dask array *without reading it*: layout changes (moving
the channel axis) stay lazy, and :func:`read` loads only the region asked for.
(Workers of a dask cluster open an image by path: :class:`.image_files.SourceSpec`.)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

# per-axis sample counts of the intensity statistics (see :func:`sample_grid`)
SAMPLE_PLANE_EDGE = 724  # at most ~724 x 724 values per plane
SAMPLE_PLANES = 8  # at most 8 evenly spaced planes of a stack


def is_lazy(array: Any) -> bool:
    """True for anything that is not a NumPy array (dask, zarr, multiscale, ...)."""
    return not isinstance(array, np.ndarray)


def full_resolution(image: Any) -> Any:
    """Level 0 of napari multiscale data (a list or tuple of arrays); ``image`` otherwise."""
    if isinstance(image, (list, tuple)) and image and all(hasattr(a, "shape") for a in image):
        return image[0]
    levels = getattr(image, "_data", None)  # napari's MultiScaleData wraps a list of levels
    if isinstance(levels, (list, tuple)) and levels and hasattr(levels[0], "shape"):
        return levels[0]
    return image


def as_array(image: Any) -> Any:
    """A NumPy array unchanged, anything else as a lazy dask array (nothing is read)."""
    image = full_resolution(image)
    if isinstance(image, np.ndarray):
        return image
    import dask.array as da

    if isinstance(image, da.Array):
        return image
    if hasattr(image, "shape") and hasattr(image, "dtype") and hasattr(image, "__getitem__"):
        chunks = getattr(image, "chunks", None)
        if not (
            isinstance(chunks, tuple)
            and len(chunks) == len(image.shape)
            and all(isinstance(c, int) for c in chunks)
        ):
            chunks = "auto"
        return da.from_array(image, chunks=chunks, asarray=True, fancy=False)
    return np.asarray(image)


def readable(array: Any) -> Any:
    """``array`` for :func:`read` and :func:`chunk_regions`: NumPy, dask and other sliceable
    arrays (zarr...) as they are (level 0 of multiscale data), anything else as NumPy.
    Unlike :func:`as_array` it adds no dask graph: reading a zarr chunk directly is ~ms
    faster per chunk."""
    array = full_resolution(array)
    if hasattr(array, "shape") and hasattr(array, "dtype") and hasattr(array, "__getitem__"):
        return array
    return np.asarray(array)


def read(array: Any, region: tuple = ()) -> np.ndarray:
    """Load ``array[region]`` as a NumPy array (only the chunks it touches are read)."""
    part = array[region] if region else array
    if isinstance(part, np.ndarray):
        return part
    compute = getattr(part, "compute", None)
    if compute is not None:  # synchronous: also safe inside a dask worker
        return np.asarray(compute(scheduler="synchronous"))
    return np.asarray(part)


def chunk_regions(array: Any) -> Iterator[tuple[slice, ...]]:
    """Regions that cover ``array`` once, each small enough to read on its own: the
    chunks of a lazy array (its own, as :func:`as_array` takes them), the slices of a
    NumPy array's first axis (the whole array when it has two axes or fewer)."""
    if not isinstance(array, np.ndarray):
        from dask.array.core import slices_from_chunks

        yield from slices_from_chunks(as_array(array).chunks)
        return
    rest = tuple(slice(0, n) for n in array.shape[1:])
    if array.ndim <= 2:
        yield tuple(slice(0, n) for n in array.shape)
        return
    for i in range(array.shape[0]):
        yield (slice(i, i + 1),) + rest


def sample_grid(shape: Sequence[int]) -> tuple[slice, ...]:
    """Strided selection of at most ~4 M elements spread over an N-D ``shape``.

    The last two axes are sampled with a stride giving at most ``SAMPLE_PLANE_EDGE``
    values each; the leading axes together give at most ``SAMPLE_PLANES`` evenly spaced
    planes, so a lazy stack is read only at those planes. The same selection serves
    NumPy and lazy arrays, so both get the same statistics.
    """
    out = []
    lead = shape[:-2] if len(shape) > 2 else ()
    n_lead = int(np.prod(lead)) if lead else 1
    keep = max(1, math.ceil(n_lead / SAMPLE_PLANES))  # stride over flattened leading axes
    for n in lead:  # spend the stride on the first leading axes
        step = min(n, keep)
        out.append(slice(None, None, step) if step > 1 else slice(None))
        keep = max(1, math.ceil(keep / n))
    for n in shape[len(lead) :]:
        out.append(slice(None, None, max(1, math.ceil(n / SAMPLE_PLANE_EDGE))))
    return tuple(out)


def sample(channel: Any) -> np.ndarray:
    """Flat strided sample (see :func:`sample_grid`) of one channel, read plane by plane."""
    grid = sample_grid(channel.shape)
    if isinstance(channel, np.ndarray):
        return channel[grid].reshape(-1)
    lead = len(channel.shape) - 2
    if lead <= 0:
        return read(channel, grid).reshape(-1)
    picked = channel[grid[:lead]]
    return np.concatenate(
        [read(picked, idx + grid[lead:]).reshape(-1) for idx in np.ndindex(*picked.shape[:lead])]
    )
