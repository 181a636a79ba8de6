"""Bounded before allocated: what a file claims is checked before anything is read.

A small file can claim a huge image (a zarr array of shape 10^5 x 10^5 x 10^5 with three
chunks written, a TIFF header saying 100,000 x 100,000 pixels, one enormous chunk) or a
huge member (a zip bomb in a package or a ``.pt`` archive). Every such claim is compared
with a memory limit *before* the memory is taken, and refused in one line naming the
claim and the limit:

* what is read whole (a TIFF or PNG read into memory, an image an attack holds, the
  TIFF outputs of a prediction, an archive member): at most :func:`memory_limit`;
* one chunk of a lazily read image (zarr chunk, TIFF strip or tile), decoded whole for
  every read that touches it, several at a time: at most :func:`chunk_limit`;
* the bookkeeping of a lazy image (its chunks, the blocks of a prediction): at most
  :func:`memory_limit` at :data:`BYTES_PER_CHUNK` / :data:`BYTES_PER_BLOCK` each.

A legitimately large image stays readable lazily: a zarr (or tiled TIFF) of normal chunks
is read chunk by chunk whatever its size. The limit is ``$NAPARI_UNET_MEMORY_LIMIT``
(``512M``, ``8G``, ``2.5GiB``, bytes) or, by default, :data:`DEFAULT_LIMIT` (at most half
of the memory available).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence

import numpy as np

from ..errors import UserInputError

LIMIT_ENV = "NAPARI_UNET_MEMORY_LIMIT"
DEFAULT_LIMIT = 1 << 30  # 1 GiB for one allocation made from a file's claim
CHUNKS_AT_ONCE = 4  # chunks decoded together by one read (zarr reads them concurrently)
BYTES_PER_CHUNK = 256  # bookkeeping of one chunk of a lazy image (dask, chunk regions)
BYTES_PER_BLOCK = 1024  # bookkeeping of one prediction block (~650 bytes measured, markers)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1000,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mb": 10**6,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 10**9,
    "gib": 1 << 30,
    "t": 1 << 40,
    "tb": 10**12,
    "tib": 1 << 40,
}
LIMIT_HINT = f"set {LIMIT_ENV} (e.g. 8G) to allow more"
LAZY_HINT = "a lazy zarr with smaller chunks (e.g. 1024 x 1024) is read chunk by chunk"


def format_bytes(count: float) -> str:
    """``"1.5 GiB"``, ``"512 MiB"``, ``"12 KiB"``, ``"3 bytes"``."""
    count = float(count)
    for unit, size in (
        ("PiB", 1 << 50),
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{int(count)} bytes"


def parse_size(text: str) -> int:
    """``"8G"`` -> 8 GiB, ``"500MB"`` -> 5e8, ``"1234"`` -> 1234 bytes; ValueError if not."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    if not match or match[2].lower() not in _UNITS:
        raise ValueError(text)
    value = float(match[1]) * _UNITS[match[2].lower()]
    if not math.isfinite(value) or value < 1:
        raise ValueError(text)
    return int(value)


def _available_memory() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - psutil missing or unsupported: no cap from it
        return None


def memory_limit() -> int:
    """Bytes one allocation made from a file's claim may take (see the module docstring)."""
    text = os.environ.get(LIMIT_ENV)
    if text:
        try:
            return parse_size(text)
        except ValueError:
            raise UserInputError(
                f"{LIMIT_ENV}={text!r} is not a size; give one such as 512M, "
                "8G or a number of bytes."
            ) from None
    available = _available_memory()
    return min(DEFAULT_LIMIT, available // 2) if available else DEFAULT_LIMIT


def chunk_limit() -> int:
    """Bytes one decoded chunk of a lazily read image may take."""
    return max(1, memory_limit() // CHUNKS_AT_ONCE)


def claim_bytes(shape: Sequence[int], itemsize: int) -> int:
    """Bytes of an array of ``shape`` (exact, Python integers: no overflow)."""
    return math.prod(int(s) for s in shape) * int(itemsize)


def refuse(path: object, claim: str, limit: int, hint: str, per: str = "") -> UserInputError:
    """The one-line error for a claim over ``limit`` (``per``: "chunk" for a per-chunk one)."""
    of = f"{format_bytes(limit)} per {per}" if per else format_bytes(limit)
    return UserInputError(
        f"{path}: {claim}, over the memory limit of {of}; {hint} (or {LIMIT_HINT})."
    )


def check_whole(
    path: object, shape: Sequence[int], dtype: object, what: str = "image", hint: str = LAZY_HINT
) -> None:
    """Refuse reading an array of ``shape`` and ``dtype`` whole when over the limit."""
    size = claim_bytes(shape, np.dtype(dtype).itemsize)
    limit = memory_limit()
    if size > limit:
        raise refuse(
            path,
            f"the {what} claims shape {tuple(int(s) for s in shape)} "
            f"{np.dtype(dtype)} ({format_bytes(size)}), read whole",
            limit,
            hint,
        )


def check_chunks(
    path: object, shape: Sequence[int], chunks: Sequence[int], itemsize: int, what: str = "chunk"
) -> None:
    """Refuse a lazily read array whose one chunk, or number of chunks, is over the limits."""
    size = claim_bytes(chunks, itemsize)
    limit = chunk_limit()
    if size > limit:
        raise refuse(
            path,
            f"one {what} claims {tuple(int(c) for c in chunks)} x {itemsize} "
            f"bytes ({format_bytes(size)}), decoded whole for every read",
            limit,
            LAZY_HINT,
            per=what,
        )
    count = math.prod(-(-int(s) // max(1, int(c))) for s, c in zip(shape, chunks))
    if count * BYTES_PER_CHUNK > memory_limit():
        raise refuse(
            path,
            f"shape {tuple(int(s) for s in shape)} in {what}s of "
            f"{tuple(int(c) for c in chunks)} makes {count:,} {what}s, whose "
            f"bookkeeping needs {format_bytes(count * BYTES_PER_CHUNK)}",
            memory_limit(),
            "use larger chunks, or a smaller image",
        )


def check_block_count(path: object, shape: Sequence[int], blocks: int) -> None:
    """Refuse a prediction of more blocks than the bookkeeping limit allows."""
    need = blocks * BYTES_PER_BLOCK
    limit = memory_limit()
    if need > limit:
        raise refuse(
            path,
            f"an image of shape {tuple(int(s) for s in shape)} makes "
            f"{blocks:,} prediction blocks, whose bookkeeping needs "
            f"{format_bytes(need)}",
            limit,
            "use a larger --block, or predict a part of the image",
        )
