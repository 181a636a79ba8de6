"""Tiled, batched, memory-bounded prediction of whole images and stacks.

A 2D model runs over every 2D slice of an N-D stack, a 3D model over every volume.
Tiles of all slices stream through batched forward passes (batch size by device, see
:data:`DEFAULT_BATCH_PIXELS`); a slice's blended
probabilities live only until its last tile is done, then become class labels. So
memory holds the output labels, a few slices' worth of probabilities in flight and a
batch of tiles, whatever the stack length, unless probabilities are requested.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from skimage.segmentation import relabel_sequential

from ..device import precision_policy, select_device
from ..io.block_integrity import record_checksum
from ..io.sinks import PredictionSink, memory_sink
from ..model.trained_model import TrainedModel
from ..oom import OutOfMemoryRetry, RetryingForward, accelerator_batch_pixels, retry_smaller_tiles
from ..stopping import StopFlag
from .blockwise import BlockPlan, BlockScores, Tiling, receptive_halo, run_blocks
from .boundary_instances import DEFAULT_MERGE_THRESHOLD, boundary_instances
from .image_job import network_on, prepare_job
from .instances import DEFAULT_MIN_SIZE, DEFAULT_SPLIT_STRENGTH, METHODS, instance_labels
from .stitching import stitch_unit
from .tiling import tile_grid
from .tta import FlipAveraged

# Defaults by device kind ("cpu" or "accelerator") and spatial dims. On the CPU a forward
# pass is fastest when one tile's activations stay in the cache: a single 512x512 tile ran
# 1.7x faster per pixel than a batch of eight, and 1.5x faster than one 1024x1024 tile
# (benchmarks/bench_prediction.py, README). A GPU wants large tiles and batches to stay busy.
DEFAULT_TILE = {"cpu": {2: 512, 3: 128}, "accelerator": {2: 1024, 3: 128}}
DEFAULT_OVERLAP = {2: 32, 3: 16}
# pixels (voxels) per batch of tiles; on an accelerator this also bounds memory (~1 GB of
# activations for the default model) whatever the tile size. Used on an accelerator only
# when its free memory is unknown: otherwise see oom.accelerator_batch_pixels.
# cells bounded by membranes fill the space: across a block face a cell is joined only to
# the part it faces over at least this share of the smaller one's face pixels
CELL_FACE_SHARE = 0.5
DEFAULT_BATCH_PIXELS = {"cpu": 2**18, "accelerator": 2**21}


def device_kind(device: torch.device) -> str:
    """``"cpu"`` or ``"accelerator"``: the key of :data:`DEFAULT_TILE` and friends."""
    return "cpu" if device.type == "cpu" else "accelerator"


def default_tile(device: torch.device, dims: int) -> int:
    """Nominal tile edge for ``dims``-D prediction on ``device``: on an accelerator with
    less free memory than two 1024x1024 tiles need, 512."""
    tile = DEFAULT_TILE[device_kind(device)][dims]
    if dims == 2 and device.type != "cpu" and accelerator_batch_pixels(device) < 2 * tile**2:
        return tile // 2
    return tile


def default_batch_size(tile_size: tuple[int, ...], device: torch.device) -> int:
    """Tiles of ``tile_size`` per forward pass on ``device`` (at least 1)."""
    kind = device_kind(device)
    budget = (
        DEFAULT_BATCH_PIXELS[kind]
        if kind == "cpu"
        else accelerator_batch_pixels(device, fallback=DEFAULT_BATCH_PIXELS[kind])
    )
    return max(1, budget // int(np.prod(tile_size)))


@dataclass(frozen=True)
class PredictionConfig:
    """Settings of a prediction run."""

    tile: int | None = None  # nominal tile edge (tiles are at most tile + overlap); default_tile
    overlap: int | None = None  # min overlap between tiles; DEFAULT_OVERLAP
    batch_size: int | None = None  # tiles per forward pass; default_batch_size
    probabilities: bool = False
    instances: bool = False
    min_object_size: int = DEFAULT_MIN_SIZE  # pixels (voxels); smaller objects are dropped
    split_touching: bool = True
    split_strength: float = DEFAULT_SPLIT_STRENGTH  # 0 = never split .. 1 = split most
    instance_method: str = "probability"  # or "distance" (see core.instances)
    device: str = "auto"
    threads: int | None = None
    precision: str = "auto"  # device.PRECISIONS; auto = device.precision_policy's choice
    block: int | None = None  # block edge of large images; blockwise.BLOCK_EDGE
    tta: bool = False  # average over 4 flips (core.tta): 4x the forward passes
    # instances as cells enclosed by this class (1..K; core.prediction.boundary_instances),
    # None: objects of the foreground classes, split where they touch (core.instances)
    boundary_class: int | None = None
    # cells bounded by a class: neighbours whose shared face's mean boundary probability
    # is below this become one cell (0 keeps the over-segmentation, 1 merges most)
    merge_threshold: float = DEFAULT_MERGE_THRESHOLD
    # voxel size of the image's spatial axes (e.g. (z, y, x) in µm; the last values are
    # used, as many as a 2D or 3D model segments at once): distances of the cells' seeds
    # and smoothing follow it. None: isotropic
    voxel_size: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError("batch_size must be at least 1.")
        if self.tile is not None and self.tile < 8:
            raise ValueError("tile must be at least 8 pixels.")
        if self.overlap is not None and self.overlap < 0:
            raise ValueError("overlap must not be negative.")
        if self.min_object_size < 0:
            raise ValueError("min_object_size must not be negative.")
        if not 0.0 <= self.split_strength <= 1.0:
            raise ValueError("split_strength must be between 0 and 1.")
        if self.instance_method not in METHODS:
            raise ValueError(f"instance_method must be one of {METHODS}.")
        if self.block is not None and self.block < 16:
            raise ValueError("block must be at least 16 pixels.")
        if self.boundary_class is not None and self.boundary_class < 1:
            raise ValueError("boundary_class must be a class value 1..K.")
        if not 0.0 <= self.merge_threshold <= 1.0:
            raise ValueError("merge_threshold must be between 0 and 1.")
        if self.voxel_size is not None and not (
            0 < len(self.voxel_size) <= 3
            and all(math.isfinite(v) and v > 0 for v in self.voxel_size)
        ):
            raise ValueError("voxel_size must be 1 to 3 positive numbers, one per spatial axis.")

    @property
    def instances_need_probabilities(self) -> bool:
        if self.instances and self.boundary_class is not None:
            return True
        return self.instances and self.split_touching and self.instance_method == "probability"


@dataclass(frozen=True)
class PredictionProgress:
    done: int  # blocks finished: slices (2D model) or volumes (3D model) unless split
    total: int
    index: tuple[int, ...]  # leading index of the unit just finished


@dataclass
class PredictionResult:
    """Outputs, shaped like the image without channels: NumPy arrays, or the arrays of
    the ``output`` sink (zarr) when one was given.

    labels: class values 1..K (uint8 or uint16), 0 where not predicted (stopped runs).
    probabilities: ``(K, *shape)`` float32, or None.
    instances: uint32 instance ids (0 = background), or None.
    completed: bool array over the leading (slice) indices, True where finished.
    """

    labels: np.ndarray
    probabilities: np.ndarray | None
    instances: np.ndarray | None
    completed: np.ndarray
    stopped: bool


def predict(
    model: TrainedModel,
    image: np.ndarray,
    *,
    config: PredictionConfig | None = None,
    channel_axis: int | None = None,
    rgb: bool = False,
    indices: list[tuple[int, ...]] | None = None,
    stop: StopFlag | None = None,
    output: PredictionSink | None = None,
) -> Generator[PredictionProgress | OutOfMemoryRetry, None, PredictionResult]:
    """Segment ``image`` with ``model``; yields progress per block, returns the result.

    ``image``: NumPy, dask, zarr or napari multiscale data (level 0), read block by block.
    ``indices`` restricts work to some leading indices (e.g. the slice in view).
    ``output``: where results go (e.g. a zarr store from :mod:`.zarr_files`, whose finished
    blocks are skipped: a killed run resumes); default: NumPy arrays in memory.
    On out-of-memory, retries with fewer tiles per batch, then smaller tiles, and yields
    an ``oom.OutOfMemoryRetry`` event each time.
    """
    cfg = config or PredictionConfig()
    device = select_device(cfg.device)
    return retry_smaller_tiles(
        lambda tile: _predict(
            model, image, replace(cfg, tile=tile), channel_axis, rgb, indices, stop, output
        ),
        cfg.tile or default_tile(device, model.spatial_dims),
        device,
    )


def _predict(
    model: TrainedModel,
    image: Any,
    cfg: PredictionConfig,
    channel_axis: int | None,
    rgb: bool,
    indices: list[tuple[int, ...]] | None,
    stop: StopFlag | None,
    output: PredictionSink | None,
) -> Generator[PredictionProgress | OutOfMemoryRetry, None, PredictionResult]:
    """:func:`predict` with the tile edge ``cfg.tile`` set."""
    stop = stop or StopFlag()
    job = prepare_job(
        image,
        model.spatial_dims,
        in_channels=model.in_channels,
        normalization=model.normalization,
        channel_axis=channel_axis,
        rgb=rgb,
        indices=indices,
    )
    plan = block_plan(model, job.shape, cfg)
    sink = output or memory_sink(plan, model.num_classes, cfg)
    blocks = [b for b in plan.blocks(job.todo) if not sink.is_done(b)]
    with network_on(model.network, cfg.device, cfg.threads, job.dims) as device:
        work = predict_blocks(model, device, job.source, job.low, job.high, blocks, plan, cfg, stop)
        done = 0
        while True:
            try:
                finished = next(work)
            except StopIteration as end:
                stopped = bool(end.value)
                break
            if isinstance(finished, OutOfMemoryRetry):
                yield finished
                continue
            write_block(sink, finished, plan, cfg)
            done += 1
            yield PredictionProgress(done, len(blocks), finished.block.lead)
    return finish_run(sink, plan, cfg, job.todo, stopped)


def finish_run(
    sink: PredictionSink,
    plan: BlockPlan,
    cfg: PredictionConfig,
    leads: list[tuple[int, ...]],
    stopped: bool,
) -> PredictionResult:
    """The result of a run into ``sink``: the instances of units cut into several blocks
    stitched across block faces (unless stopped), and which units are complete."""
    if cfg.instances and plan.blocks_per_unit > 1 and not stopped:
        share = 0.0 if cfg.boundary_class is None else CELL_FACE_SHARE
        for lead in leads:
            stitch_unit(sink.instances, plan.blocks([lead]), cfg.min_object_size, share)
    return PredictionResult(
        sink.labels, sink.probabilities, sink.instances, sink.completed(plan), stopped
    )


def predict_blocks(
    model: TrainedModel,
    device: torch.device,
    source_cf,
    low,
    high,
    blocks,
    plan: BlockPlan,
    cfg: PredictionConfig,
    stop: StopFlag,
) -> Generator[BlockScores | OutOfMemoryRetry, None, bool]:
    """:func:`.blockwise.run_blocks` with this module's tiling, batch, precision and
    out-of-memory defaults (``model.network`` already on ``device``): the one block
    engine of in-process and cluster runs."""
    tiling = tiling_for(model, device, cfg, plan)
    net = FlipAveraged(model.network, model.spatial_dims) if cfg.tta else model.network
    forward = RetryingForward(net, device, tiling.batch_size)
    return run_blocks(
        forward,
        device,
        source_cf,
        low,
        high,
        blocks,
        tiling,
        model.num_classes,
        cfg.probabilities or cfg.instances_need_probabilities,
        stop,
        precision_policy(device, cfg.precision),
    )


def block_plan(model: TrainedModel, shape: tuple[int, ...], cfg: PredictionConfig) -> BlockPlan:
    """The block grid of an image of ``shape`` (no channels) for ``model``."""
    return BlockPlan.create(shape, model.spatial_dims, receptive_halo(model.config), cfg.block)


def tiling_for(
    model: TrainedModel, device: torch.device, cfg: PredictionConfig, plan: BlockPlan
) -> Tiling:
    """Tile edge, overlap and batch size on ``device`` (defaults by device kind)."""
    dims = model.spatial_dims
    tile = cfg.tile or default_tile(device, dims)
    overlap = cfg.overlap if cfg.overlap is not None else DEFAULT_OVERLAP[dims]
    read_shape = tuple(
        min(s, b + 2 * h) if plan.blocks_per_unit > 1 else s
        for s, b, h in zip(plan.spatial, plan.block, plan.halo)
    )
    tile_size, _ = tile_grid(
        read_shape, (tile,) * dims, (overlap,) * dims, model.config.size_multiple
    )
    batch = cfg.batch_size or default_batch_size(tile_size, device)
    return Tiling(tile, overlap, model.config.size_multiple, batch)


def write_block(
    sink: PredictionSink, finished: BlockScores, plan: BlockPlan, cfg: PredictionConfig
) -> None:
    """Class labels (and probabilities, instances) of a finished block into ``sink``;
    the block's completion marker last."""
    block = finished.block
    labels = class_values(finished.scores).numpy()
    sink.labels[block.index] = labels
    probs = None
    if sink.probabilities is not None or cfg.instances_need_probabilities:
        probs = finished.scores if finished.normalized else finished.scores.softmax(0)
    if sink.probabilities is not None:
        sink.probabilities[(slice(None),) + block.index] = probs.numpy()
    if sink.instances is not None:
        if plan.blocks_per_unit == 1:
            sink.instances[block.index] = block_instances(
                labels, probs.numpy() if probs is not None else None, cfg, whole=True
            )
        else:  # stitched across the block faces when the unit is done
            sink.instances[block.index] = instances_with_halo(finished, cfg)
    record_checksum(sink, block, plan)  # what a resumed run verifies before reusing it
    sink.mark_done(block)


def instances_with_halo(finished: BlockScores, cfg: PredictionConfig) -> np.ndarray:
    """Instance ids ``(*region)`` of one block of a unit cut into several: objects found
    on the block and its halo (``finished.context``), then cropped to the block. An object
    crossing a block face is then cut from the same surroundings on both sides (seeds,
    watershed and merges see the whole cell), and the halves meet at the face to be
    stitched; found on the block alone, each side saw half a cell."""
    context = finished.context
    probs = None
    if cfg.instances_need_probabilities:
        probs = (context if finished.normalized else context.softmax(0)).numpy()
    # small objects dropped (cells: absorbed) here, where the objects at the face are whole
    ids = block_instances(class_values(context).numpy(), probs, cfg, whole=True)
    return relabel_sequential(ids[finished.block.crop])[0]


def block_instances(
    labels: np.ndarray, probs: np.ndarray | None, cfg: PredictionConfig, whole: bool
) -> np.ndarray:
    """Instance ids of one block: cells enclosed by ``cfg.boundary_class`` or objects of
    the foreground classes; small objects dropped only when the block is a whole unit
    (else after stitching). labels ``(*S)``, probs ``(K, *S)`` or None."""
    min_size = cfg.min_object_size if whole else 0
    if cfg.boundary_class is not None:
        return boundary_instances(
            probs,
            cfg.boundary_class,
            spatial_dims=labels.ndim,
            min_size=min_size,
            merge_threshold=cfg.merge_threshold,
            spacing=unit_spacing(cfg.voxel_size, labels.ndim),
        )
    return instance_labels(
        labels,
        min_size=min_size,
        split_touching=cfg.split_touching,
        method=cfg.instance_method,
        split_strength=cfg.split_strength,
        probabilities=probs if cfg.instances_need_probabilities else None,
    )


def unit_spacing(voxel_size: tuple[float, ...] | None, dims: int) -> tuple[float, ...] | None:
    """The voxel size of a unit's ``dims`` spatial axes: the last ``dims`` values of the
    image's ``voxel_size`` (None where it gives fewer, or none)."""
    if voxel_size is None or len(voxel_size) < dims:
        return None
    return tuple(voxel_size[-dims:])


def class_values(scores: torch.Tensor) -> torch.Tensor:
    """Class values 1..K (uint8) of the highest score along the first axis of ``(K, *S)``.

    A running maximum over classes: much faster on the CPU than ``argmax(0)``, which
    reduces across the slowest-varying axis.
    """
    best = scores[0]
    values = torch.ones(scores.shape[1:], dtype=torch.uint8)
    for c in range(1, scores.shape[0]):
        higher = scores[c] > best
        best = torch.maximum(best, scores[c])
        values[higher] = c + 1
    return values
