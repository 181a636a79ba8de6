"""Shared argument helpers of the subcommands."""

from __future__ import annotations

import argparse

from napari_unet.core.device import DEVICES
from napari_unet.core.errors import UserInputError


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="compute device (default: auto = CUDA, then MPS, then CPU)")


def check_pairs(first: list, second: list, first_name: str, second_name: str) -> None:
    if len(first) != len(second):
        raise UserInputError(f"Got {len(first)} {first_name} but {len(second)} {second_name}; "
                             f"give one {second_name[:-1]} per {first_name[:-1]}.")


def image_layout(model_channels: int, image_shape: tuple[int, ...]) -> tuple[bool, int | None]:
    """``(rgb, channel_axis)`` of an image file for a model with ``model_channels`` inputs:
    a last axis of 3 or 4 matching the model is RGB(A), otherwise channels come first."""
    rgb = model_channels in (3, 4) and len(image_shape) >= 3 and image_shape[-1] == model_channels
    return rgb, (0 if model_channels > 1 and not rgb else None)
