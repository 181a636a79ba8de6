"""Out of GPU memory: recognise it, free the cache, retry smaller, and say so.

Prediction calls the network through :class:`RetryingForward`, which halves the number
of tiles per forward pass on an out-of-memory error; when even one tile does not fit,
:func:`retry_smaller_tiles` restarts the prediction with tiles of half the edge. Both
report what they did with an :class:`OutOfMemoryRetry` event. Training stops instead
(see ``Trainer``), keeping the best model, with :func:`training_advice`.

Memory-aware defaults: :func:`accelerator_batch_pixels` sizes prediction batches from
the device's free memory instead of a fixed number.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from .errors import UserInputError

# Activation memory of one pixel in a forward pass of the default U-Net under mixed
# precision, bytes (a 2**21-pixel batch takes about 1 GB); scaled by the model's width.
BYTES_PER_PIXEL = 512
MIN_BATCH_PIXELS, MAX_BATCH_PIXELS = 2**18, 2**23
FREE_MEMORY_FRACTION = 0.5  # of the free memory a prediction batch may use
MIN_TILE = 64  # prediction gives up below this tile edge

Result = TypeVar("Result")


@dataclass(frozen=True)
class OutOfMemoryRetry:
    """The device ran out of memory; the work goes on with ``batch_size`` tiles per
    forward pass and tiles of edge ``tile`` (None: unchanged)."""

    batch_size: int
    tile: int | None
    message: str


@dataclass(frozen=True)
class TrainingOutOfMemory:
    """Training ran out of device memory at ``step`` and stopped; ``message`` says what
    to lower. The best model so far is the result."""

    step: int
    message: str


def is_out_of_memory(err: BaseException) -> bool:
    """True for CUDA's ``torch.OutOfMemoryError`` and MPS's "out of memory" RuntimeError."""
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower()
    )


def free_device_memory(device: torch.device) -> None:
    """Give cached blocks back after an out-of-memory error, so a retry can use them."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def free_memory_bytes(device: torch.device) -> int | None:
    """Free memory of an accelerator in bytes (None on the CPU or when unknown)."""
    try:
        if device.type == "cuda":
            return int(torch.cuda.mem_get_info(device)[0])
        if device.type == "mps":
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
    except Exception:  # noqa: BLE001 - no driver, a CPU-only build: memory unknown
        return None
    return None


def accelerator_batch_pixels(
    device: torch.device, width_factor: float = 1.0, fallback: int = 2**21
) -> int:
    """Pixels (voxels) per prediction batch that fit in half the free memory of
    ``device``: a power of two in [2**18, 2**23]; ``fallback`` when memory is unknown.
    ``width_factor``: the model's channels relative to the default model's."""
    free = free_memory_bytes(device)
    if free is None:
        return fallback
    pixels = FREE_MEMORY_FRACTION * free / (BYTES_PER_PIXEL * max(width_factor, 1e-3))
    power = 2 ** max(0, int(pixels).bit_length() - 1)
    return int(min(MAX_BATCH_PIXELS, max(MIN_BATCH_PIXELS, power)))


class RetryingForward:
    """``net(x)`` for a batch ``x`` of shape ``(B, C, *S)``, run in pieces of at most
    ``batch_size`` tiles; on out-of-memory the cache is freed and the piece halved
    (remembered for later batches). At one tile the error is raised again.

    ``retries`` collects an :class:`OutOfMemoryRetry` per halving for the caller to yield.
    """

    def __init__(
        self, net: Callable[[torch.Tensor], torch.Tensor], device: torch.device, batch_size: int
    ) -> None:
        self.net = net
        self.device = device
        self.batch_size = batch_size
        self.retries: list[OutOfMemoryRetry] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        outputs: list[torch.Tensor] = []
        start = 0
        while start < len(x):
            piece = x[start : start + self.batch_size]
            try:
                outputs.append(self.net(piece))
            except Exception as err:  # noqa: BLE001 - only out-of-memory is handled
                if not is_out_of_memory(err) or self.batch_size == 1:
                    raise
                self._shrink(len(piece))
                continue
            start += len(piece)
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)

    def _shrink(self, tried: int) -> None:
        free_device_memory(self.device)
        self.batch_size = max(1, min(self.batch_size, tried) // 2)
        self.retries.append(
            OutOfMemoryRetry(
                self.batch_size,
                None,
                f"Out of memory on {self.device}: retrying with {self.batch_size} "
                f"tile(s) per forward pass.",
            )
        )

    def drain(self) -> list[OutOfMemoryRetry]:
        """The retries since the last call (to yield as events)."""
        retries, self.retries = self.retries, []
        return retries


def retry_smaller_tiles(
    run: Callable[[int], Generator[Any, None, Result]],
    tile: int,
    device: torch.device,
) -> Generator[Any, None, Result]:
    """Run ``run(tile)``; when it runs out of memory even at one tile per forward pass,
    free the cache and start again with tiles of half the edge, down to :data:`MIN_TILE`.
    Yields the run's events and an :class:`OutOfMemoryRetry` per restart."""
    while True:
        try:
            return (yield from run(tile))
        except Exception as err:  # noqa: BLE001 - only out-of-memory is handled
            if not is_out_of_memory(err):
                raise
            free_device_memory(device)
            if tile // 2 < MIN_TILE:
                raise UserInputError(
                    f"Out of memory on {device} even with {tile}-pixel tiles, one per "
                    "forward pass. Close other programs using the GPU, use a smaller "
                    "model, or choose the CPU device."
                ) from None
            tile //= 2
            yield OutOfMemoryRetry(
                1,
                tile,
                f"Out of memory on {device} with one tile per "
                f"forward pass: starting again with {tile}-pixel tiles.",
            )


def training_advice(
    step: int,
    device: torch.device,
    batch_size: int,
    patch_size: tuple[int, ...],
    base_channels: int,
) -> str:
    """What to tell the user when training runs out of memory: what to lower, in order."""
    patch = "x".join(str(p) for p in patch_size)
    return (
        f"Out of memory on {device} at training step {step}; training stopped and the "
        f"best model so far is kept. Lower the batch size (now {batch_size}), then the "
        f"patch size (now {patch}), then the model size (now {base_channels} base "
        "channels), and train again."
    )
