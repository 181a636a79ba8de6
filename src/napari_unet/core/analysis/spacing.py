"""The physical pixel size of an image from its file's metadata: OME-Zarr scale and axis
units, or a TIFF's resolution tags (and ImageJ's unit and z spacing).

Each returns ``(spacing, unit)`` for the spatial axes of the labels (``(Y, X)`` or
``(Z, Y, X)``), or ``(None, None)`` when the file does not say it completely (no unit,
or no z step for a stack): then measurements stay in pixels unless the user gives a size.
"""

from __future__ import annotations

import os
from typing import Any

from ..io.image_files import SourceSpec
from ..io.zarr_files import label_axes

# unit names of OME-NGFF and ImageJ -> the symbol written in column names
UNIT_SYMBOLS = {
    "micrometer": "µm",
    "micron": "µm",
    "um": "µm",
    "\\u00B5m": "µm",
    "nanometer": "nm",
    "millimeter": "mm",
    "centimeter": "cm",
    "meter": "m",
    "angstrom": "Å",
}
# TIFF ResolutionUnit -> (factor to micrometres)
_TIFF_UNITS = {2: 25400.0, 3: 10000.0}  # inch, centimetre
Spacing = tuple[tuple[float, ...] | None, str | None]


def unit_symbol(name: str) -> str:
    """``"micrometer"`` -> ``"µm"``; unknown names unchanged."""
    return UNIT_SYMBOLS.get(name.strip(), UNIT_SYMBOLS.get(name.strip().lower(), name.strip()))


def ome_spacing(
    info: dict[str, Any], ndim: int, channel_axis: int | None = None, dims: int | None = None
) -> Spacing:
    """Spacing and unit of the last ``dims`` (default all) of ``ndim`` axes (no channels)
    from an OME-Zarr image's ``info`` (as
    :func:`napari_unet.core.io.zarr_files.open_zarr_image` returns it)."""
    if not info.get("scale") or not info.get("axes"):
        return None, None
    axes, scale = label_axes(info, ndim, channel_axis)
    axes, scale = axes[len(axes) - (dims or ndim) :], scale[len(scale) - (dims or ndim) :]
    units = {a.get("unit") for a in axes}
    if len(units) != 1 or None in units or any(a.get("type") != "space" for a in axes):
        return None, None
    return tuple(float(v) for v in scale), unit_symbol(str(units.pop()))


def file_spacing(
    info: dict[str, Any],
    spec: SourceSpec | None,
    ndim: int,
    channel_axis: int | None = None,
    dims: int | None = None,
) -> Spacing:
    """Spacing and unit of the last ``dims`` (default all) of an image file's ``ndim``
    axes (no channels): its OME-Zarr ``info``, else the resolution of the TIFF ``spec``
    points to (an :class:`~napari_unet.core.io.image_files.OpenedImage`'s ``info`` and
    ``spec``); ``(None, None)`` when neither says it."""
    if info.get("scale"):
        return ome_spacing(info, ndim, channel_axis, dims)
    if spec is not None and spec.kind == "tiff":
        return tiff_spacing(spec.path, dims or ndim)
    return None, None


def tiff_spacing(path: str | os.PathLike, ndim: int) -> Spacing:
    """Spacing and unit of the last ``ndim`` axes of a TIFF: X/YResolution with ImageJ's
    ``unit`` (and ``spacing`` for z) or the TIFF resolution unit (inch, cm -> µm)."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page, imagej = tif.pages.first, tif.imagej_metadata or {}
        x, y = page.tags.get("XResolution"), page.tags.get("YResolution")
        resolution_unit = int(getattr(page.tags.get("ResolutionUnit"), "value", 1))
    if x is None or y is None or 0 in (*x.value, *y.value):
        return None, None
    xy = (y.value[1] / y.value[0], x.value[1] / x.value[0])  # (pixels per unit)^-1
    if imagej.get("unit") and imagej["unit"] not in ("pixel", "pixels"):
        unit, factor = unit_symbol(str(imagej["unit"])), 1.0
    elif resolution_unit in _TIFF_UNITS:
        unit, factor = "µm", _TIFF_UNITS[resolution_unit]
    else:
        return None, None
    if ndim == 2:
        return tuple(v * factor for v in xy), unit
    if "spacing" not in imagej or ndim != 3:
        return None, None
    return tuple(v * factor for v in (float(imagej["spacing"]), *xy)), unit
