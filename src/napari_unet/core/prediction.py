"""Tiled, batched, memory-bounded prediction of whole images and stacks.

A 2D model runs over every 2D slice of an N-D stack, a 3D model over every volume.
Tiles of all slices stream through batched forward passes (batch size by device, see
:data:`DEFAULT_BATCH_PIXELS`); a slice's blended
probabilities live only until its last tile is done, then become class labels. So
memory holds the output labels, a few slices' worth of probabilities in flight and a
batch of tiles, whatever the stack length, unless probabilities are requested.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from .device import configure_cpu_threads, memory_format, precision_policy, select_device
from .errors import UserInputError
from .images import Normalization, channels_first, check_spatial
from .instances import DEFAULT_MIN_SIZE, DEFAULT_SPLIT_STRENGTH, METHODS, instance_labels
from .oom import OutOfMemoryRetry, RetryingForward, accelerator_batch_pixels, retry_smaller_tiles
from .stopping import StopFlag
from .tiling import blend_weights, tile_grid
from .trained_model import TrainedModel

# Defaults by device kind ("cpu" or "accelerator") and spatial dims. On the CPU a forward
# pass is fastest when one tile's activations stay in the cache: a single 512x512 tile ran
# 1.7x faster per pixel than a batch of eight, and 1.5x faster than one 1024x1024 tile
# (benchmarks/bench_prediction.py, README). A GPU wants large tiles and batches to stay busy.
DEFAULT_TILE = {"cpu": {2: 512, 3: 128}, "accelerator": {2: 1024, 3: 128}}
DEFAULT_OVERLAP = {2: 32, 3: 16}
# pixels (voxels) per batch of tiles; on an accelerator this also bounds memory (~1 GB of
# activations for the default model) whatever the tile size. Used on an accelerator only
# when its free memory is unknown: otherwise see oom.accelerator_batch_pixels.
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
    budget = (DEFAULT_BATCH_PIXELS[kind] if kind == "cpu" else
              accelerator_batch_pixels(device, fallback=DEFAULT_BATCH_PIXELS[kind]))
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

    @property
    def instances_need_probabilities(self) -> bool:
        return self.instances and self.split_touching and self.instance_method == "probability"


@dataclass(frozen=True)
class PredictionProgress:
    done: int  # slices (2D model) or volumes (3D model) finished
    total: int
    index: tuple[int, ...]  # leading index of the unit just finished


@dataclass
class PredictionResult:
    """Outputs, shaped like the image without channels.

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
) -> Generator[PredictionProgress | OutOfMemoryRetry, None, PredictionResult]:
    """Segment ``image`` with ``model``; yields progress per unit, returns the result.

    ``indices`` restricts work to some leading indices (e.g. the slice in view).
    On out-of-memory, retries with fewer tiles per batch, then smaller tiles, and yields
    an ``oom.OutOfMemoryRetry`` event each time.
    """
    cfg = config or PredictionConfig()
    device = select_device(cfg.device)
    return retry_smaller_tiles(
        lambda tile: _predict(model, image, replace(cfg, tile=tile), channel_axis, rgb,
                              indices, stop),
        cfg.tile or default_tile(device, model.spatial_dims), device)


def _predict(
    model: TrainedModel,
    image: np.ndarray,
    cfg: PredictionConfig,
    channel_axis: int | None,
    rgb: bool,
    indices: list[tuple[int, ...]] | None,
    stop: StopFlag | None,
) -> Generator[PredictionProgress | OutOfMemoryRetry, None, PredictionResult]:
    """:func:`predict` with the tile edge ``cfg.tile`` set."""
    stop = stop or StopFlag()
    image_cf = channels_first(image, channel_axis, rgb)
    dims = model.spatial_dims
    check_spatial(image_cf, dims)
    if image_cf.shape[0] != model.in_channels:
        raise UserInputError(
            f"The model expects {model.in_channels} channel(s) but the image has "
            f"{image_cf.shape[0]}. Use a model trained on {image_cf.shape[0]}-channel images, "
            "or pick the matching image."
        )
    shape = image_cf.shape[1:]
    lead_shape, spatial = shape[: len(shape) - dims], shape[len(shape) - dims:]
    k = model.num_classes
    labels = np.zeros(shape, np.uint8 if k < 256 else np.uint16)
    probs = np.zeros((k,) + shape, np.float32) if cfg.probabilities else None
    instances = np.zeros(shape, np.uint32) if cfg.instances else None
    completed = np.zeros(lead_shape, bool)
    todo = list(np.ndindex(*lead_shape)) if indices is None else [tuple(i) for i in indices]
    for idx in todo:
        if len(idx) != len(lead_shape) or any(not 0 <= i < n for i, n in zip(idx, lead_shape)):
            raise UserInputError(f"Slice index {idx} is outside the image (leading shape {lead_shape}).")
    low, high = model.normalization.statistics(image_cf)

    device = select_device(cfg.device)
    if device.type == "cpu":
        configure_cpu_threads(cfg.threads)
    net = model.network.to(device, memory_format=memory_format(device, dims)).eval()
    tile = cfg.tile
    overlap = cfg.overlap if cfg.overlap is not None else DEFAULT_OVERLAP[dims]
    tile_size, windows = tile_grid(spatial, (tile,) * dims, (overlap,) * dims,
                                   model.config.size_multiple)
    weights = [torch.from_numpy(blend_weights(tile_size, w, spatial, (overlap,) * dims))
               for w in windows]
    forward = RetryingForward(net, device, cfg.batch_size or default_batch_size(tile_size, device))
    batch_size = forward.batch_size
    precision = precision_policy(device, cfg.precision)
    weight_sum = torch.zeros(spatial)
    for w, win in zip(weights, windows):
        weight_sum[win] += w

    def tiles() -> Iterator[tuple[tuple[int, ...], int, np.ndarray]]:
        for idx in todo:
            chunk = Normalization.apply(np.asarray(image_cf[(slice(None),) + idx]), low, high)
            for t, win in enumerate(windows):
                yield idx, t, chunk[(slice(None),) + win]

    in_flight: dict[tuple[int, ...], list] = {}  # idx -> [accumulator (K, *S), tiles left]
    done = 0
    batch: list[tuple[tuple[int, ...], int, np.ndarray]] = []
    stream = tiles()
    stopped = False
    with torch.inference_mode():
        while True:
            item = next(stream, None)
            if item is not None:
                batch.append(item)
                if len(batch) < batch_size:
                    continue
            if not batch:
                break
            if stop.requested:
                stopped = True
                break
            x = torch.from_numpy(np.stack([b[2] for b in batch])).to(device)
            x = x.contiguous(memory_format=memory_format(device, dims))
            with precision.autocast():
                out = forward(x)  # fewer tiles at a time on out-of-memory
            yield from forward.drain()
            # one tile per slice and no probabilities asked: the class of the largest
            # logit is the class of the largest probability, no softmax needed
            scores_only = (len(windows) == 1 and probs is None
                           and not cfg.instances_need_probabilities)
            p = (out.float() if scores_only else out.float().softmax(1)).cpu()
            for (idx, t, _), prob in zip(batch, p):
                if len(windows) == 1:  # one tile covers the slice: nothing to blend
                    full = prob
                else:
                    if idx not in in_flight:
                        in_flight[idx] = [torch.zeros((k,) + tuple(spatial)), len(windows)]
                    entry = in_flight[idx]
                    entry[0][(slice(None),) + windows[t]].addcmul_(prob, weights[t])
                    entry[1] -= 1
                    if entry[1] > 0:
                        continue
                    del in_flight[idx]
                    full = entry[0]
                    if probs is not None or cfg.instances_need_probabilities:
                        full.div_(weight_sum)  # the class choice needs no normalization
                labels[idx] = class_values(full).numpy()
                if probs is not None:
                    probs[(slice(None),) + idx] = full.numpy()
                if instances is not None:
                    instances[idx] = instance_labels(
                        labels[idx], min_size=cfg.min_object_size,
                        split_touching=cfg.split_touching, method=cfg.instance_method,
                        split_strength=cfg.split_strength,
                        probabilities=full.numpy() if cfg.instances_need_probabilities
                        else None)
                completed[idx] = True
                done += 1
                yield PredictionProgress(done, len(todo), idx)
            batch = []
    return PredictionResult(labels, probs, instances, completed, stopped)


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

