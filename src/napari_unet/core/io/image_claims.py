"""What an image file claims (shape, dtype, chunks), checked before any pixel is read.

Used by :mod:`.image_files` and :mod:`.zarr_files` when they open a file: a zarr array or
OME-Zarr level (its chunk and number of chunks, see :func:`.input_limits.check_chunks`),
a TIFF (its strips or tiles when read lazily, its whole series when read whole), a PNG
(its header, when read whole). Only headers and metadata are read here.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserInputError
from .input_limits import check_chunks, check_whole, format_bytes

METADATA_FILES = ("zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata")
METADATA_LIMIT = 16 << 20  # zarr metadata is read whole as JSON: a few KiB when genuine
NUMBER_KINDS = "biufc"  # complex is refused later with its own message


def check_metadata_files(folder: str | os.PathLike) -> None:
    """Refuse zarr metadata files in ``folder`` larger than :data:`METADATA_LIMIT`."""
    for name in METADATA_FILES:
        meta = Path(folder) / name
        try:
            size = meta.stat().st_size if meta.is_file() else 0
        except OSError:
            continue
        if size > METADATA_LIMIT:
            raise UserInputError(
                f"{meta}: zarr metadata of {format_bytes(size)} (genuine "
                f"metadata is a few KiB; at most {format_bytes(METADATA_LIMIT)}"
                " is read)."
            )


def check_numeric(path: object, dtype: Any) -> None:
    """Refuse arrays of strings, objects, dates or records: images are numbers."""
    dtype = np.dtype(dtype)
    if dtype.kind not in NUMBER_KINDS:
        raise UserInputError(
            f"{path}: the array holds {dtype} values, not numbers; an image "
            "or labels array needs a numeric dtype (integers or floats)."
        )


def check_zarr_array(array: Any, path: object) -> None:
    """A lazily read zarr array: numeric, chunks and number of chunks within the limits."""
    dtype = getattr(array, "dtype", None)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise UserInputError(
            f"{path}: the array's data type {dtype!r} is not a NumPy number type."
        ) from None
    check_numeric(path, dtype)
    check_chunks(path, tuple(array.shape), tuple(array.chunks), dtype.itemsize)


def tiff_series(path: str | os.PathLike) -> tuple[tuple[int, ...], np.dtype, bool]:
    """``(shape, dtype, contiguous)`` of the first series of a TIFF, from its headers;
    contiguous: uncompressed and stored in one piece (it can be memory-mapped)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, dtype = tuple(int(s) for s in series.shape), np.dtype(series.dtype)
            contiguous = series.dataoffset is not None
    except UserInputError:
        raise
    except Exception as err:  # noqa: BLE001 - any header failure becomes one clear message
        raise UserInputError(f"Could not read {path}: {' '.join(str(err).split())[:300]}") from None
    check_numeric(path, dtype)
    return shape, dtype, contiguous


def check_tiff_whole(path: str | os.PathLike) -> None:
    """A TIFF about to be read whole: its claimed series must fit the memory limit."""
    shape, dtype, _ = tiff_series(path)
    check_whole(path, shape, dtype)


def png_header(path: str | os.PathLike) -> tuple[tuple[int, ...], np.dtype] | None:
    """``(shape, dtype)`` a PNG claims in its IHDR header; None when it is not a PNG."""
    with open(path, "rb") as handle:
        head = handle.read(33)
    if len(head) < 33 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    samples = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(colour, 4)
    shape = (height, width) if samples == 1 else (height, width, samples)
    return shape, np.dtype(np.uint16 if depth == 16 else np.uint8)


def check_png_whole(path: str | os.PathLike) -> None:
    """A PNG about to be decoded: its header's claim must fit the memory limit."""
    header = png_header(path)
    if header is not None:
        check_whole(path, *header)
