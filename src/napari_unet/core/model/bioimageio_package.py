"""Read back a bioimage.io model package that napari-unet exported (``.zip``).

The package (see :mod:`napari_unet.core.model.bioimageio_export`) holds, beside the bioimage.io
description ``rdf.yaml``, a small JSON file :data:`MARKER` with the napari-unet metadata (U-Net
settings, classes, normalization, training rounds) and the name of the ``pytorch_state_dict``
weights file. Loading builds the architecture from the *installed* napari-unet and reads the
weights with ``torch.load(weights_only=True)``: nothing in the file is ever executed, and a
package made by another tool is refused with a message saying so. Needs neither bioimageio
nor napari.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelFileError
from ..io.input_limits import memory_limit
from .archive_checks import JSON_LIMIT, check_archive, load_json, read_member
from .checks import trained_model_from
from .package_schema import check_marker
from .trained_model import TrainedModel

MARKER = "napari_unet.json"
PACKAGE_FORMAT = "napari-unet-bioimageio"
PACKAGE_FORMAT_VERSION = 1


def is_package(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a bioimage.io package (a ``.zip`` file), whoever made it."""
    return Path(path).suffix.lower() == ".zip"


def is_napari_unet_package(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a zip archive holding napari-unet's :data:`MARKER`."""
    try:
        with zipfile.ZipFile(path) as archive:
            return MARKER in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def _read_marker(archive: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    names = set(archive.namelist())
    if MARKER not in names:
        what = "a bioimage.io package" if "rdf.yaml" in names else "not a bioimage.io package"
        raise ModelFileError(
            f"{path} is {what} not exported by napari-unet. napari-unet loads only packages it "
            "exported (it never runs code from a file); use bioimageio.core or the tool that "
            "made it for other packages."
        )
    marker = load_json(read_member(archive, MARKER, str(path), JSON_LIMIT), f"{path}: {MARKER}")
    if not isinstance(marker, dict) or marker.get("format") != PACKAGE_FORMAT:
        raise ModelFileError(f"{path} is not a napari-unet bioimage.io package.")
    if marker.get("format_version") != PACKAGE_FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has package format version {marker.get('format_version')}; this "
            f"napari-unet reads version {PACKAGE_FORMAT_VERSION}. Update napari-unet."
        )
    check_marker(marker, names, f"{path}: {MARKER}")  # every field's type, before use
    return marker


def _read_state_dict(archive: zipfile.ZipFile, name: str, path: Path) -> dict[str, torch.Tensor]:
    data = read_member(archive, name, str(path), memory_limit())
    if not zipfile.is_zipfile(io.BytesIO(data)):  # the legacy format allocates as it claims
        raise ModelFileError(
            f"{path}: the weights {name!r} could not be loaded safely: not "
            "a PyTorch zip archive (napari-unet exports weights as one)."
        )
    check_archive(data, f"{path}: {name}")  # the weights are a zip archive of their own
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        ValueError,
        OSError,
        AttributeError,
        TypeError,
        KeyError,
        IndexError,
        MemoryError,
        RecursionError,
    ) as err:
        raise ModelFileError(
            f"{path}: the weights could not be loaded safely (corrupt, or objects other than "
            f"weights, which napari-unet never executes). Details: {str(err).splitlines()[0]}"
        ) from None
    if not isinstance(state, dict):
        raise ModelFileError(f"{path}: the weights file does not hold a state dict.")
    return state


def load_package(path: str | os.PathLike, expected_channels: int | None = None) -> TrainedModel:
    """A :class:`TrainedModel` from a package exported by napari-unet; clear errors otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Model package {path} does not exist.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is not a bioimage.io package (not a zip archive).")
    check_archive(path, str(path))  # every member's claimed size, before inflating any
    with zipfile.ZipFile(path) as archive:
        marker = _read_marker(archive, path)
        state = _read_state_dict(archive, marker["weights"], path)
    # the same checks as a .pt model file: metadata against the stored tensors first
    return trained_model_from(path, marker.get("metadata", {}), state, expected_channels)
