"""Blockwise prediction: the image cut into blocks, each predicted from its block plus a halo.

A *unit* is a 2D slice (2D model) or a volume (3D model) at one leading index. A unit
whose spatial shape fits in one block (``BLOCK_EDGE``: 4096 px in 2D, 256 voxels in 3D)
is one block and is tiled exactly as a whole image. A larger unit (a 30,000² image) is
cut into blocks on a fixed grid (multiples of the block edge, from the origin); each
block is predicted from the block plus a halo of at least the network's receptive radius
(:func:`receptive_halo`), with the tiles and blending of :mod:`.tiling` over that region,
then cropped back. Every block depends only on the image, the model and the settings,
never on which process runs it or in what order: in-process and cluster runs give the
same labels, and memory holds one block's accumulator, never ``K x H x W``.

:func:`run_blocks` streams the tiles of many blocks through batched forward passes and
yields each block's scores as soon as its last tile is done.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data.images import Normalization
from ..device import autocast, memory_format
from ..io.lazy_arrays import read
from ..model.unet import UNetConfig
from ..stopping import StopFlag
from .tiling import blend_weights, tile_grid

BLOCK_EDGE = {2: 4096, 3: 256}
# read shapes whose tile windows are kept during a run: a huge plane's blocks have up to
# 3**dims shapes (first, inner, last along each axis), met row after row
WINDOW_CACHE = 4


def receptive_halo(config: UNetConfig) -> int:
    """Halo (pixels per side) covering the U-Net's receptive radius, a multiple of 2**depth.

    Each 3x3 convolution adds ``2**level`` to the radius (two per level on the way down,
    two on the way up, two at the bottom) and each pooling ``2**level``:
    ``5 (2**d - 1) + 2**(d+1)``, 51 px for depth 3, rounded up to 56.
    """
    m = config.size_multiple
    radius = 5 * (m - 1) + 2 * m
    return -(-radius // m) * m


@dataclass(frozen=True)
class Block:
    """One block: ``lead`` index, spatial ``grid`` position, output ``region`` and the
    (larger) region ``read`` from the image, both tuples of spatial slices."""

    lead: tuple[int, ...]
    grid: tuple[int, ...]
    region: tuple[slice, ...]
    read: tuple[slice, ...]

    @property
    def crop(self) -> tuple[slice, ...]:
        """``region`` relative to ``read``."""
        return tuple(
            slice(r.start - w.start, r.stop - w.start) for r, w in zip(self.region, self.read)
        )

    @property
    def index(self) -> tuple:
        """Index of the block's output in an array shaped like the image (no channels)."""
        return self.lead + self.region


@dataclass(frozen=True)
class BlockPlan:
    """The block grid of an image of shape ``lead_shape + spatial`` (no channels)."""

    lead_shape: tuple[int, ...]
    spatial: tuple[int, ...]
    block: tuple[int, ...]
    halo: tuple[int, ...]

    @classmethod
    def create(
        cls, shape: Sequence[int], dims: int, halo: int, block_edge: int | None = None
    ) -> BlockPlan:
        shape = tuple(int(s) for s in shape)
        edge = block_edge or BLOCK_EDGE[dims]
        spatial = shape[len(shape) - dims :]
        return cls(
            shape[: len(shape) - dims],
            spatial,
            tuple(min(edge, s) for s in spatial),
            (halo,) * dims,
        )

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Blocks per spatial axis."""
        return tuple(-(-s // b) for s, b in zip(self.spatial, self.block))

    @property
    def blocks_per_unit(self) -> int:
        return int(np.prod(self.grid_shape))

    @property
    def done_shape(self) -> tuple[int, ...]:
        """Shape of a per-block completion marker array: ``lead_shape + grid_shape``."""
        return self.lead_shape + self.grid_shape

    def make_block(self, lead: tuple[int, ...], grid: tuple[int, ...]) -> Block:
        region, window = [], []
        for g, b, h, s in zip(grid, self.block, self.halo, self.spatial):
            start, stop = g * b, min(s, (g + 1) * b)
            region.append(slice(start, stop))
            single = self.blocks_per_unit == 1
            window.append(slice(0, s) if single else slice(max(0, start - h), min(s, stop + h)))
        return Block(tuple(lead), tuple(grid), tuple(region), tuple(window))

    def blocks(self, leads: Sequence[tuple[int, ...]] | None = None) -> list[Block]:
        """All blocks of the given leading indices (default all), unit by unit."""
        leads = list(np.ndindex(*self.lead_shape)) if leads is None else leads
        grids = list(itertools.product(*(range(n) for n in self.grid_shape)))
        return [self.make_block(tuple(lead), grid) for lead in leads for grid in grids]


@dataclass(frozen=True)
class Tiling:
    """Tiles inside a block: nominal edge, overlap, size multiple, tiles per forward pass."""

    tile: int
    overlap: int
    multiple: int
    batch_size: int


class _Windows:
    """Tile windows of one read shape, their blending weights and the weights' sum.

    A tile's weight depends only on which of its edges lie on the border of the read
    region, so at most ``3**dims`` distinct weights (tile-sized) are kept, whatever the
    number of tiles; the weight sum (read-sized) is built only when probabilities are
    asked for.
    """

    def __init__(self, shape: tuple[int, ...], tiling: Tiling) -> None:
        dims = len(shape)
        self.shape, self.overlap = shape, (tiling.overlap,) * dims
        self.tile_size, self.windows = tile_grid(
            shape, (tiling.tile,) * dims, self.overlap, tiling.multiple
        )
        self._weights: dict[tuple, torch.Tensor] = {}

    def weight(self, t: int) -> torch.Tensor:
        """Blending weight of tile ``t``, shape ``tile_size``."""
        win = self.windows[t]
        key = tuple((w.start == 0, w.stop >= n) for w, n in zip(win, self.shape))
        if key not in self._weights:
            self._weights[key] = torch.from_numpy(
                blend_weights(self.tile_size, win, self.shape, self.overlap)
            )
        return self._weights[key]

    @functools.cached_property
    def weight_sum(self) -> torch.Tensor:
        """Sum of all tiles' weights, shape ``shape``."""
        total = torch.zeros(self.shape)
        for t, win in enumerate(self.windows):
            total[win] += self.weight(t)
        return total


@dataclass
class BlockScores:
    """Scores of one finished block: ``(K, *region)`` float32; probabilities when
    ``normalized`` (softmax, blended and divided by the weight sum), else only good for
    the class choice. ``context``: the same over the block's ``read`` region (the block
    and its halo), ``(K, *read)``; ``scores`` is a view of it."""

    block: Block
    scores: torch.Tensor
    normalized: bool
    context: torch.Tensor


def run_blocks(
    forward: Callable[[torch.Tensor], torch.Tensor],
    device: torch.device,
    source_cf,
    low: np.ndarray,
    high: np.ndarray,
    blocks: Sequence[Block],
    tiling: Tiling,
    num_classes: int,
    probabilities: bool,
    stop: StopFlag,
    precision: Any = None,
) -> Generator[Any, None, bool]:
    """Predict ``blocks`` of the channels-first ``source_cf``; yields :class:`BlockScores`
    as blocks finish (and whatever ``forward.drain()`` returns after each batch, e.g.
    out-of-memory retries); returns True if stopped.

    ``forward`` runs the network (already on ``device`` in eval mode) on ``(B, C, *T)``;
    ``precision`` has an ``autocast()`` context (default: :func:`.device.autocast`);
    ``probabilities``: blocks must carry normalized probabilities. Tiles of consecutive
    blocks share batches when they have the same shape.
    """
    dims = len(blocks[0].read) if blocks else 0
    cache: dict[tuple[int, ...], _Windows] = {}  # the last few read shapes

    def windows_of(block: Block) -> _Windows:
        shape = tuple(s.stop - s.start for s in block.read)
        if shape not in cache:
            if len(cache) >= WINDOW_CACHE:
                del cache[next(iter(cache))]
            cache[shape] = _Windows(shape, tiling)
        return cache[shape]

    def tiles() -> Iterator[tuple[int, int, np.ndarray]]:
        for n, block in enumerate(blocks):
            raw = read(source_cf, (slice(None),) + block.lead + block.read)
            chunk = Normalization.apply(raw, low, high)
            for t, win in enumerate(windows_of(block).windows):
                yield n, t, chunk[(slice(None),) + win]

    in_flight: dict[int, list] = {}  # block number -> [accumulator (K, *read), tiles left]
    for batch in _batches(tiles(), tiling.batch_size):
        if stop.requested:
            return True
        # Gradients are off only while this batch is computed, never across a yield: a
        # generator suspended (or abandoned) inside ``no_grad`` would leave them off for
        # whatever its caller's thread runs next, training included.
        with torch.no_grad():
            with precision.autocast() if precision is not None else autocast(device):
                out = _forward(forward, device, dims, batch, probabilities, windows_of, blocks)
            ready = [
                *getattr(forward, "drain", list)(),
                *_finish(out, batch, blocks, windows_of, in_flight, num_classes, probabilities),
            ]
        yield from ready
    return False


def _batches(tiles: Iterator[tuple], size: int) -> Iterator[list[tuple]]:
    """Consecutive ``(block number, tile number, tile)`` items in lists of at most
    ``size`` tiles of one shape (a tile of another shape starts the next list)."""
    batch: list[tuple] = []
    for item in tiles:
        if batch and batch[0][2].shape != item[2].shape:
            yield batch
            batch = []
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _forward(forward, device, dims, batch, probabilities, windows_of, blocks) -> torch.Tensor:
    """Scores ``(B, K, *T)`` of a batch of tiles: softmax, or raw logits when a block is
    one tile and no probabilities are asked (the largest logit is the largest probability)."""
    x = torch.from_numpy(np.stack([b[2] for b in batch])).to(device)
    x = x.contiguous(memory_format=memory_format(device, dims))
    out = forward(x)
    single = all(len(windows_of(blocks[n]).windows) == 1 for n, _, _ in batch)
    return (out.float() if single and not probabilities else out.float().softmax(1)).cpu()


def _finish(
    out, batch, blocks, windows_of, in_flight, num_classes, probabilities
) -> Iterator[BlockScores]:
    """Blend the tiles of a batch into their blocks; yield the blocks now complete."""
    for (n, t, _), prob in zip(batch, out):
        block = blocks[n]
        win = windows_of(block)
        if len(win.windows) == 1:  # one tile covers the block: nothing to blend
            full, normalized = prob, probabilities
        else:
            if n not in in_flight:
                in_flight[n] = [
                    torch.zeros((num_classes,) + tuple(win.weight_sum.shape)),
                    len(win.windows),
                ]
            entry = in_flight[n]
            entry[0][(slice(None),) + win.windows[t]].addcmul_(prob, win.weight(t))
            entry[1] -= 1
            if entry[1] > 0:
                continue
            del in_flight[n]
            full, normalized = entry[0], False
            if probabilities:  # the class choice needs no normalization
                full.div_(win.weight_sum)
                normalized = True
        yield BlockScores(block, full[(slice(None),) + block.crop], normalized, full)
