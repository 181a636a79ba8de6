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
