"""Reading and writing images: TIFF (tifffile) and PNG."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import UserInputError

READABLE = (".tif", ".tiff", ".png")


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
    raise UserInputError(f"{path}: unsupported file type {suffix!r}; use TIFF or PNG.")


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
