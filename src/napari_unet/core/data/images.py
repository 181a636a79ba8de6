"""Image layout, validation and robust intensity normalization.

The core works on *channels-first* arrays ``(C, *leading, *spatial)``: ``C`` channels,
any number of leading axes (time, or Z for a 2D model) and the last 2 (2D model) or
3 (3D model) spatial axes. :func:`channels_first` builds that view from a napari-style
array without copying.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserInputError
from ..io.lazy_arrays import as_array, sample


def channels_first(
    image: np.ndarray, channel_axis: int | None = None, rgb: bool = False
) -> np.ndarray:
    """Return a ``(C, ...)`` view of ``image``, without reading lazy data.

    NumPy arrays stay NumPy views; dask, zarr and napari multiscale data (level 0) become
    lazy dask views (see :mod:`.lazy_arrays`). ``rgb=True`` means the last axis holds 3 or 4 colour channels (napari's RGB images);
    ``channel_axis`` names an explicit channel axis; otherwise the image has one channel.
    """
    image = as_array(image)
    check_dtype(image)
    if rgb:
        if image.ndim < 3 or image.shape[-1] not in (3, 4):
            raise UserInputError(
                f"An RGB image needs a last axis of length 3 or 4, got shape {image.shape}."
            )
        return np.moveaxis(image, -1, 0)
    if channel_axis is not None:
        if not -image.ndim <= channel_axis < image.ndim:
            raise UserInputError(
                f"channel_axis={channel_axis} does not exist in an image of shape {image.shape}."
            )
        return np.moveaxis(image, channel_axis, 0)
    return image[np.newaxis]


def channels_back(
    array_cf: np.ndarray, ndim: int, channel_axis: int | None = None, rgb: bool = False
) -> np.ndarray:
    """Undo :func:`channels_first`: a ``(C, ...)`` array back in the layout of an
    ``ndim``-dimensional image with the same ``channel_axis`` / ``rgb`` (a view)."""
    if rgb:
        return np.moveaxis(array_cf, 0, -1)
    if channel_axis is not None:
        return np.moveaxis(array_cf, 0, channel_axis % ndim)
    return array_cf[0]


def check_dtype(image: np.ndarray) -> None:
    """Accept bool, integer and real floating images; reject everything else clearly."""
    kind = image.dtype.kind
    if kind not in "biuf":
        raise UserInputError(
            f"Images must be numeric (bool, integer or float); got dtype {image.dtype}. "
            "Convert the layer to a numeric type first."
        )


def check_spatial(image_cf: np.ndarray, spatial_dims: int) -> None:
    """The image must have at least ``spatial_dims`` axes besides channels."""
    if image_cf.ndim - 1 < spatial_dims:
        raise UserInputError(
            f"A {spatial_dims}D model needs an image with at least {spatial_dims} spatial axes; "
            f"got shape {image_cf.shape[1:]} (without channels). "
            + ("Use a 2D model for single images." if spatial_dims == 3 else "")
        )


def check_finite(chunk: np.ndarray, where: str = "the image") -> None:
    """Raise a clear error if a float chunk holds NaN or infinity."""
    if chunk.dtype.kind == "f" and not np.isfinite(chunk).all():
        raise UserInputError(
            f"{where} contains NaN or infinite values. Replace them (for example with "
            "np.nan_to_num) before training or segmenting."
        )


@dataclass(frozen=True)
class Normalization:
    """Per-image percentile normalization: ``(x - p_low) / (p_high - p_low)`` per channel.

    The percentiles are computed on each image as it is segmented, so an image twice as
    bright gives the same prediction. The settings travel in the model file.
    """

    low_percentile: float = 1.0
    high_percentile: float = 99.8

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_percentile < self.high_percentile <= 100.0:
            raise ValueError("Percentiles must satisfy 0 <= low < high <= 100.")

    def statistics(self, image_cf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel ``(low, high)`` intensities of a ``(C, ...)`` image, shape (C,) each.

        Computed on a strided sample (:func:`.lazy_arrays.sample`: a few planes, a grid in
        each), so a lazy stack is read only at those planes; NaN or infinity anywhere in
        the sample raises :class:`UserInputError`.
        """
        lows, highs = [], []
        for channel in image_cf:
            sample_values = sample(channel).astype(np.float64)
            check_finite(sample_values)
            lo, hi = np.percentile(sample_values, [self.low_percentile, self.high_percentile])
            if hi <= lo:  # constant image or very sparse signal: fall back to the full range
                lo, hi = float(sample_values.min()), float(sample_values.max())
                if hi <= lo:
                    hi = lo + 1.0
            lows.append(lo)
            highs.append(hi)
        return np.asarray(lows, np.float32), np.asarray(highs, np.float32)

    @staticmethod
    def apply(chunk_cf: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Normalize a ``(C, ...)`` chunk with per-channel statistics; returns float32."""
        check_finite(chunk_cf)
        shape = (-1,) + (1,) * (chunk_cf.ndim - 1)
        scale = (1.0 / (high - low)).astype(np.float32).reshape(shape)
        try:  # PyTorch's element-wise ops use all cores; NumPy's use one
            import torch

            out = torch.from_numpy(np.ascontiguousarray(chunk_cf)).to(torch.float32, copy=True)
            out.sub_(torch.from_numpy(low.reshape(shape))).mul_(torch.from_numpy(scale))
            return out.numpy()
        except (TypeError, RuntimeError):  # dtypes PyTorch cannot take (e.g. uint32)
            out = chunk_cf.astype(np.float32, copy=True)
            out -= low.reshape(shape)
            out *= scale
            return out

    def to_dict(self) -> dict[str, float]:
        return {"low_percentile": self.low_percentile, "high_percentile": self.high_percentile}
