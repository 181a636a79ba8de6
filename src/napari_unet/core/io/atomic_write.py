"""Atomic file writes that leave nothing behind and give files the user's normal mode.

:func:`atomic_write` writes next to the destination under a hidden temporary name
``.NAME.<host>-<pid>.<random>.tmp``, flushes it to disk, gives it the permissions a plain
``open()`` would (``0o666`` minus the umask, or the mode of the file it replaces) and
renames it over the destination. A failure at any point removes the temporary file and
leaves the destination untouched. A process killed mid-write (``kill -9``) leaves its
temporary file behind; the next write of the same destination removes such leftovers
when they are certainly stale: written by a process of this host that no longer runs,
or older than :data:`STALE_AFTER_SECONDS` (temporaries of other hosts, or of the old
unnamed format ``.NAME.<random>.tmp``).
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import socket
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

STALE_AFTER_SECONDS = 6 * 3600.0
FULL_DISK_BYTES = 1 << 20  # less free space than this after a failed write: the disk is full
_UMASK_LOCK = threading.Lock()
_OWNER = re.compile(r"^(?P<host>.+)-(?P<pid>\d+)\.[0-9a-z]+$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"


def temporary_name(path: Path) -> Path:
    """The hidden temporary file for ``path`` written by this process."""
    return path.with_name(f".{path.name}.{_host()}-{os.getpid()}.{secrets.token_hex(4)}.tmp")


def default_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: ``0o666`` minus the umask."""
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _is_stale(tmp: Path, middle: str, now: float) -> bool:
    owner = _OWNER.match(middle)
    if owner and owner["host"] == _host():
        pid = int(owner["pid"])
        if pid != os.getpid() and not _process_alive(pid):
            return True
    try:
        return now - tmp.stat().st_mtime > STALE_AFTER_SECONDS
    except OSError:
        return False


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete leftover temporaries of ``path`` (only ours, only stale ones); returns them."""
    path = Path(path)
    prefix, now, removed = f".{path.name}.", time.time(), []
    try:
        candidates = [
            p
            for p in path.parent.iterdir()
            if p.name.startswith(prefix) and p.name.endswith(".tmp")
        ]
    except OSError:
        return removed
    for tmp in candidates:
        middle = tmp.name[len(prefix) : -len(".tmp")]
        try:
            if tmp.is_file() and not tmp.is_symlink() and _is_stale(tmp, middle, now):
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            continue
    return removed


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(handle)`` on a temporary file, then rename it over ``path``.

    The parent folder is created if needed. Raises what the write raises (``OSError`` for
    a full or read-only disk); ``path`` is then unchanged and no temporary file remains.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode) if path.is_file() else default_file_mode()
    except OSError:
        mode = default_file_mode()
    tmp = temporary_name(path)
    try:
        with open(tmp, "xb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        full = _disk_is_full(tmp, err)
        tmp.unlink(missing_ok=True)
        if full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from err
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _disk_is_full(tmp: Path, err: BaseException) -> bool:
    """Whether a failed write failed for lack of space. Writers that do their own I/O
    (tifffile's short-write check, PyTorch's zip writer) report a full disk without an
    errno, so ask the file system (while the partial temporary still occupies it)."""
    if isinstance(err, OSError) and err.errno is not None:
        return err.errno in (errno.ENOSPC, errno.EDQUOT)
    try:
        return shutil.disk_usage(tmp.parent).free < FULL_DISK_BYTES
    except OSError:
        return False
