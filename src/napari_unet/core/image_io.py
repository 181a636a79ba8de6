"""Reading and writing images: TIFF (tifffile), PNG, and zarr / OME-Zarr opened lazily."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import UserInputError
from .sources import SourceSpec
from .zarr_io import is_zarr_path, open_zarr_image

READABLE = (".tif", ".tiff", ".png", ".zarr")


@dataclass(frozen=True)
class OpenedImage:
    """An image opened for prediction: ``data`` (NumPy, or lazy for zarr and TIFF), the
    :class:`.sources.SourceSpec` cluster workers open it with (None for PNG), its zarr
    ``info`` (format, OME axes and scale; empty for other files), its output ``stem``
    and ``channel_axis`` from OME-Zarr metadata (None when it has no channel axis)."""

    data: Any
    spec: SourceSpec | None
    info: dict[str, Any]
    stem: str
    channel_axis: int | None = None


def open_image(path: str | os.PathLike) -> OpenedImage:
    """Open a TIFF (lazily), PNG or zarr / OME-Zarr image; see :class:`OpenedImage`."""
    path = Path(path)
    if is_zarr_path(path):
        array, component, info = open_zarr_image(path)
        axes = info.get("axes") or []
        channel = next((i for i, a in enumerate(axes) if a.get("type") == "channel"), None)
        return OpenedImage(array, SourceSpec(str(path), component), info,
                           path.name[: -len(".zarr")] if path.suffix == ".zarr" else path.name,
                           channel)
    if path.suffix.lower() in (".tif", ".tiff"):
        if not path.is_file():
            raise UserInputError(f"Image file {path} does not exist.")
        return OpenedImage(open_tiff_lazy(path), SourceSpec(str(path), kind="tiff"), {},
                           path.stem)
    return OpenedImage(read_image(path), None, {}, path.stem)


def open_tiff_lazy(path: str | os.PathLike) -> Any:
    """A TIFF as a lazy zarr array (tifffile's zarr store): pages are read when sliced."""
    import tifffile
    import zarr

    try:
        store = tifffile.imread(path, aszarr=True)
        node = zarr.open(store, mode="r")
    except Exception as err:  # noqa: BLE001 - any reader failure becomes one clear message
        raise UserInputError(f"Could not read {path}: {err}") from None
    return node if isinstance(node, zarr.Array) else node[next(iter(node.array_keys()))]


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a TIFF or PNG file into an array, with a clear error for other files."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"Image file {path} does not exist.")
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            return np.asarray(tifffile.imread(path))
        if suffix == ".png":
            from skimage.io import imread

            return np.asarray(imread(path))
    except Exception as err:  # noqa: BLE001 - any reader failure becomes one clear message
        raise UserInputError(f"Could not read {path}: {err}") from None
    raise UserInputError(f"{path}: unsupported file type {suffix!r}; use TIFF, PNG or zarr.")


def write_tiff(path: str | os.PathLike, data: np.ndarray) -> Path:
    """Write ``data`` as a TIFF, atomically (temporary file, then rename)."""
    import tifffile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        tifffile.imwrite(tmp, data, compression="zlib" if data.dtype != np.float32 else None)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
