"""Shared argument helpers of the subcommands."""

from __future__ import annotations

import argparse

import numpy as np

from napari_unet.core.errors import UserInputError

from ._validate import device, int_in_range


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", type=device, default="auto",
                        help="compute device (default: auto = CUDA, then MPS, then CPU)")


def check_pairs(first: list, second: list, first_name: str, second_name: str) -> None:
    if len(first) != len(second):
        raise UserInputError(f"Got {len(first)} {first_name} but {len(second)} {second_name}; "
                             f"give one {second_name[:-1]} per {first_name[:-1]}.")


def add_channels(parser: argparse.ArgumentParser) -> None:
    """``--rgb`` and ``--channel-axis``: where the colour channels of the images are."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--rgb", action="store_true",
                       help="images are RGB(A): the last axis holds 3 or 4 colour channels")
    group.add_argument("--channel-axis", type=int_in_range(-8, 7), default=None, metavar="N",
                       help="images have channels along axis N (e.g. 0 for C,Y,X)")


def _looks_rgb(image: np.ndarray) -> bool:
    return image.ndim == 3 and image.shape[-1] in (3, 4)


def image_layout(image: np.ndarray, path: str, args: argparse.Namespace,
                 model_channels: int | None = None) -> tuple[np.ndarray, bool, int | None]:
    """Where the channels of ``image`` are: ``(image, rgb, channel_axis)`` for the core.

    ``--rgb`` / ``--channel-axis N`` say it explicitly. Without them an image is one
    channel, except that a file shaped like RGB(A) (H, W, 3|4) is never silently read as
    H slices of W x 3: it is used as colour when the model takes that many channels, and
    refused otherwise, with a message naming the option to use. A 1-channel model given
    ``--rgb`` segments the grey version (mean of the colour channels, alpha dropped).
    """
    rgb, channel_axis = bool(getattr(args, "rgb", False)), getattr(args, "channel_axis", None)
    if rgb and not _looks_rgb(image) and not (image.ndim > 3 and image.shape[-1] in (3, 4)):
        raise UserInputError(f"--rgb: {path} has shape {image.shape}; an RGB(A) image has a "
                             "last axis of 3 or 4 colour channels. Leave out --rgb.")
    if channel_axis is not None and not -image.ndim <= channel_axis < image.ndim:
        raise UserInputError(f"--channel-axis {channel_axis}: {path} has only {image.ndim} "
                             f"axes (shape {image.shape}).")
    if not rgb and channel_axis is None:
        if model_channels and model_channels > 1:
            if _looks_rgb(image) and image.shape[-1] == model_channels:
                rgb = True
            elif image.ndim >= 3 and image.shape[0] == model_channels:
                channel_axis = 0
        elif _looks_rgb(image):
            raise UserInputError(
                f"{path} looks like an RGB(A) image (shape {image.shape}); pass --rgb to use its "
                "colours, or --channel-axis N if another axis holds the channels.")
    if rgb and model_channels == 1:
        image, rgb = image[..., :3].mean(axis=-1, dtype=np.float32), False
    channels = (image.shape[-1] if rgb else image.shape[channel_axis]
                if channel_axis is not None else 1)
    if model_channels is not None and channels != model_channels:
        raise UserInputError(f"{path} has {channels} channel(s) but the model takes "
                             f"{model_channels}; use --rgb or --channel-axis to say where the "
                             "channels are, or pick a model trained on such images.")
    return image, rgb, channel_axis
