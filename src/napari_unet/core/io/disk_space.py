"""A full disk while writing an output, said plainly: which output, how much space it needs,
how much is free, and that the input is untouched.

Writers call :func:`disk_full_error` when :func:`is_disk_full` says an ``OSError`` was a
lack of space (``ENOSPC``, ``EDQUOT``, ``EFBIG``); the command line turns any other full
disk into the same sentence without the size needed.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from .input_limits import format_bytes

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` is a write refused for lack of space."""
    return isinstance(err, OSError) and err.errno in FULL_ERRNOS


def free_bytes(path: str | os.PathLike) -> int | None:
    """Free bytes on the file system of ``path`` (its nearest existing folder), or None."""
    for folder in [Path(path), *Path(path).absolute().parents]:
        if folder.exists():
            try:
                return shutil.disk_usage(folder).free
            except OSError:
                return None
    return None


def disk_full_message(
    output: str | os.PathLike, needed: int | None = None, resumable: bool = False
) -> str:
    """One line: the output that could not be written, the space it needs and what is
    free, that the inputs are untouched and what to do."""
    free = free_bytes(output)
    room = [] if free is None else [f"{format_bytes(free)} free there"]
    if needed:
        room.append(f"it needs up to {format_bytes(needed)}")
    then = (
        "finished blocks are kept, so the same command resumes"
        if resumable
        else "nothing partial was left"
    )
    return (
        f"Could not write {output}: No space left on device"
        + (f" ({'; '.join(room)})" if room else "")
        + f". The input files are untouched and {then}: free space or choose another "
        "output folder, then run again."
    )


def disk_full_error(output: str | os.PathLike, needed: int | None = None, resumable: bool = False):
    """The :class:`UserInputError` of :func:`disk_full_message`."""
    from ..errors import UserInputError

    return UserInputError(disk_full_message(output, needed, resumable))
