"""Memory claims of a command, checked before any work (see :mod:`napari_unet.core.io.input_limits`)."""

from __future__ import annotations

import numpy as np

from napari_unet.core.io.input_limits import (
    check_block_count,
    check_whole,
    claim_bytes,
    format_bytes,
    memory_limit,
    refuse,
)

HELD_HINT = "crop the image to the region to study"
TIFF_OUT_HINT = "use --out-format zarr, which writes the outputs block by block"


def without_channels(
    shape: tuple[int, ...], layout: tuple[bool, int | None, bool]
) -> tuple[int, ...]:
    """The shape of an image's outputs: ``shape`` less its channel axis, for the layout
    ``(rgb, channel_axis, to_grey)`` of :func:`._inputs.check_layout`."""
    rgb, channel_axis, to_grey = layout
    if rgb or to_grey:
        return shape[:-1]
    if channel_axis is not None:
        return shape[: channel_axis % len(shape)] + shape[channel_axis % len(shape) + 1 :]
    return shape


def check_held_whole(path: str, image) -> None:
    """Refuse an image that a command holds whole (as float32) when over the limit."""
    check_whole(
        path, tuple(image.shape), np.float32, what="image (held whole as float32)", hint=HELD_HINT
    )


def check_prediction_memory(
    path: str,
    shape: tuple[int, ...],
    layout: tuple[bool, int | None, bool],
    model,
    config,
    to_zarr: bool,
) -> None:
    """Refuse a prediction whose in-memory outputs (TIFF outputs are built whole) or block
    bookkeeping would exceed the memory limit."""
    from napari_unet.core.io.sinks import label_dtype
    from napari_unet.core.prediction.engine import block_plan

    out_shape = without_channels(shape, layout)
    if len(out_shape) < model.spatial_dims:
        return  # refused later with its own message
    plan = block_plan(model, out_shape, config)
    check_block_count(path, out_shape, int(np.prod(plan.done_shape, dtype=object)))
    if to_zarr:
        return
    per_pixel = (
        label_dtype(model.num_classes).itemsize
        + 4 * config.instances
        + 4 * model.num_classes * config.probabilities
    )
    need, limit = claim_bytes(out_shape, per_pixel), memory_limit()
    if need > limit:
        what = (
            "labels"
            + (", probabilities" if config.probabilities else "")
            + (", instances" if config.instances else "")
        )
        raise refuse(
            path,
            f"its TIFF outputs ({what}) for shape {out_shape} need {format_bytes(need)} in memory",
            limit,
            TIFF_OUT_HINT,
        )


def zarr_output_bytes(shape: tuple[int, ...], model, config) -> int:
    """Upper bound of the zarr outputs' size (uncompressed) for an image of ``shape``
    (with its channels: the largest of the image's axes counts as spatial)."""
    from napari_unet.core.io.sinks import label_dtype

    pixels = int(np.prod(shape, dtype=object)) // max(1, model.in_channels)
    per_pixel = (
        label_dtype(model.num_classes).itemsize
        + 4 * config.instances
        + 4 * model.num_classes * config.probabilities
    )
    return pixels * per_pixel
