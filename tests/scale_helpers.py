"""Helpers of the large-data tests (lazy inputs, zarr outputs, clusters): a small model
with fixed random weights and real ISBI stacks written as zarr."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from napari_unet.core import ClassInfo, TrainedModel, UNet, UNetConfig
from tests.conftest import isbi_slice


def small_model(seed: int = 0) -> TrainedModel:
    """A depth-2, width-8 U-Net with fixed random weights (eval mode): deterministic,
    varied labels on real images, no training time."""
    torch.manual_seed(seed)
    net = UNet(UNetConfig(depth=2, base_channels=8)).eval()
    return TrainedModel(net, ClassInfo(("background", "object"), (1, 2)))


def isbi_stack(slices: int, size: int = 256) -> np.ndarray:
    """``(slices, size, size)`` uint8 crops of the real ISBI slices."""
    return np.stack([isbi_slice(i, crop=size)[0] for i in range(slices)])


def write_zarr(path: Path, data: np.ndarray, zarr_format: int = 3, chunks=None):
    """``data`` as a zarr array at ``path`` (chunks: one slice of 128x128 by default)."""
    import zarr

    chunks = chunks or (1,) * (data.ndim - 2) + (128, 128)
    array = zarr.create_array(
        store=str(path), shape=data.shape, chunks=chunks, dtype=data.dtype, zarr_format=zarr_format
    )
    array[:] = data
    return array


def write_ome_zarr(path: Path, data: np.ndarray, zarr_format: int = 3):
    """``data`` as an OME-Zarr image (NGFF 0.5 for format 3, 0.4 for format 2) with two
    levels: ``0`` full resolution, ``1`` downsampled by 2 in y and x."""
    import zarr

    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    names = ["z", "y", "x"][-data.ndim :]
    axes = [{"name": n, "type": "space"} for n in names]
    datasets = []
    for level, array in enumerate((data, data[..., ::2, ::2])):
        group.create_array(
            str(level),
            shape=array.shape,
            dtype=array.dtype,
            chunks=(1,) * (array.ndim - 2) + (128, 128),
        )[:] = array
        scale = [1.0] * (data.ndim - 2) + [2.0**level] * 2
        datasets.append(
            {"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": scale}]}
        )
    multiscales = {"axes": axes, "datasets": datasets, "name": "image"}
    if zarr_format == 3:
        group.attrs["ome"] = {"version": "0.5", "multiscales": [multiscales]}
    else:
        group.attrs["multiscales"] = [{"version": "0.4", **multiscales}]
    return group


def write_isbi_tiffs(folder, count: int, crop: int = 64, prefix: str = "img") -> list:
    """``folder/<prefix>0.tif``...: ``count`` real ISBI crops as TIFF files (a data set)."""
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{prefix}{i}.tif" for i in range(count)]
    for i, path in enumerate(paths):
        tifffile.imwrite(path, isbi_slice(i, crop=crop)[0])
    return paths


def stop_after_first(run, event_type):
    """A stand-in for a run generator ``run(first, stop, ...)`` that presses Stop as soon
    as its first ``event_type`` event arrives (in the run's own thread: no race)."""

    def stopped(first, stop, *rest):
        work = run(first, stop, *rest)
        event = next(work)
        while not isinstance(event, event_type):
            yield event
            event = next(work)
        stop.request_stop()
        yield event
        return (yield from work)

    return stopped
