"""Training labels from several labels layers, exactly as the user meant them.

Three kinds of source, laid down in this order (later ones win where they have a value):

- ``SEED``: every non-zero pixel counts (a whole layer the user chose to learn from as
  is: quick labels, or a segmentation with "use the whole layer").
- ``CORRECTIONS``: a segmentation the plugin wrote and the user corrected; a pixel counts
  only where it differs from ``reference``, the prediction as written, so the model's
  own uncorrected output never becomes "painted" training data.
- ``STROKES``: the user's painting; every non-zero pixel counts and wins over the rest.

Arrays may be numpy, dask or zarr: they are read one slice of the first axis at a time
(only the merged result, which training needs in memory anyway, is held whole).
Qt-free: used by the Train widget and by scripts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np

from .errors import UserInputError


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
            raise UserInputError(f"'{self.name}' no longer has the shape of the segmentation "
                                 "written into it; tick 'use the whole layer' to learn from "
                                 "all its pixels.")


def _blocks(shape: tuple[int, ...]) -> Iterator[tuple]:
    """Index tuples covering ``shape``: one per slice of the first axis for 3D+ arrays."""
    if len(shape) <= 2:
        yield (Ellipsis,)
        return
    for i in range(shape[0]):
        yield (i,)


def counted_pixels(source: LabelSource, index: tuple = (Ellipsis,)) -> tuple[np.ndarray, np.ndarray]:
    """``(values, mask)`` of ``source`` at ``index``: its labels and where they count."""
    values = np.asarray(source.data[index])
    mask = values != 0
    if source.kind is SourceKind.CORRECTIONS:
        mask &= values != np.asarray(source.reference[index])
    return values, mask


def merge_label_sources(sources: Sequence[LabelSource]) -> np.ndarray:
    """The training labels ``(*spatial)`` of ``sources``; 0 where nothing counts.

    Raises :class:`UserInputError` when the shapes differ or nothing counts at all (for
    example a segmentation nobody corrected, and no strokes).
    """
    if not sources:
        raise UserInputError("Pick at least one labels layer to learn from (your strokes "
                             "and/or the corrected segmentation).")
    shape = tuple(sources[0].data.shape)
    for src in sources[1:]:
        if tuple(src.data.shape) != shape:
            raise UserInputError(f"The labels layers have different shapes ({shape} for "
                                 f"'{sources[0].name}', {tuple(src.data.shape)} for "
                                 f"'{src.name}'); pick layers made for the same image.")
    dtype = np.result_type(*[np.dtype(src.data.dtype) for src in sources])
    merged = np.zeros(shape, dtype=dtype)
    ordered = sorted(sources, key=lambda src: src.kind)  # stable: strokes laid down last
    for index in _blocks(shape):
        out = merged[index]
        for src in ordered:
            values, mask = counted_pixels(src, index)
            out[mask] = values[mask]
    if not merged.any():
        raise UserInputError(_nothing_message(sources))
    return merged


def _nothing_message(sources: Sequence[LabelSource]) -> str:
    corrected = [s.name for s in sources if s.kind is SourceKind.CORRECTIONS]
    if corrected:
        names = ", ".join(f"'{n}'" for n in corrected)
        return (f"Nothing corrected: {names} still equals the model's prediction and no "
                "strokes are painted. Correct some pixels with the brush (or paint strokes), "
                "or tick 'use the whole layer' to learn from the whole segmentation.")
    return "Nothing painted in the chosen layers: paint a few strokes of each class first."
