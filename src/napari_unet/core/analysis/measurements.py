"""Per-object measurements of instance labels in physical units, memory bounded.

One row per object (label id > 0), computed by scikit-image's ``regionprops_table``
with ``spacing=`` (no geometry here): area (2D) or volume (3D) and equivalent diameter in
the given unit, centroid in the unit, bounding box in pixels, mean / min / max intensity
per channel, eccentricity and solidity in 2D, and the object's class when a class map is
given (the class most of its pixels have). :func:`column_names` says the columns.

Lazy labels and images (dask, zarr, a lazily opened TIFF) are never read whole. A first
pass reads the labels block by block and merges each object's bounding box
(``scipy.ndimage.find_objects`` per block); a second pass measures, block by block, the
objects whose box lies inside the block, and each object that crosses a block border on
its own bounding-box crop. Every object is measured once, on all its pixels, so the table
equals a whole-array ``regionprops_table``. Memory holds one block of labels and image
(about ``block_bytes``) or the bounding box of the largest object crossing a border.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops_table

from ..errors import UserInputError
from ..io.lazy_arrays import as_array, is_lazy, read, readable
from ..stopping import StopFlag, run_to_completion

AXES = {2: ("y", "x"), 3: ("z", "y", "x")}
DEFAULT_BLOCK_BYTES = 64 << 20  # labels + image + classes of one block
SHAPE = ("label", "area", "centroid", "bbox", "equivalent_diameter_area")
INTENSITY = ("intensity_mean", "intensity_min", "intensity_max")
SHAPE_2D = ("eccentricity", "solidity")
PIXEL_UNIT = "px"
Table = dict[str, np.ndarray]  # column name -> values, one per object, sorted by label


@dataclass(frozen=True)
class MeasureProgress:
    """``done`` of ``total`` steps of a ``stage``: ``"boxes"`` (first pass, blocks) or
    ``"objects"`` (second pass: blocks, then objects crossing block borders)."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class _Sources:
    """What is measured: ``labels`` ``(*S)``, ``image`` ``(*S, C)`` channels last or
    None, ``classes`` ``(*S)`` or None, all readable region by region."""

    labels: Any
    image: Any | None
    classes: Any | None
    spacing: tuple[float, ...]

    @property
    def properties(self) -> tuple[str, ...]:
        extra = INTENSITY if self.image is not None else ()
        return SHAPE + extra + (SHAPE_2D if self.labels.ndim == 2 else ())

    def read_labels(self, region: tuple[slice, ...]) -> np.ndarray:
        block = read(self.labels, region)
        return block.astype(np.uint8) if block.dtype == bool else block


def measure_objects(
    labels: Any,
    image: Any | None = None,
    *,
    spacing: Sequence[float] | None = None,
    unit: str | None = None,
    channel_axis: int | None = None,
    class_labels: Any | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> Table:
    """The measurement table of ``labels``; see :func:`measure_objects_steps`."""
    return run_to_completion(
        measure_objects_steps(
            labels,
            image,
            spacing=spacing,
            unit=unit,
            channel_axis=channel_axis,
            class_labels=class_labels,
            block_bytes=block_bytes,
        )
    )


def measure_objects_steps(
    labels: Any,
    image: Any | None = None,
    *,
    spacing: Sequence[float] | None = None,
    unit: str | None = None,
    channel_axis: int | None = None,
    class_labels: Any | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    stop: StopFlag | None = None,
) -> Generator[MeasureProgress, None, Table | None]:
    """Measure every object of ``labels``, yielding :class:`MeasureProgress`.

    labels: ``(*S)`` instance ids, 0 = background, ``S`` 2D ``(Y, X)`` or 3D ``(Z, Y, X)``;
    NumPy or lazy. image: ``(*S)`` or, with ``channel_axis``, ``(*S)`` plus a channel axis
    there (``-1`` for RGB); None for shape only. spacing: physical size of a pixel per axis
    of ``S`` (default 1); unit: its unit (default ``"px"`` without spacing, else
    ``"units"``). class_labels: ``(*S)`` class map, adds a ``class`` column.
    Returns the table (see :func:`column_names`), or None when ``stop`` was requested.
    """
    sources, unit = _sources(labels, image, spacing, unit, channel_axis, class_labels)
    blocks = measurement_blocks(sources, block_bytes)
    stop = stop or StopFlag()
    boxes = []
    for done, region in enumerate(blocks, 1):
        if stop.requested:
            return None
        boxes.append(block_boxes(sources.read_labels(region), region))
        yield MeasureProgress("boxes", done, len(blocks))
    ids, starts, stops = merge_boxes(boxes, sources.labels.ndim)
    parts = measurement_plan(blocks, ids, starts, stops)
    tables = []
    for done, (region, owned, others) in enumerate(parts, 1):
        if stop.requested:
            return None
        if owned.size:
            tables.append(_measure_region(sources, region, owned, others))
        yield MeasureProgress("objects", done, len(parts))
    table = _concatenate(tables) if tables else _measure_region(sources, blocks[0], ids, False)
    return _named(table, sources, unit)


def measurement_plan(
    blocks: list[tuple[slice, ...]], ids: np.ndarray, starts: np.ndarray, stops: np.ndarray
) -> list[tuple[tuple[slice, ...], np.ndarray, bool]]:
    """``(region, owned ids, others)`` to measure: each block with the objects whose box
    ``starts`` / ``stops`` ``(n, d)`` lies inside it, then each object crossing a block
    border with its own box. ``others``: whether other objects' pixels are in the region."""
    plan, crossing = [], np.ones(ids.size, bool)
    for region in blocks:
        inside = _inside(starts, stops, region)
        crossing &= ~inside
        plan.append((region, ids[inside], bool((_overlaps(starts, stops, region) & ~inside).any())))
    for i in np.flatnonzero(crossing):
        region = tuple(slice(int(a), int(b)) for a, b in zip(starts[i], stops[i]))
        plan.append((region, ids[i : i + 1], True))
    return plan


def _inside(starts: np.ndarray, stops: np.ndarray, region: tuple[slice, ...]) -> np.ndarray:
    """Which boxes ``(n, d)`` lie inside ``region``."""
    low = np.array([s.start for s in region])
    high = np.array([s.stop for s in region])
    return np.all(starts >= low, axis=1) & np.all(stops <= high, axis=1)


def _overlaps(starts: np.ndarray, stops: np.ndarray, region: tuple[slice, ...]) -> np.ndarray:
    """Which boxes ``(n, d)`` share pixels with ``region``."""
    low = np.array([s.start for s in region])
    high = np.array([s.stop for s in region])
    return np.all(starts < high, axis=1) & np.all(stops > low, axis=1)


def column_names(ndim: int, unit: str, channels: int = 0, classes: bool = False) -> dict[str, str]:
    """``regionprops_table``'s columns -> the table's columns, in the table's order.

    ndim: 2 or 3; unit: of the spacing; channels: of the image (0: no image); classes:
    whether a class map was given. Lengths are in ``unit``, the bounding box in pixels
    (start inclusive, end exclusive), intensities in the image's own values.
    """
    axes = AXES[ndim]
    names = {"label": "label", **({"class": "class"} if classes else {})}
    names["area"] = f"area [{unit}^2]" if ndim == 2 else f"volume [{unit}^3]"
    names.update({f"centroid-{i}": f"centroid_{a} [{unit}]" for i, a in enumerate(axes)})
    names["equivalent_diameter_area"] = f"equivalent_diameter [{unit}]"
    if ndim == 2:
        names.update({name: name for name in SHAPE_2D})
    for prop in INTENSITY:
        for c in range(channels):
            names[f"{prop}-{c}"] = prop if channels == 1 else f"{prop}_ch{c}"
    names.update({f"bbox-{i}": f"bbox_start_{a} [px]" for i, a in enumerate(axes)})
    names.update({f"bbox-{i + ndim}": f"bbox_end_{a} [px]" for i, a in enumerate(axes)})
    return names


def _named(table: Table, sources: _Sources, unit: str) -> Table:
    channels = 0 if sources.image is None else int(sources.image.shape[-1])
    names = column_names(sources.labels.ndim, unit, channels, sources.classes is not None)
    return {name: np.asarray(table[raw]) for raw, name in names.items()}


def _spacing(spacing: Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * ndim
    values = tuple(float(s) for s in spacing)
    if len(values) != ndim or not all(math.isfinite(s) and s > 0 for s in values):
        raise UserInputError(
            f"Pixel spacing {values} does not fit {ndim}D labels: give {ndim} positive "
            f"sizes, one per axis ({', '.join(AXES[ndim])})."
        )
    return values


def _sources(
    labels: Any,
    image: Any | None,
    spacing: Sequence[float] | None,
    unit: str | None,
    channel_axis: int | None,
    class_labels: Any | None,
) -> tuple[_Sources, str]:
    """The checked inputs of a measurement and the unit of its lengths."""
    labels = readable(labels)
    shape = tuple(labels.shape)
    if len(shape) not in AXES:
        raise UserInputError(
            f"Measurements take 2D (Y, X) or 3D (Z, Y, X) labels; these have shape {shape}. "
            "Measure each time point or channel on its own."
        )
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise UserInputError(
            f"The labels hold {labels.dtype} values; instance labels are integers "
            "(0 = background, one id per object)."
        )
    classes = None if class_labels is None else readable(class_labels)
    if classes is not None and tuple(classes.shape) != shape:
        raise UserInputError(
            f"The class map has shape {tuple(classes.shape)} but the labels {shape}; "
            "give the class labels of the same segmentation."
        )
    unit = unit or (PIXEL_UNIT if spacing is None else "units")
    image = _channels_last(image, channel_axis, shape)
    return _Sources(labels, image, classes, _spacing(spacing, len(shape))), unit


def _channels_last(image: Any | None, channel_axis: int | None, shape: tuple) -> Any | None:
    """``image`` as ``(*S, C)`` (lazy stays lazy), checked against the labels' ``S``."""
    if image is None:
        return None
    image = as_array(image)
    ndim = image.ndim
    if channel_axis is None:
        image = image[..., None]
    elif -ndim <= channel_axis < ndim:
        image = np.moveaxis(image, channel_axis, -1)
    else:
        raise UserInputError(f"Channel axis {channel_axis}: the image has only {ndim} axes.")
    if tuple(image.shape[:-1]) != shape:
        hint = "" if channel_axis is not None else "; if it has channels, say which axis holds them"
        raise UserInputError(
            f"The image has shape {tuple(as_array(image).shape[:-1])} without channels but "
            f"the labels {shape}; measure labels with the image they segment{hint}."
        )
    return image


def measurement_blocks(sources: _Sources, block_bytes: int) -> list[tuple[slice, ...]]:
    """Regions tiling the labels, each at most ~``block_bytes`` of labels, image and
    classes, aligned to the chunks of the lazy input. NumPy inputs: one region."""
    shape = tuple(sources.labels.shape)
    lazy = [a for a in (sources.labels, sources.classes, sources.image) if a is not None]
    lazy = [a for a in lazy if is_lazy(a)]
    if not lazy:
        return [tuple(slice(0, n) for n in shape)]
    edge = list(as_array(lazy[0]).chunksize[: len(shape)])
    per_pixel = sum(
        a.dtype.itemsize * (a.shape[-1] if a is sources.image else 1)
        for a in (sources.labels, sources.classes, sources.image)
        if a is not None
    )
    grew = True
    while grew:  # double the edges, last axis first, while a block fits the budget
        grew = False
        for axis in reversed(range(len(shape))):
            wider = edge[:axis] + [min(shape[axis], 2 * edge[axis])] + edge[axis + 1 :]
            if wider[axis] > edge[axis] and math.prod(wider) * per_pixel <= block_bytes:
                edge, grew = wider, True
    starts = [range(0, n, e) for n, e in zip(shape, edge)]
    return [
        tuple(slice(a, min(a + e, n)) for a, e, n in zip(corner, edge, shape))
        for corner in itertools.product(*starts)
    ]


def _small_ids(block: np.ndarray) -> bool:
    """Whether ``block``'s largest id is small enough for ``find_objects``' list of boxes."""
    return not block.size or int(block.max()) <= max(block.size, 1 << 16)


def compact_ids(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``labels`` with large sparse ids (say 10**12) renumbered 1..n, and the original id
    of each new one (``(n + 1,)``, 0 first); ``(labels, None)`` when the ids are small."""
    if _small_ids(labels):
        return labels, None
    ids, inverse = np.unique(labels, return_inverse=True)
    if ids[0] != 0:  # no background here: keep new ids from 1
        ids, inverse = np.r_[0, ids], inverse + 1
    return inverse.reshape(labels.shape), ids


def block_boxes(block: np.ndarray, region: tuple[slice, ...]) -> tuple[np.ndarray, ...]:
    """``(ids, starts, stops)`` of the objects in ``block``, the labels read at ``region``:
    ids ``(n,)``, box starts and stops ``(n, d)`` in whole-array pixels (stop exclusive)."""
    low, top = (int(block.min()), int(block.max())) if block.size else (0, 0)
    if low < 0:
        raise UserInputError(
            f"The labels hold negative values ({low}); instance labels are 0 for background "
            "and a positive id per object."
        )
    compact, original_ids = compact_ids(block)
    values = np.arange(top + 1) if original_ids is None else original_ids
    slices = ndi.find_objects(compact)  # slices[k] is the box of compact id k + 1
    found = [(values[k + 1], s) for k, s in enumerate(slices) if s is not None]
    ndim, offset = block.ndim, np.array([r.start for r in region], dtype=np.int64)
    starts = np.array([[p.start for p in s] for _, s in found], np.int64).reshape(-1, ndim)
    stops = np.array([[p.stop for p in s] for _, s in found], np.int64).reshape(-1, ndim)
    ids = np.array([v for v, _ in found], np.int64)
    return ids, starts + offset, stops + offset


def merge_boxes(parts: list[tuple[np.ndarray, ...]], ndim: int) -> tuple[np.ndarray, ...]:
    """The blocks' ``(ids, starts, stops)`` merged: one box per id, ids sorted."""
    ids = np.concatenate([p[0] for p in parts])
    starts = np.concatenate([p[1] for p in parts]).reshape(-1, ndim)
    stops = np.concatenate([p[2] for p in parts]).reshape(-1, ndim)
    if ids.size == 0:
        return ids, starts, stops
    order = np.argsort(ids, kind="stable")
    unique, first = np.unique(ids[order], return_index=True)
    return (
        unique,
        np.minimum.reduceat(starts[order], first, axis=0),
        np.maximum.reduceat(stops[order], first, axis=0),
    )


def _measure_region(
    sources: _Sources, region: tuple[slice, ...], owned: np.ndarray, others: bool
) -> Table:
    """regionprops_table of the objects ``owned`` (whole inside ``region``), in
    whole-array coordinates; ``others``: leave out other objects' pixels first."""
    labels = sources.read_labels(region)
    if others:
        labels = np.where(np.isin(labels, owned), labels, 0)
    labels, original_ids = compact_ids(labels)
    image = None if sources.image is None else read(sources.image, region)
    table = regionprops_table(labels, image, properties=sources.properties, spacing=sources.spacing)
    if sources.classes is not None:
        table["class"] = majority_class(labels, read(sources.classes, region), table["label"])
    if original_ids is not None:
        table["label"] = original_ids[table["label"]]
    ndim = labels.ndim
    for axis, (piece, step) in enumerate(zip(region, sources.spacing)):
        table[f"centroid-{axis}"] = table[f"centroid-{axis}"] + piece.start * step
        table[f"bbox-{axis}"] = table[f"bbox-{axis}"] + piece.start
        table[f"bbox-{axis + ndim}"] = table[f"bbox-{axis + ndim}"] + piece.start
    return table


def majority_class(labels: np.ndarray, classes: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The class most pixels of each object have (ties: the lowest class).

    labels, classes: ``(*S)``; ids: ``(n,)`` objects present in ``labels``. Returns ``(n,)``.
    """
    if ids.size == 0:
        return np.zeros(0, np.int64)
    foreground = labels > 0
    pairs = np.stack([labels[foreground], classes[foreground]]).astype(np.int64)
    (objects, values), counts = np.unique(pairs, axis=1, return_counts=True)
    order = np.lexsort((-counts, objects))  # by object, the most frequent class first
    objects, values = objects[order], values[order]
    first = np.r_[True, objects[1:] != objects[:-1]] if objects.size else objects.astype(bool)
    return values[first][np.searchsorted(objects[first], ids)]


def _concatenate(tables: list[Table]) -> Table:
    """One table of the regions' tables, rows sorted by label."""
    table = {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}
    order = np.argsort(table["label"], kind="stable")
    return {k: v[order] for k, v in table.items()}


def measure_stack(
    labels: Any,
    image: Any | None = None,
    *,
    spatial_dims: int,
    channel_axis: int | None = None,
    class_labels: Any | None = None,
    **options: Any,
) -> Table:
    """:func:`measure_objects` on each unit of a stack: the last ``spatial_dims`` axes of
    ``labels`` ``(*lead, *S)`` are one image, the leading axes index slices (or time
    points) whose object ids are their own. One table, with a column ``index_<i>`` per
    leading axis before ``label``. ``image``: ``(*lead, *S)`` or with channels at
    ``channel_axis``; ``class_labels``: ``(*lead, *S)``; ``options``: of
    :func:`measure_objects`."""
    lead = labels.ndim - spatial_dims
    if lead <= 0:
        return measure_objects(
            labels, image, channel_axis=channel_axis, class_labels=class_labels, **options
        )
    if image is not None and channel_axis is not None:  # channels last: units index alike
        image = as_array(image)
        axis = channel_axis % image.ndim
        image = image.transpose([a for a in range(image.ndim) if a != axis] + [axis])
        channel_axis = -1
    labels, image, class_labels = (  # lazy views: a unit is read block by block
        None if a is None else as_array(a) for a in (labels, image, class_labels)
    )
    tables = []
    for index in np.ndindex(*labels.shape[:lead]):
        table = measure_objects(
            labels[index],
            None if image is None else image[index],
            channel_axis=channel_axis,
            class_labels=None if class_labels is None else class_labels[index],
            **options,
        )
        count = len(table["label"])
        leads = {f"index_{i}": np.full(count, value, np.int64) for i, value in enumerate(index)}
        tables.append({**leads, **table})
    return {name: np.concatenate([t[name] for t in tables]) for name in tables[0]}
