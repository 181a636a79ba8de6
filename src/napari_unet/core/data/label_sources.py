"""Training labels from several labels layers, exactly as the user meant them.

Three kinds of source, laid down in this order (later ones win where they have a value):

- ``SEED``: every non-zero pixel counts (a whole layer the user chose to learn from as
  is: quick labels, or a segmentation with "use the whole layer").
- ``CORRECTIONS``: a segmentation the plugin wrote and the user corrected; a pixel counts
  only where it differs from ``reference``, the prediction as written, so the model's
  own uncorrected output never becomes "painted" training data.
- ``STROKES``: the user's painting; every non-zero pixel counts and wins over the rest.

Arrays may be numpy, dask or zarr. NumPy sources are merged in memory, one slice of the
first axis at a time; when any source is lazy (a zarr-backed segmentation of a stack
larger than memory) the merge is a lazy dask array, computed chunk by chunk when
training reads it (:mod:`.lazy_units`), never held whole.
Qt-free: used by the Train widget and by scripts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np

from ..errors import UserInputError
from ..io.lazy_arrays import as_array, chunk_regions, full_resolution, is_lazy, read


class SourceKind(IntEnum):
    """How a source's pixels count; a higher kind wins where both have a value."""

    SEED = 0
    CORRECTIONS = 1
    STROKES = 2


@dataclass(frozen=True)
class LabelSource:
    """One labels array to learn from.

    data: integer labels ``(*spatial)``, 0 = nothing. reference: for ``CORRECTIONS``, the
    prediction as the plugin wrote it, shaped like ``data`` (any array-like that slices).
    """

    name: str
    data: Any
    kind: SourceKind
    reference: Any = None

    def __post_init__(self) -> None:
        if self.kind is SourceKind.CORRECTIONS and self.reference is None:
            raise ValueError(f"'{self.name}': corrections need the prediction they correct.")
        if self.reference is not None and tuple(self.reference.shape) != tuple(self.data.shape):
            raise UserInputError(
                f"'{self.name}' no longer has the shape of the segmentation "
                "written into it; tick 'use the whole layer' to learn from "
                "all its pixels."
            )


def _blocks(shape: tuple[int, ...]) -> Iterator[tuple]:
    """Index tuples covering ``shape``: one per slice of the first axis for 3D+ arrays."""
    if len(shape) <= 2:
        yield (Ellipsis,)
        return
    for i in range(shape[0]):
        yield (i,)


def counted_pixels(
    source: LabelSource, index: tuple = (Ellipsis,)
) -> tuple[np.ndarray, np.ndarray]:
    """``(values, mask)`` of ``source`` at ``index``: its labels and where they count."""
    values = np.asarray(source.data[index])
    corrections = source.kind is SourceKind.CORRECTIONS
    reference = np.asarray(source.reference[index]) if corrections else None
    return values, _counts(values, source.kind, reference)


def _counts(values: np.ndarray, kind: SourceKind, reference: np.ndarray | None) -> np.ndarray:
    """Where ``values`` count: non-zero, and for corrections different from ``reference``."""
    mask = values != 0
    if kind is SourceKind.CORRECTIONS:
        mask &= values != reference
    return mask


def merge_label_sources(sources: Sequence[LabelSource]) -> Any:
    """The training labels ``(*spatial)`` of ``sources``; 0 where nothing counts (a NumPy
    array, or a lazy dask array when a source is lazy).

    Raises :class:`UserInputError` when the shapes differ or nothing counts at all (for
    example a segmentation nobody corrected, and no strokes).
    """
    if not sources:
        raise UserInputError(
            "Pick at least one labels layer to learn from (your strokes "
            "and/or the corrected segmentation)."
        )
    shape = tuple(sources[0].data.shape)
    for src in sources[1:]:
        if tuple(src.data.shape) != shape:
            raise UserInputError(
                f"The labels layers have different shapes ({shape} for "
                f"'{sources[0].name}', {tuple(src.data.shape)} for "
                f"'{src.name}'); pick layers made for the same image."
            )
    dtype = np.result_type(*[np.dtype(src.data.dtype) for src in sources])
    ordered = sorted(sources, key=lambda src: src.kind)  # stable: strokes laid down last
    if any(is_lazy(a) for src in sources for a in _arrays(src)):
        return _lazy_merge(ordered, dtype)
    merged = np.zeros(shape, dtype=dtype)
    for index in _blocks(shape):
        out = merged[index]
        for src in ordered:
            values, mask = counted_pixels(src, index)
            out[mask] = values[mask]
    if not merged.any():
        raise UserInputError(_nothing_message(sources))
    return merged


def _arrays(source: LabelSource) -> list[Any]:
    """The arrays a source is read from: its data, and the reference of corrections."""
    return [source.data] + ([source.reference] if source.kind is SourceKind.CORRECTIONS else [])


def _lazy_merge(ordered: Sequence[LabelSource], dtype: np.dtype) -> Any:
    """The merge of ``ordered`` (weakest first) as a lazy dask array on the chunks of the
    first lazy source; checked chunk by chunk (stopping at the first) that something counts."""
    import dask.array as da

    arrays = [full_resolution(a) for src in ordered for a in _arrays(src)]
    chunks = next(as_array(a).chunks for a in arrays if is_lazy(a))
    arrays = [
        da.from_array(a, chunks=chunks)
        if isinstance(a, np.ndarray)
        else as_array(a).rechunk(chunks)
        for a in arrays
    ]
    kinds = [src.kind for src in ordered]

    def merge(*blocks: np.ndarray) -> np.ndarray:
        out, parts = np.zeros(blocks[0].shape, dtype), iter(blocks)
        for kind in kinds:
            values = next(parts)
            mask = _counts(values, kind, next(parts) if kind is SourceKind.CORRECTIONS else None)
            out[mask] = values[mask]
        return out

    merged = da.map_blocks(merge, *arrays, dtype=dtype)
    if not any(read(merged, region).any() for region in chunk_regions(merged)):
        raise UserInputError(_nothing_message(ordered))
    return merged


def _nothing_message(sources: Sequence[LabelSource]) -> str:
    corrected = [s.name for s in sources if s.kind is SourceKind.CORRECTIONS]
    if corrected:
        names = ", ".join(f"'{n}'" for n in corrected)
        return (
            f"Nothing corrected: {names} still equals the model's prediction and no "
            "strokes are painted. Correct some pixels with the brush (or paint strokes), "
            "or tick 'use the whole layer' to learn from the whole segmentation."
        )
    return "Nothing painted in the chosen layers: paint a few strokes of each class first."
