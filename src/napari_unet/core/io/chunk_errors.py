"""A chunk that cannot be decoded, named: which file, which block, what to do.

:class:`NamedChunks` wraps a zarr array read as an input (a zarr or OME-Zarr level, a
TIFF through tifffile's zarr view). A read that fails to decode (a truncated chunk file,
corrupt Zstd or zlib data) is narrowed down to the failing chunk, and becomes one
:class:`UserInputError` naming the chunk's file (zarr) or tile/strip (TIFF), its position
in pixels and what to do, instead of "RuntimeError: Zstd decompression error".
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import numpy as np

from ..errors import UserInputError

MAX_PROBED = 4096  # chunks tried one by one to find the damaged one


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:160] or type(err).__name__


def _ranges(key: Any, shape: tuple[int, ...]) -> list[range] | None:
    """Per axis, the indices a basic-indexing ``key`` reads (None: not basic indexing)."""
    key = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in key):
        at = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:at] + (slice(None),) * (len(shape) - len(key) + 1) + key[at + 1 :]
    key = key + (slice(None),) * (len(shape) - len(key))
    out = []
    for k, n in zip(key, shape):
        if isinstance(k, slice):
            out.append(range(*k.indices(n)))
        elif isinstance(k, (int, np.integer)):
            out.append(range(int(k) % n, int(k) % n + 1))
        else:
            return None
    return out


class NamedChunks:
    """Array-like (``shape``, ``dtype``, ``chunks``, slicing) over a zarr ``array`` read
    from ``path``; decoding failures are named (see the module docstring)."""

    def __init__(
        self, array: Any, path: str | os.PathLike, component: str | None = None, tiff: bool = False
    ) -> None:
        self.array, self.path, self.component, self.tiff = array, os.fspath(path), component, tiff
        self.shape: tuple[int, ...] = tuple(array.shape)
        self.dtype = array.dtype
        self.ndim = len(self.shape)
        self.chunks: tuple[int, ...] = tuple(array.chunks)

    def __getitem__(self, key: Any) -> Any:
        try:
            return self.array[key]
        except (MemoryError, KeyboardInterrupt, UserInputError):
            raise
        except Exception as err:  # noqa: BLE001 - a decode failure is narrowed and named
            damaged = self.find_damaged(key)
            if damaged is None:
                raise
            raise self.damaged_error(damaged, err) from None

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self[...], dtype=dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def find_damaged(self, key: Any) -> tuple[int, ...] | None:
        """Grid position of the first chunk under ``key`` that fails to decode, or None."""
        ranges = _ranges(key, self.shape)
        if ranges is None:
            return None
        axes = [
            range(r.start // c, (max(r) // c) + 1) if len(r) else range(0)
            for r, c in zip(ranges, self.chunks)
        ]
        for grid in itertools.islice(itertools.product(*axes), MAX_PROBED):
            region = tuple(
                slice(g * c, min(n, (g + 1) * c)) for g, c, n in zip(grid, self.chunks, self.shape)
            )
            try:
                self.array[region]
            except (MemoryError, KeyboardInterrupt):
                raise
            except Exception:  # noqa: BLE001 - this is the damaged one
                return grid
        return None

    def damaged_error(self, grid: tuple[int, ...], err: BaseException) -> UserInputError:
        """The one line naming the damaged chunk at ``grid`` and what to do."""
        start = tuple(g * c for g, c in zip(grid, self.chunks))
        where = f"the block at pixel {start} (chunk {grid}, {self.chunks} pixels)"
        if self.tiff:
            return UserInputError(
                f"{self.path}: {where} cannot be decoded ({_one_line(err)}); the TIFF is "
                "damaged: replace it with a good copy, then run again."
            )
        return UserInputError(
            f"{self.path}: {where}, stored in {self.chunk_file(grid)}, cannot be decoded "
            f"({_one_line(err)}); the file is damaged: replace that chunk file from a good "
            "copy, or delete it to read that block as empty, then run again."
        )

    def chunk_file(self, grid: tuple[int, ...]) -> str:
        """The path of the file holding the chunk at ``grid`` (its shard, if sharded)."""
        shards = getattr(self.array, "shards", None)
        if shards:
            grid = tuple(g * c // s for g, c, s in zip(grid, self.chunks, shards))
        try:
            key = self.array.metadata.encode_chunk_key(grid)
        except Exception:  # noqa: BLE001 - no key scheme: name the position only
            key = "/".join(map(str, grid))
        return os.path.join(self.path, *([self.component] if self.component else []), key)

    def __reduce__(self) -> tuple:
        return (NamedChunks, (self.array, self.path, self.component, self.tiff))
