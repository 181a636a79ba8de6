"""What a resumed prediction reuses is verified: a checksum per written block.

A zarr prediction output (see :mod:`.zarr_files`) marks each block done only after its
outputs are written, so a run killed mid-block (``kill -9``) leaves that block unmarked
and the next run computes it again. Reused blocks are also verified: when a block is
written, the CRC-32 of its labels and probabilities (and its instances when its unit is
one block; stitching rewrites them otherwise) as read back from the store is kept in the
labels group's :data:`CRC` array, before the block's marker. A resumed run
(:func:`verify_resumed`) reads back every marked block: one whose chunks fail to decode
(a torn or truncated chunk file) or whose data no longer match its checksum is unmarked
and computed again, as is one whose marker or checksum chunk is itself unreadable. The
leftover temporaries of a killed zarr write (``*.partial``) are removed. So a resumed
output equals an uninterrupted run's.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import sinks
from .lazy_arrays import read
from .sinks import PredictionSink

# What the checks need of the prediction's block types, which live above this module (in
# napari_unet.core.prediction.blockwise) and import it.


class Block(sinks.Block, Protocol):
    """A block of a prediction (a :class:`~napari_unet.core.prediction.blockwise.Block`)."""

    @property
    def index(self) -> tuple: ...


class BlockPlan(sinks.BlockPlan, Protocol):
    """The block grid of an image
    (a :class:`~napari_unet.core.prediction.blockwise.BlockPlan`)."""

    @property
    def blocks_per_unit(self) -> int: ...

    def blocks(self) -> list[Any]: ...


CRC = "blocks_crc32"


def create_checksums(labels_group: Any, plan: BlockPlan) -> None:
    """The :data:`CRC` array of a new labels group: one uint32 per block, one chunk each
    (blocks written in parallel never share a chunk)."""
    labels_group.create_array(
        CRC,
        shape=plan.done_shape,
        chunks=(1,) * len(plan.done_shape),
        dtype=np.uint32,
        fill_value=0,
    )


def checksum_array(labels_group: Any) -> Any | None:
    """The :data:`CRC` array of a labels group, or None (outputs of older versions)."""
    return labels_group[CRC] if CRC in labels_group else None  # noqa: SIM401 - zarr groups


def block_checksum(sink: PredictionSink, block: Block, plan: BlockPlan) -> int:
    """CRC-32 of ``block``'s outputs as stored (every output is read: a chunk that fails
    to decode raises)."""
    crc = zlib.crc32(np.ascontiguousarray(read(sink.labels, block.index)).tobytes())
    if sink.probabilities is not None:
        probs = read(sink.probabilities, (slice(None),) + block.index)
        crc = zlib.crc32(np.ascontiguousarray(probs).tobytes(), crc)
    if sink.instances is not None:
        instances = np.ascontiguousarray(read(sink.instances, block.index))
        if plan.blocks_per_unit == 1:  # stitching rewrites a larger unit's instances
            crc = zlib.crc32(instances.tobytes(), crc)
    return crc


def record_checksum(sink: PredictionSink, block: Block, plan: BlockPlan) -> None:
    """Keep ``block``'s checksum (before its marker is set); nothing for memory outputs."""
    checksums = getattr(sink, "checksums", None)
    if checksums is not None:
        checksums[block.lead + block.grid] = block_checksum(sink, block, plan)


def _read_all(array: Any, plan: BlockPlan) -> tuple[np.ndarray, np.ndarray]:
    """``(values, readable)`` of a per-block array; an unreadable chunk reads as 0."""
    try:
        return np.asarray(read(array)), np.ones(plan.done_shape, bool)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception:  # noqa: BLE001 - some chunks are damaged: read them one by one
        pass
    values = np.zeros(plan.done_shape, array.dtype)
    readable = np.ones(plan.done_shape, bool)
    for index in np.ndindex(*plan.done_shape):
        try:
            values[index] = np.asarray(array[index])
        except (MemoryError, KeyboardInterrupt):
            raise
        except Exception:  # noqa: BLE001 - this chunk is damaged
            readable[index] = False
    return values, readable


def _block_is_sound(
    sink: PredictionSink, block: Block, plan: BlockPlan, expected: int | None
) -> bool:
    try:
        crc = block_checksum(sink, block, plan)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception:  # noqa: BLE001 - a chunk of this block fails to decode
        return False
    return expected is None or crc == expected


def remove_partials(folders: Iterable[str | os.PathLike]) -> None:
    """Delete the ``*.partial`` temporaries a killed zarr write left in ``folders``."""
    for folder in folders:
        for root, _dirs, files in os.walk(folder):
            for name in files:
                if name.endswith(".partial"):
                    Path(root, name).unlink(missing_ok=True)


def verify_resumed(
    sink: PredictionSink, plan: BlockPlan, folders: Iterable[str | os.PathLike] = ()
) -> list[Block]:
    """Unmark the blocks of a resumed output that cannot be reused (see the module
    docstring); returns them (they are computed again)."""
    remove_partials(folders)
    done, done_ok = _read_all(sink.done, plan)
    checksums = getattr(sink, "checksums", None)
    sums, sums_ok = (
        _read_all(checksums, plan)
        if checksums is not None
        else (None, np.ones(plan.done_shape, bool))
    )
    damaged = []
    for block in plan.blocks():
        at = block.lead + block.grid
        if (
            not done_ok[at]
            or done[at]
            and not (
                sums_ok[at]
                and _block_is_sound(sink, block, plan, None if sums is None else int(sums[at]))
            )
        ):
            damaged.append(block)
    for block in damaged:
        sink.done[block.lead + block.grid] = 0
    return damaged
