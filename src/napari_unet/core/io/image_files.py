"""Reading and writing images: TIFF (tifffile), PNG, and zarr / OME-Zarr opened lazily;
:class:`SourceSpec`, an image by path as cluster workers open it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserInputError
from .atomic_write import atomic_write
from .chunk_errors import NamedChunks
from .disk_space import disk_full_error, is_disk_full
from .image_claims import check_png_whole, check_tiff_whole, tiff_series
from .input_limits import check_chunks
from .mapped_tiff import MappedTiff
from .zarr_files import is_zarr_path, open_zarr_image

READABLE = (".tif", ".tiff", ".png", ".zarr")


@dataclass(frozen=True)
class SourceSpec:
    """Where a cluster worker finds an image: a zarr array or a TIFF file, by path."""

    path: str
    component: str | None = None  # array path inside a zarr group ("0" for OME-Zarr)
    kind: str = "zarr"  # "zarr" or "tiff"


def open_spec(spec: SourceSpec) -> Any:
    """Open ``spec`` lazily (a zarr array or a dask array); nothing is read."""
    if spec.kind == "tiff":
        return open_tiff_lazy(spec.path)
    import zarr

    node = zarr.open(spec.path, mode="r")
    return NamedChunks(node[spec.component] if spec.component else node, spec.path, spec.component)


@dataclass(frozen=True)
class OpenedImage:
    """An image opened for prediction: ``data`` (NumPy, or lazy for zarr and TIFF), the
    :class:`SourceSpec` cluster workers open it with (None for PNG), its zarr
    ``info`` (format, OME axes and scale; empty for other files), its output ``stem``
    and ``channel_axis`` from OME-Zarr metadata (None when it has no channel axis)."""

    data: Any
    spec: SourceSpec | None
    info: dict[str, Any]
    stem: str
    channel_axis: int | None = None


def open_image(path: str | os.PathLike) -> OpenedImage:
    """Open a TIFF (lazily), PNG or zarr / OME-Zarr image; see :class:`OpenedImage`.
    An image without pixels (a zero-length axis, fewer than two axes) is refused."""
    opened = _open_image(Path(path))
    check_not_empty(tuple(opened.data.shape), path)
    return opened


def check_not_empty(shape: tuple[int, ...], path: str | os.PathLike) -> None:
    if 0 in shape or len(shape) < 2:
        raise UserInputError(
            f"{path} holds no image (shape {shape}); an image needs at "
            "least two axes of length 1 or more."
        )


def _open_image(path: Path) -> OpenedImage:
    if is_zarr_path(path):
        array, component, info = open_zarr_image(path)
        axes = info.get("axes") or []
        channel = next((i for i, a in enumerate(axes) if a.get("type") == "channel"), None)
        return OpenedImage(
            array,
            SourceSpec(str(path), component),
            info,
            path.name[: -len(".zarr")] if path.suffix == ".zarr" else path.name,
            channel,
        )
    if path.suffix.lower() in (".tif", ".tiff"):
        check_readable_file(path, "Image")
        return OpenedImage(open_tiff_lazy(path), SourceSpec(str(path), kind="tiff"), {}, path.stem)
    return OpenedImage(read_image(path), None, {}, path.stem)


def open_tiff_lazy(path: str | os.PathLike) -> Any:
    """A TIFF as a lazy zarr array (tifffile's zarr store): pages are read when sliced."""
    import tifffile
    import zarr

    shape, dtype, contiguous = tiff_series(path)
    if 0 in shape:  # no pixels: refused by the caller, with the shape
        return np.zeros(shape, dtype)
    if contiguous:  # uncompressed in one piece: mapped, read by the rows needed
        return MappedTiff(path)
    try:
        store = tifffile.imread(path, aszarr=True)
        node = zarr.open(store, mode="r")
    except Exception as err:  # noqa: BLE001 - any reader failure becomes one clear message
        raise UserInputError(f"Could not read {path}: {err}") from None
    node = node if isinstance(node, zarr.Array) else node[next(iter(node.array_keys()))]
    check_chunks(path, node.shape, node.chunks, node.dtype.itemsize, "TIFF strip or tile")
    return NamedChunks(node, path, tiff=True)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a TIFF or PNG file into an array, with a clear error for other files."""
    path = Path(path)
    check_readable_file(path, "Image file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            check_tiff_whole(path)  # the header's claim, before anything is allocated
            image = np.asarray(tifffile.imread(path))
        elif suffix == ".png":
            from skimage.io import imread

            check_png_whole(path)
            image = np.asarray(imread(path))
        else:
            raise UserInputError(
                f"{path}: unsupported file type {suffix!r}; use TIFF, PNG or zarr."
            )
    except UserInputError:
        raise
    except MemoryError:
        raise UserInputError(f"{path} does not fit in memory.") from None
    except Exception as err:  # noqa: BLE001 - any reader failure becomes one clear message
        raise UserInputError(f"Could not read {path}: {err}") from None
    check_not_empty(image.shape, path)
    return image


def unreadable_reason(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file ("is a directory, not a file", "does not
    exist", "is not a regular file", "cannot be read: <reason>"), or None if it can."""
    if path.is_dir():
        return "is a directory, not a file"
    if not path.exists():
        return "does not exist"
    if not path.is_file():
        return "is not a regular file"
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        return f"cannot be read: {err.strerror or err}"
    return None


def unreadable_message(path: Path, what: str) -> str | None:
    """A sentence saying why ``what`` (e.g. "Model file") ``path`` cannot be read, or None."""
    reason = unreadable_reason(path)
    if reason is None:
        return None
    if reason.startswith("cannot be read: "):
        return f"Cannot read {what.lower()} {path}: {reason.removeprefix('cannot be read: ')}."
    return f"{what} {path} {reason}."


def check_readable_file(path: Path, what: str) -> None:
    """Raise :class:`UserInputError` saying exactly why ``path`` cannot be read as a file."""
    message = unreadable_message(path, what)
    if message is not None:
        raise UserInputError(message)


def find_images(text: str | os.PathLike) -> list[Path]:
    """The images ``text`` names: an image file or zarr store itself; the TIFF, PNG and
    zarr images directly in a folder (sorted, hidden files skipped); or the matches of a
    glob pattern (``*``, ``?``, ``[...]``; sorted). Names no image: :class:`UserInputError`."""
    import glob

    path = Path(text)
    if path.is_dir() and not is_zarr_path(path):
        found = sorted(p for p in path.iterdir() if _is_image_name(p))
        if not found:
            raise UserInputError(
                f"The folder {path} holds no TIFF, PNG or zarr image (looked for "
                f"{', '.join(READABLE)} directly inside it)."
            )
        return found
    if not path.exists() and glob.has_magic(str(text)):
        found = sorted(Path(p) for p in glob.glob(str(text)) if _is_image_name(Path(p)))
        if not found:
            raise UserInputError(f"No TIFF, PNG or zarr image matches {text}.")
        return found
    return [path]


def _is_image_name(path: Path) -> bool:
    return not path.name.startswith(".") and path.suffix.lower() in READABLE


def write_tiff(path: str | os.PathLike, data: np.ndarray) -> Path:
    """Write ``data`` as a TIFF atomically (see :mod:`.atomic_write`), user's normal mode."""
    import tifffile

    compression = "zlib" if data.dtype != np.float32 else None
    # stated, not left to tifffile's default (which is changing): a last axis of 3 or 4
    # samples is an RGB(A) image, as napari and the readers here take it; the rest is grey
    photometric = "rgb" if data.ndim >= 3 and data.shape[-1] in (3, 4) else "minisblack"
    try:
        return atomic_write(
            path,
            lambda handle: tifffile.imwrite(
                handle, data, compression=compression, photometric=photometric
            ),
        )
    except OSError as err:
        if is_disk_full(err):
            raise disk_full_error(path, data.nbytes) from None
        raise
