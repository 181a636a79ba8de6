"""Reading and writing images: TIFF (tifffile) and PNG."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .atomic_write import atomic_write
from .errors import UserInputError

READABLE = (".tif", ".tiff", ".png")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a TIFF or PNG file into an array, with a clear error for other files."""
    path = Path(path)
    check_readable_file(path, "Image file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            image = np.asarray(tifffile.imread(path))
        elif suffix == ".png":
            from skimage.io import imread

            image = np.asarray(imread(path))
        else:
            raise UserInputError(f"{path}: unsupported file type {suffix!r}; use TIFF or PNG.")
    except UserInputError:
        raise
    except MemoryError:
        raise UserInputError(f"{path} does not fit in memory.") from None
    except Exception as err:  # noqa: BLE001 - any reader failure becomes one clear message
        raise UserInputError(f"Could not read {path}: {err}") from None
    if image.size == 0 or image.ndim < 2:
        raise UserInputError(f"{path} holds no image (shape {image.shape}); an image needs at "
                             "least two axes of length 1 or more.")
    return image


def check_readable_file(path: Path, what: str) -> None:
    """Raise :class:`UserInputError` saying exactly why ``path`` cannot be read as a file."""
    if path.is_dir():
        raise UserInputError(f"{what} {path} is a directory, not a file.")
    if not path.exists():
        raise UserInputError(f"{what} {path} does not exist.")
    if not path.is_file():
        raise UserInputError(f"{what} {path} is not a regular file.")
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        raise UserInputError(f"Cannot read {what.lower()} {path}: "
                             f"{err.strerror or err}.") from None


def write_tiff(path: str | os.PathLike, data: np.ndarray) -> Path:
    """Write ``data`` as a TIFF atomically (see :mod:`.atomic_write`), user's normal mode."""
    import tifffile

    compression = "zlib" if data.dtype != np.float32 else None
    return atomic_write(path, lambda handle: tifffile.imwrite(handle, data,
                                                             compression=compression))
