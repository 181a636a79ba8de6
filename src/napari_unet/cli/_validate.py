"""Validation of command-line options, as argparse ``type=`` functions.

Every option of every subcommand goes through one of these, so a bad value ends in
argparse's exit code 2 with one line naming the option and the fix, before any work starts::

    parser.add_argument("--max-time", type=positive_float)
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--out-dir", type=output_dir, required=True)
    parser.add_argument("--workers", type=int_in_range(0, 64))
    parser.add_argument("--device", type=device, default="auto")

Each function takes the option's text and returns the converted value, or raises
:class:`argparse.ArgumentTypeError` with a message (argparse prefixes the option name).
File checks only look: nothing is created, nothing is imported that is slow (torch is
imported only to check an explicitly requested GPU).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

MAX_INT_OPTION = 10**9  # steps, iterations: more would run for years
MAX_SEED = 2**32 - 1  # NumPy and PyTorch both accept 0 .. 2**32 - 1 everywhere
DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")


def _bad(message: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(message)


# ---------------------------------------------------------------------- numbers
def finite_float(text: str) -> float:
    """Any real number except NaN and infinity."""
    try:
        value = float(text)
    except ValueError:
        raise _bad(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise _bad(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (time budgets, learning rates)."""
    value = finite_float(text)
    if value <= 0:
        raise _bad(f"must be a positive number, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 (budgets where 0 means off)."""
    value = finite_float(text)
    if value < 0:
        raise _bad(f"must be 0 or a positive number, got {text!r}")
    return value


def float_in_range(low: float, high: float) -> Callable[[str], float]:
    """A finite number in ``[low, high]``."""

    def check(text: str) -> float:
        value = finite_float(text)
        if not low <= value <= high:
            raise _bad(f"must be between {low:g} and {high:g}, got {text!r}")
        return value

    check.__name__ = f"float_in_range({low:g}, {high:g})"
    return check


def int_in_range(low: int, high: int) -> Callable[[str], int]:
    """A whole number in ``[low, high]``."""

    def check(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise _bad(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise _bad(f"must be between {low} and {high}, got {text!r}")
        return value

    check.__name__ = f"int_in_range({low}, {high})"
    return check


positive_int = int_in_range(1, MAX_INT_OPTION)
positive_int.__doc__ = "A whole number 1 .. 10**9 (steps, iterations)."
nonnegative_int = int_in_range(0, MAX_INT_OPTION)
seed = int_in_range(0, MAX_SEED)
seed.__doc__ = "A random seed 0 .. 2**32 - 1."


# ---------------------------------------------------------------------- devices
def device(text: str) -> str:
    """``auto``, ``cpu``, or a GPU (``cuda``, ``cuda:N``, ``mps``) present on this machine."""
    name = text.strip().lower()
    if name not in DEVICE_NAMES and not re.fullmatch(r"cuda:\d+", name):
        raise _bad(f"unknown device {text!r}; choose one of {', '.join(DEVICE_NAMES)} or cuda:N")
    if name != "auto" and name != "cpu":
        from napari_unet.core.device import select_device

        try:
            select_device(name)
        except ValueError as err:
            raise _bad(str(err)) from None
    return name


# ---------------------------------------------------------------------- files
def existing_file(text: str) -> str:
    """A regular file that exists and can be read."""
    from napari_unet.core.io.image_files import unreadable_reason

    path = Path(text)
    reason = unreadable_reason(path)
    if reason == "does not exist":
        parent = _first_existing_ancestor(path)
        if parent is not None and not parent.is_dir():
            reason += f" ({parent} is a file, not a folder)"
    if reason is not None:
        raise _bad(f"{text} {reason}")
    return text


def existing_image(text: str) -> str:
    """An image file that exists, or a zarr folder (zarr v2/v3 array, OME-Zarr image)."""
    from napari_unet.core.io.zarr_files import is_zarr_path

    path = Path(text)
    if path.is_dir() and is_zarr_path(path):
        return text
    return existing_file(text)


def class_value_or_none(text: str) -> int | str:
    """A class value (1 or more) or ``none``."""
    if text.strip().lower() == "none":
        return "none"
    try:
        value = int(text)
    except ValueError:
        raise _bad(f"{text!r} is not a class value (1, 2, ...) or 'none'") from None
    if value < 1:
        raise _bad(f"{value} is not a class value: classes are 1, 2, ... (or 'none')")
    return value


def images_named(text: str) -> list[str]:
    """The images a ``--images`` value names: an image file or zarr store, every image in
    a folder, or the matches of a glob pattern (quoted, so the shell leaves it)."""
    from napari_unet.core.errors import UserInputError
    from napari_unet.core.io.image_files import find_images

    try:
        found = find_images(text)
    except UserInputError as err:
        raise _bad(str(err).rstrip(".")) from None
    return [existing_image(str(path)) for path in found]


def output_dir(text: str) -> str:
    """A folder to write into: an existing writable folder, or one that can be created."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise _bad(f"{text} exists and is not a folder")
    _check_can_create_in(path if path.is_dir() else path.parent, text)
    return text


def output_file(text: str) -> str:
    """A file path to write: not a folder, in a folder that exists or can be created."""
    path = Path(text)
    if path.is_dir():
        raise _bad(f"{text} is a directory; give a file name such as {path / 'model.pt'}")
    if path.exists() and not path.is_file():
        raise _bad(f"{text} is not a regular file")
    _check_can_create_in(path.parent, text)
    return text


def _first_existing_ancestor(path: Path) -> Path | None:
    for candidate in [path, *path.absolute().parents]:
        if candidate.exists():
            return candidate
    return None


def _check_can_create_in(folder: Path, text: str) -> None:
    """``folder`` exists and is writable, or its nearest existing ancestor is a writable
    folder (so it can be created). Probes with an anonymous temporary file, which also
    catches read-only file systems that ``os.access`` misses when running as root."""
    existing = _first_existing_ancestor(folder)
    if existing is None:
        raise _bad(f"cannot write {text}: no part of its path exists")
    if not existing.is_dir():
        raise _bad(f"cannot write {text}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _bad(f"cannot write {text}: folder {existing} is not writable (permission denied)")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise _bad(
            f"cannot write {text}: folder {existing} is not writable ({err.strerror or err})"
        ) from None


# ---------------------------------------------------------------------- cluster
def scheduler_address(text: str) -> str:
    """A dask scheduler address a client can try (see :mod:`napari_unet.core.prediction.address`)."""
    from napari_unet.core.errors import UserInputError
    from napari_unet.core.prediction.address import check_scheduler_address

    try:
        return check_scheduler_address(text)
    except UserInputError as err:
        raise _bad(str(err)) from None
