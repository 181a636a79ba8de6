"""One image job: the layout, checks, normalization and device set-up that prediction and
attacks share.

:func:`prepare_job` turns a napari-style array (NumPy, dask, zarr or multiscale; any
leading axes; channels at ``channel_axis`` or RGB last) into a lazy channels-first
source with its per-channel intensity statistics and the leading indices to process.
:func:`network_on` puts a network on the chosen device in eval mode and puts it back
(device and every module's training flag) afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data.images import Normalization, channels_first, check_spatial
from ..device import configure_cpu_threads, memory_format, select_device
from ..errors import UserInputError


@dataclass(frozen=True)
class ImageJob:
    """A prepared image.

    source: channels-first ``(C, *lead, *spatial)``, NumPy or lazy (dask).
    low, high: per-channel statistics, shape ``(C,)`` float32 (0 and 1 without
        normalization).
    todo: leading indices to process.
    """

    source: Any
    dims: int
    low: np.ndarray
    high: np.ndarray
    todo: list[tuple[int, ...]]

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape without channels."""
        return tuple(self.source.shape[1:])

    @property
    def lead_shape(self) -> tuple[int, ...]:
        return self.shape[: len(self.shape) - self.dims]

    @property
    def spatial(self) -> tuple[int, ...]:
        return self.shape[len(self.shape) - self.dims :]


def prepare_job(
    image: Any,
    dims: int,
    *,
    in_channels: int | None,
    normalization: Normalization | None,
    channel_axis: int | None = None,
    rgb: bool = False,
    indices: Sequence[tuple[int, ...]] | None = None,
) -> ImageJob:
    """Check ``image`` against the model and compute its statistics (lazily read)."""
    source = channels_first(image, channel_axis, rgb)
    check_spatial(source, dims)
    channels = source.shape[0]
    if in_channels is not None and channels != in_channels:
        raise UserInputError(
            f"The model expects {in_channels} channel(s) but the image has {channels}. "
            f"Use a model trained on {channels}-channel images, or pick the matching image."
        )
    shape = tuple(source.shape[1:])
    lead_shape = shape[: len(shape) - dims]
    todo = list(np.ndindex(*lead_shape)) if indices is None else [tuple(i) for i in indices]
    for idx in todo:
        if len(idx) != len(lead_shape) or any(not 0 <= i < n for i, n in zip(idx, lead_shape)):
            raise UserInputError(
                f"Slice index {idx} is outside the image (leading shape {lead_shape})."
            )
    if normalization is not None:
        low, high = normalization.statistics(source)
    else:
        low, high = np.zeros(channels, np.float32), np.ones(channels, np.float32)
    return ImageJob(source, dims, low, high, todo)


@contextlib.contextmanager
def network_on(
    network: torch.nn.Module, device: str | torch.device, threads: int | None, dims: int
) -> Iterator[torch.device]:
    """Run ``network`` on ``device`` in eval mode; restore its device and every module's
    training flag afterwards. Yields the :class:`torch.device`."""
    dev = device if isinstance(device, torch.device) else select_device(device)
    if dev.type == "cpu":
        configure_cpu_threads(threads)
    param = next(network.parameters(), None)
    home = param.device if param is not None else torch.device("cpu")
    flags = [(m, m.training) for m in network.modules()]
    network.to(dev, memory_format=memory_format(dev, dims)).eval()
    try:
        yield dev
    finally:
        network.to(home, memory_format=torch.contiguous_format)
        for module, flag in flags:
            module.training = flag
