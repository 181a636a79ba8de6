"""Where prediction results go: arrays written block by block, with completion markers.

A :class:`PredictionSink` holds array-likes that accept slice assignment: NumPy arrays
(:func:`memory_sink`) or zarr arrays on disk (:func:`.zarr_files.zarr_sink`). Its ``done``
array has one element per block (``plan.done_shape``); a block's element is set only
after its outputs are written, so after a kill the unmarked blocks are computed again and
the marked ones are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .lazy_arrays import read

# What the sinks need of the prediction's types, which live above this module (in
# napari_unet.core.prediction) and import it: a block, a block plan, a configuration.


class Block(Protocol):
    """A block of a prediction (a :class:`~napari_unet.core.prediction.blockwise.Block`)."""

    lead: tuple[int, ...]
    grid: tuple[int, ...]


class BlockPlan(Protocol):
    """The block grid of an image
    (a :class:`~napari_unet.core.prediction.blockwise.BlockPlan`)."""

    lead_shape: tuple[int, ...]
    spatial: tuple[int, ...]

    @property
    def done_shape(self) -> tuple[int, ...]: ...


class OutputChoice(Protocol):
    """Which outputs beside the labels a prediction writes (a
    :class:`~napari_unet.core.prediction.engine.PredictionConfig`)."""

    instances: bool
    probabilities: bool


@dataclass
class PredictionSink:
    """labels ``(*shape)``, probabilities ``(K, *shape)`` or None, instances ``(*shape)``
    or None, done ``plan.done_shape`` (uint8, 1 = block written)."""

    labels: Any
    probabilities: Any
    instances: Any
    done: Any
    checksums: Any = None  # zarr outputs: a CRC-32 per block (see .block_integrity)

    def is_done(self, block: Block) -> bool:
        return bool(self.done[block.lead + block.grid])

    def mark_done(self, block: Block) -> None:
        self.done[block.lead + block.grid] = 1

    def completed(self, plan: BlockPlan) -> np.ndarray:
        """Bool over leading indices: every block of the unit written."""
        done = read(self.done).astype(bool)
        return done.reshape(plan.lead_shape + (-1,)).all(-1)


def label_dtype(num_classes: int) -> np.dtype:
    """uint8 class values up to 255 classes, uint16 beyond."""
    return np.dtype(np.uint8 if num_classes < 256 else np.uint16)


def memory_sink(plan: BlockPlan, num_classes: int, cfg: OutputChoice) -> PredictionSink:
    """NumPy outputs for ``plan``'s image (zeros where nothing is predicted)."""
    shape = plan.lead_shape + plan.spatial
    return PredictionSink(
        labels=np.zeros(shape, label_dtype(num_classes)),
        probabilities=np.zeros((num_classes,) + shape, np.float32) if cfg.probabilities else None,
        instances=np.zeros(shape, np.uint32) if cfg.instances else None,
        done=np.zeros(plan.done_shape, np.uint8),
    )
