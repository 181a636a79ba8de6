"""Zip archives (model ``.pt`` files, bioimage.io packages) checked before they are read.

A zip member can inflate to gigabytes from a few kilobytes (a zip bomb), be damaged (bad
CRC, corrupt deflate data) or hold JSON nested so deeply that a parser overflows. Before
any member is inflated, :func:`check_archive` compares what every member claims
(uncompressed size, alone and together) with the memory limit of :mod:`..io.input_limits`;
:func:`read_member` then reads one member no larger than it claimed, and turns a damaged
one into one line; :func:`load_json` refuses JSON nested deeper than :data:`MAX_DEPTH`
before parsing it. Nothing in an archive is executed.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from typing import Any

from ..errors import ModelFileError
from ..io.input_limits import LIMIT_HINT, format_bytes, memory_limit

MAX_DEPTH = 64  # nesting of JSON members: napari-unet writes 4 levels
JSON_LIMIT = 16 << 20  # a JSON member is a few KiB when genuine
STORED_SLACK = 1 << 10  # a stored member's sizes may differ by its (absent) header only
DAMAGED = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


def _open(source: str | os.PathLike | bytes, name: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except DAMAGED as err:
        raise ModelFileError(f"{name}: the zip archive is damaged ({_say(err)}).") from None


def _say(err: BaseException) -> str:
    return " ".join(str(err).split())[:200] or type(err).__name__


def check_archive(source: str | os.PathLike | bytes, name: str, limit: int | None = None) -> None:
    """Refuse an archive whose members claim more than ``limit`` bytes (default: the
    memory limit) uncompressed, alone or together, or whose sizes contradict themselves;
    only the central directory is read. ``name``: how messages name the archive."""
    limit = memory_limit() if limit is None else limit
    with _open(source, name) as archive:
        infos = archive.infolist()
    total = 0
    for info in infos:
        if (
            info.compress_type == zipfile.ZIP_STORED
            and abs(info.file_size - info.compress_size) > STORED_SLACK
        ):
            raise ModelFileError(
                f"{name}: member {info.filename!r} is stored uncompressed but "
                f"claims {format_bytes(info.file_size)} in "
                f"{format_bytes(info.compress_size)}: the archive is damaged."
            )
        total += info.file_size
        if info.file_size > limit or total > limit:
            what = (
                f"member {info.filename!r} inflates to {format_bytes(info.file_size)}"
                if info.file_size > limit
                else f"its members inflate to {format_bytes(total)} together"
            )
            raise ModelFileError(
                f"{name}: {what} (from {format_bytes(info.compress_size)}), "
                f"over the memory limit of {format_bytes(limit)}; it is not "
                f"read (a genuine model is far smaller; or {LIMIT_HINT})."
            )


def read_member(archive: zipfile.ZipFile, member: str, name: str, limit: int) -> bytes:
    """The bytes of ``member``, at most ``limit`` (checked on the claim, before reading);
    a bad CRC or corrupt data is one :class:`ModelFileError` naming the member."""
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise ModelFileError(f"{name} has no member {member!r}.") from None
    if info.file_size > limit:
        raise ModelFileError(
            f"{name}: member {member!r} claims {format_bytes(info.file_size)}"
            f", over the {format_bytes(limit)} it may take."
        )
    try:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
    except DAMAGED as err:
        raise ModelFileError(
            f"{name}: member {member!r} is damaged ({_say(err)}); the file "
            "is corrupt: export or download it again."
        ) from None
    if len(data) > limit:
        raise ModelFileError(f"{name}: member {member!r} is larger than it claims.")
    return data


def json_depth(text: str) -> int:
    """The deepest nesting of brackets in JSON ``text`` (brackets inside strings ignored)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def load_json(data: bytes | str, where: str) -> Any:
    """Parse JSON ``data`` no larger than :data:`JSON_LIMIT` and no deeper than
    :data:`MAX_DEPTH`; anything else is one :class:`ModelFileError` naming ``where``."""
    if len(data) > JSON_LIMIT:
        raise ModelFileError(
            f"{where} is {format_bytes(len(data))} of JSON (at most {format_bytes(JSON_LIMIT)})."
        )
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if json_depth(text) > MAX_DEPTH:
            raise ModelFileError(
                f"{where} is nested more than {MAX_DEPTH} levels deep; it is "
                "not napari-unet metadata."
            )
        return json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise ModelFileError(f"{where} is not valid JSON ({_say(err)}).") from None
