"""Hostile files made in the test: zip bombs, packages with wrong types, small files that
claim gigabytes. Every pixel array is a real ISBI 2012 crop or the fill value."""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np
import tifffile
import torch

from napari_unet.core.model.bioimageio_package import MARKER, PACKAGE_FORMAT, PACKAGE_FORMAT_VERSION
from napari_unet.core.model.model_file import model_metadata
from tests.cli.bad_input_files import tiny_model

BOMB_BYTES = 5 << 28  # 1.25 GiB of zeros inflate from ~5 MB: over the default 1 GiB limit


def marker(model=None, **changes) -> dict:
    """The JSON marker of a napari-unet package, with ``changes`` applied."""
    model = model or tiny_model()
    out = {
        "format": PACKAGE_FORMAT,
        "format_version": PACKAGE_FORMAT_VERSION,
        "weights": "weights.pt",
        "metadata": model_metadata(model),
    }
    out.update(changes)
    return out


def weights_bytes(model=None) -> bytes:
    buffer = io.BytesIO()
    torch.save((model or tiny_model()).state_on_cpu(), buffer)
    return buffer.getvalue()


def deep_pickle_weights(depth: int = 100_000) -> bytes:
    """A PyTorch zip archive whose pickle builds lists nested ``depth`` deep (iteratively:
    EMPTY_LIST pushes, then APPENDs)."""
    genuine = weights_bytes()
    pickled = b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(genuine)) as source, zipfile.ZipFile(out, "w") as archive:
        for info in source.infolist():
            data = pickled if info.filename.endswith("data.pkl") else source.read(info)
            archive.writestr(info.filename, data)
    return out.getvalue()


def package(
    path: Path,
    marker_text: str | bytes | None = None,
    members: dict[str, bytes] | None = None,
    stored_marker: bool = False,
) -> Path:
    """A package as napari-unet exports it (marker, weights, rdf.yaml), hand-made."""
    text = json.dumps(marker()) if marker_text is None else marker_text
    files = {
        "rdf.yaml": b"format_version: 0.5.4\ntype: model\n",
        "weights.pt": weights_bytes(),
        **(members or {}),
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            MARKER,
            text,
            compress_type=zipfile.ZIP_STORED if stored_marker else zipfile.ZIP_DEFLATED,
        )
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def write_bomb_member(archive: zipfile.ZipFile, name: str, size: int = BOMB_BYTES) -> None:
    """A member of ``size`` zero bytes, deflated (a zip bomb: ~1000x smaller)."""
    zeros = bytes(64 << 20)
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as handle:
        for start in range(0, size, len(zeros)):
            handle.write(zeros[: min(len(zeros), size - start)])


def bomb_package(path: Path) -> Path:
    """A package whose weights member inflates to :data:`BOMB_BYTES`."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr(MARKER, json.dumps(marker()))
        write_bomb_member(archive, "weights.pt")
    return path


def bomb_model_file(path: Path, genuine: Path) -> Path:
    """A ``.pt`` archive: the members of a genuine model file plus one that inflates to
    :data:`BOMB_BYTES` (deflated, as PyTorch's reader would inflate it)."""
    with (
        zipfile.ZipFile(genuine) as source,
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
    ):
        for info in source.infolist():
            archive.writestr(info.filename, source.read(info))
        prefix = source.namelist()[0].split("/")[0]
        write_bomb_member(archive, f"{prefix}/data/999")
    return path


def corrupt_member(path: Path, member: str) -> Path:
    """Flip bytes in the middle of ``member``'s stored data (a bad CRC or bad deflate)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    data = bytearray(path.read_bytes())
    header = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    middle = header + info.compress_size // 2
    for i in range(middle, middle + 4):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


def claiming_tiff(path: Path, edge: int = 40960) -> Path:
    """A 3 MB tiled zlib TIFF claiming ``edge`` x ``edge`` uint16 (3.1 GiB at 40960)."""
    tile = zlib.compress(np.zeros((1024, 1024), np.uint16).tobytes(), 9)
    count = (edge // 1024) ** 2
    tifffile.imwrite(
        path,
        data=(tile for _ in range(count)),
        shape=(edge, edge),
        dtype="uint16",
        tile=(1024, 1024),
        compression="zlib",
    )
    return path


def sparse_tiff(path: Path, edge: int = 50000) -> Path:
    """An uncompressed TIFF of ``edge`` x ``edge`` uint16 whose pixels were never written
    (a sparse file: 8 KiB on disk)."""
    tifffile.imwrite(path, shape=(edge, edge), dtype="uint16")
    return path


def claiming_png(path: Path, edge: int = 60000) -> Path:
    """A PNG whose header claims ``edge`` x ``edge`` RGBA (13 GiB); no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
        )

    ihdr = edge.to_bytes(4, "big") * 2 + bytes([8, 6, 0, 0, 0])
    idat = zlib.compress(b"\x00" * 1024)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def huge_claim_zarr(path: Path, shape=(100000, 100000, 100000), chunks=(64, 64, 64)) -> Path:
    """A zarr array claiming ``shape`` uint8 with one chunk written."""
    import zarr

    array = zarr.create_array(str(path), shape=shape, chunks=chunks, dtype="uint8", fill_value=0)
    array[tuple(slice(0, c) for c in chunks)] = 1
    return path
