"""The arrays of a project: labels as chunked zarr arrays named by their content hash,
in-memory images as OME-Zarr copies. Each store is written under a hidden temporary
name and renamed into place when complete, so a killed save leaves no half store under
a name the manifest could point to (a leftover temporary is removed by the next save).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..io.input_limits import check_whole
from ..io.lazy_arrays import read
from ..io.zarr_files import default_axes, open_zarr_image
from .checks import ProjectError

HASH_NAME = "blake2b-128"
LABELS_CHUNK_2D = 512  # 2D chunks of labels: a few strokes touch few chunks
ROWS_PER_READ = 1  # leading indices hashed / copied at a time (one slice of a stack)
NGFF_VERSION = "0.5"


def labels_hash(labels: Any) -> str:
    """Content hash of a labels array ``(*spatial)`` (NumPy, zarr or dask): its dtype,
    shape and values, read one leading index at a time. Equal arrays, equal hashes."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{np.dtype(labels.dtype).str}{tuple(labels.shape)}".encode())
    for region in _slices(labels.shape):
        digest.update(np.ascontiguousarray(read(labels, region)).tobytes())
    return f"{HASH_NAME}:{digest.hexdigest()}"


def _slices(shape: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """One region per leading index of a stack (the whole array in 2D)."""
    if len(shape) <= 2:
        return [()]
    return [(slice(i, i + ROWS_PER_READ),) for i in range(0, shape[0], ROWS_PER_READ)]


def labels_chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Chunks of a labels store: one slice of a stack by up to 512 x 512 pixels."""
    lead = (1,) * (len(shape) - 2)
    return lead + tuple(min(LABELS_CHUNK_2D, int(n)) for n in shape[-2:])


def store_labels(folder: Path, labels: Any, digest: str | None = None) -> tuple[str, str]:
    """Keep ``labels`` in ``folder/labels/<hash>.zarr`` (already there: kept as is);
    returns ``(hash, path relative to folder)``. Chunks never written hold 0 (unpainted)
    and take no room, so a stack's few strokes stay small."""
    digest = digest or labels_hash(labels)
    relative = f"labels/{digest.partition(':')[2]}.zarr"
    target = folder / relative
    if not (target / "zarr.json").is_file():
        _write_then_rename(
            target, lambda tmp: _write_array(tmp, labels, labels_chunks(labels.shape))
        )
    return digest, relative


def store_image_copy(folder: Path, name: str, image: Any) -> str:
    """Keep ``image`` (an in-memory layer's data, ``(*spatial)`` or ``(*spatial, C)``) as an
    OME-Zarr image ``folder/images/<name>-<random>.zarr``; returns its relative path.
    RGB(A) channels are stored last, as napari holds them (``c`` axis last)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60] or "image"
    relative = f"images/{safe}-{secrets.token_hex(4)}.zarr"
    shape = tuple(image.shape)
    chunks = (1,) * (len(shape) - 2) + tuple(min(1024, int(n)) for n in shape[-2:])

    def write(tmp: Path) -> None:
        group = _write_array(tmp, image, chunks, component="0")
        axes = default_axes(len(shape))
        group.attrs["ome"] = {
            "version": NGFF_VERSION,
            "multiscales": [
                {
                    "name": name,
                    "axes": axes,
                    "datasets": [
                        {
                            "path": "0",
                            "coordinateTransformations": [
                                {"type": "scale", "scale": [1.0] * len(shape)}
                            ],
                        }
                    ],
                }
            ],
        }

    _write_then_rename(folder / relative, write)
    return relative


def _write_array(path: Path, data: Any, chunks: tuple[int, ...], component: str | None = None):
    """Write ``data`` into a new zarr (v3) array at ``path`` (or array ``component`` of a
    new group there), a leading index at a time; returns the group (or the array)."""
    import zarr

    if component is None:
        node = array = zarr.create_array(
            str(path), shape=data.shape, chunks=chunks, dtype=data.dtype, fill_value=0
        )
    else:
        node = zarr.open_group(str(path), mode="w-", zarr_format=3)
        array = node.create_array(
            component, shape=data.shape, chunks=chunks, dtype=data.dtype, fill_value=0
        )
    for region in _slices(data.shape):
        array[region] = read(data, region)
    return node


def _write_then_rename(target: Path, write) -> None:
    """``write(tmp)`` a store into a hidden sibling folder, then rename it to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_stores(target.parent)
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        if target.exists():  # written meanwhile by another save of the same content
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_stores(folder: Path) -> None:
    """Remove temporary stores of processes that no longer run (a killed save)."""
    for tmp in folder.glob(".*.tmp"):
        pid = tmp.name.rpartition(".")[0].rpartition(".")[2].partition("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_labels(folder: Path, relative: str, shape: tuple[int, ...]) -> np.ndarray:
    """The labels store ``relative`` read whole into memory (to paint on), after checking
    what it claims: an integer array of ``shape`` (its image's) within the memory limit."""
    path = folder / relative
    if not path.exists():
        raise ProjectError(f"The labels store {path} is missing; the project is incomplete.")
    array, _component, _info = open_zarr_image(path)  # claims of chunks checked there
    if tuple(array.shape) != tuple(shape) or not np.issubdtype(array.dtype, np.integer):
        raise ProjectError(
            f"The labels store {path} holds {array.dtype} {tuple(array.shape)}, not integer "
            f"labels of its image's shape {tuple(shape)}; the project is damaged."
        )
    check_whole(path, array.shape, array.dtype, what="labels")
    return np.asarray(read(array, (slice(None),)))
