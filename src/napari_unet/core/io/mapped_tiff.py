"""Uncompressed TIFFs read through a memory map: only the pixels asked for are read.

tifffile's zarr view of a TIFF decodes one strip or tile per chunk, and an uncompressed
TIFF written in one piece (tifffile's default) has one strip per page: a 20,000 x 20,000
page would be read whole for every block. Such a series is stored contiguously, so
:class:`MappedTiff` maps it instead: a read takes only the rows it needs, and nothing is
allocated from what the header claims. It pickles by path (cluster workers map it again).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import UserInputError

CHUNK_EDGE = 2048  # chunks the core reads such a file by (no decoding: any size works)


class MappedTiff:
    """Array-like view (``shape``, ``dtype``, ``chunks``, slicing) of the first series of an
    uncompressed, contiguous TIFF; slices are copied out of the map."""

    def __init__(self, path: str | os.PathLike) -> None:
        import tifffile

        self.path = os.fspath(path)
        try:
            self._map = tifffile.memmap(self.path, mode="r")
        except Exception as err:  # noqa: BLE001 - a truncated or odd file: one line
            raise UserInputError(
                f"{self.path}: its pixels cannot be mapped (the file may be "
                f"truncated): {' '.join(str(err).split())[:200]}"
            ) from None
        self.shape: tuple[int, ...] = tuple(self._map.shape)
        self.dtype = self._map.dtype.newbyteorder("=")  # big-endian files read as native
        self.ndim = len(self.shape)
        planes = max(0, self.ndim - 2)
        self.chunks = (1,) * planes + tuple(min(CHUNK_EDGE, s) or 1 for s in self.shape[planes:])

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.array(self._map[key], dtype=self.dtype)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        # a writable copy in native byte order, as a decoded file would be
        return np.array(self._map, dtype=dtype or self.dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def __reduce__(self) -> tuple:
        return (MappedTiff, (self.path,))
