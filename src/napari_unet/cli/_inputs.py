"""Shared argument helpers of the subcommands."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from napari_unet.core.errors import UserInputError

from ._validate import device, int_in_range


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        type=device,
        default="auto",
        help="compute device (default: auto = CUDA, then MPS, then CPU)",
    )


def check_pairs(first: list, second: list, first_name: str, second_name: str) -> None:
    if len(first) != len(second):
        raise UserInputError(
            f"Got {len(first)} {first_name} but {len(second)} {second_name}; "
            f"give one {second_name[:-1]} per {first_name[:-1]}."
        )


def add_channels(parser: argparse.ArgumentParser) -> None:
    """``--rgb`` and ``--channel-axis``: where the colour channels of the images are."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--rgb",
        action="store_true",
        help="images are RGB(A): the last axis holds 3 or 4 colour channels",
    )
    group.add_argument(
        "--channel-axis",
        type=int_in_range(-8, 7),
        default=None,
        metavar="N",
        help="images have channels along axis N (e.g. 0 for C,Y,X)",
    )


def _looks_rgb(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and shape[-1] in (3, 4)


def check_layout(
    shape: tuple[int, ...], path: str, args: argparse.Namespace, model_channels: int | None = None
) -> tuple[bool, int | None, bool]:
    """Where the channels of an image of ``shape`` are: ``(rgb, channel_axis, to_grey)``.

    ``--rgb`` / ``--channel-axis N`` say it explicitly. Without them an image is one
    channel, except that a file shaped like RGB(A) (H, W, 3|4) is never silently read as
    H slices of W x 3: it is used as colour when the model takes that many channels, and
    refused otherwise, with a message naming the option to use. A 1-channel model given
    ``--rgb`` segments the grey version (``to_grey``: mean of the colour channels).
    Looks only at the shape, so every input can be checked before any work starts.
    """
    rgb, channel_axis = bool(getattr(args, "rgb", False)), getattr(args, "channel_axis", None)
    ndim = len(shape)
    if rgb and not (ndim >= 3 and shape[-1] in (3, 4)):
        raise UserInputError(
            f"--rgb: {path} has shape {shape}; an RGB(A) image has a "
            "last axis of 3 or 4 colour channels. Leave out --rgb."
        )
    if channel_axis is not None and not -ndim <= channel_axis < ndim:
        raise UserInputError(
            f"--channel-axis {channel_axis}: {path} has only {ndim} axes (shape {shape})."
        )
    if not rgb and channel_axis is None:
        if model_channels and model_channels > 1:
            if _looks_rgb(shape) and shape[-1] == model_channels:
                rgb = True
            elif ndim >= 3 and shape[0] == model_channels:
                channel_axis = 0
        elif _looks_rgb(shape):
            raise UserInputError(
                f"{path} looks like an RGB(A) image (shape {shape}); pass --rgb to use its "
                "colours, or --channel-axis N if another axis holds the channels."
            )
    to_grey = rgb and model_channels == 1
    channels = (
        1
        if to_grey
        else shape[-1]
        if rgb
        else shape[channel_axis]
        if channel_axis is not None
        else 1
    )
    if model_channels is not None and channels != model_channels:
        raise UserInputError(
            f"{path} has {channels} channel(s) but the model takes "
            f"{model_channels}; use --rgb or --channel-axis to say where the "
            "channels are, or pick a model trained on such images."
        )
    return rgb and not to_grey, channel_axis, to_grey


def with_file_channels(args: argparse.Namespace, image: Any) -> argparse.Namespace:
    """The options, with the channel axis of an :class:`~napari_unet.core.io.image_files.
    OpenedImage`'s OME-Zarr metadata unless ``--channel-axis`` was given."""
    if image.channel_axis is not None and getattr(args, "channel_axis", None) is None:
        return argparse.Namespace(**{**vars(args), "channel_axis": image.channel_axis})
    return args


def open_input(
    path: str, args: argparse.Namespace, model_channels: int | None = None
) -> tuple[Any, bool, int | None]:
    """``(image, rgb, channel_axis)`` of the image at ``path`` for the core: a TIFF or a
    zarr / OME-Zarr image (level 0) stays lazy (read region by region), a PNG is read;
    the channel layout is checked as :func:`check_layout` says."""
    from napari_unet.core.io.image_files import open_image

    opened = open_image(path)
    return image_layout(opened.data, path, with_file_channels(args, opened), model_channels)


def open_inputs(
    paths: list[str], args: argparse.Namespace, model_channels: int | None = None
) -> tuple[list[Any], bool, int | None]:
    """``(images, rgb, channel_axis)`` of several images that share one channel layout."""
    layouts = [open_input(p, args, model_channels) for p in paths]
    if len({(rgb, axis) for _, rgb, axis in layouts}) > 1:
        raise UserInputError(
            "The images have different channel layouts; use --rgb or "
            "--channel-axis N to say where the channels are."
        )
    return [image for image, _, _ in layouts], layouts[0][1], layouts[0][2]


def image_layout(
    image: Any, path: str, args: argparse.Namespace, model_channels: int | None = None
) -> tuple[Any, bool, int | None]:
    """``(image, rgb, channel_axis)`` for the core; see :func:`check_layout`."""
    rgb, channel_axis, to_grey = check_layout(tuple(image.shape), path, args, model_channels)
    if to_grey:
        image = np.asarray(image[..., :3]).mean(axis=-1, dtype=np.float32)
    return image, rgb, channel_axis
