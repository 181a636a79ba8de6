"""zarr and OME-Zarr (NGFF 0.4 / 0.5) inputs and outputs, written with zarr itself.

This module reads the inputs and makes the OME-Zarr groups; the prediction sinks that
write the outputs, resume them and open them for cluster workers are in
:mod:`napari_unet.core.prediction.zarr_outputs`.

Inputs: a zarr array (format 2 or 3), or an OME-Zarr image group, of which the first
(full-resolution) dataset of its first multiscale is used.

Outputs of a prediction, for ``DIR/<stem>``:

* ``<stem>.zarr``: an OME-Zarr labels group (``multiscales`` with one level and
  ``image-label``), array ``0`` = class values 1..K at full resolution; its
  ``blocks_done`` array holds one completion marker per block (see :mod:`..prediction.outputs`) and
  its ``napari_unet`` attributes the run's fingerprint, so a killed run resumes.
* ``<stem>_instances.zarr``: the same layout with uint32 instance ids.
* ``<stem>_probabilities.zarr``: an OME-Zarr image group, array ``0`` = ``(K, *shape)``
  float32 with a leading channel axis.

Chunks are the prediction blocks (one leading index x one spatial block), so blocks
written in parallel by cluster workers never share a chunk. Format 2 writes NGFF 0.4
metadata, format 3 NGFF 0.5.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UserInputError

DONE = "blocks_done"
FINGERPRINT = "napari_unet"
NGFF = {2: "0.4", 3: "0.5"}


def is_zarr_path(path: str | Path) -> bool:
    """A ``.zarr`` path, or a folder holding zarr metadata."""
    path = Path(path)
    return path.suffix.lower() == ".zarr" or any(
        (path / name).exists() for name in ("zarr.json", ".zarray", ".zgroup"))


def ome_metadata(attrs: dict[str, Any]) -> dict[str, Any]:
    """The OME attributes of a group: NGFF 0.5 nests them under ``"ome"``, 0.4 does not."""
    return dict(attrs.get("ome", attrs))


def open_zarr_image(path: str | Path) -> tuple[Any, str | None, dict[str, Any]]:
    """Open a zarr array or OME-Zarr image lazily.

    Returns ``(array, component, info)``: the zarr array (nothing read), its path inside
    the group (None for a bare array), and ``{"zarr_format", "axes", "scale"}`` (axes and
    scale of level 0 when the input has OME metadata, else None).
    """
    import zarr

    path = Path(path)
    if not path.exists():
        raise UserInputError(f"Image {path} does not exist.")
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as err:  # noqa: BLE001 - any zarr failure becomes one clear message
        raise UserInputError(f"Could not open {path} as zarr: {err}") from None
    fmt = node.metadata.zarr_format
    if isinstance(node, zarr.Array):
        return node, None, {"zarr_format": fmt, "axes": None, "scale": None}
    multiscales = ome_metadata(dict(node.attrs)).get("multiscales")
    if not multiscales:
        raise UserInputError(
            f"{path} is a zarr group without OME-Zarr multiscales metadata; give the path of "
            f"an array inside it (one of: {', '.join(sorted(node.array_keys())) or 'none'}).")
    level0 = multiscales[0]["datasets"][0]
    component = str(level0["path"])
    scale = next((t["scale"] for t in level0.get("coordinateTransformations", [])
                  if t.get("type") == "scale"), None)
    return node[component], component, {"zarr_format": fmt, "axes": multiscales[0].get("axes"),
                                        "scale": scale}


def default_axes(ndim: int) -> list[dict[str, str]]:
    """NGFF axes for an array without metadata: ``[t,] [z,] y, x`` (extra axes unnamed)."""
    names = ["t", "z", "y", "x"][-ndim:] if ndim <= 4 else [f"dim_{i}" for i in range(ndim - 3)] + ["z", "y", "x"]
    return [{"name": n, "type": "time" if n == "t" else "space" if n in "zyx" else "other"}
            for n in names]


def label_axes(info: dict[str, Any], ndim: int, channel_axis: int | None
               ) -> tuple[list[dict], list[float]]:
    """Axes and scale of the outputs (no channel axis) from the input's OME metadata."""
    axes, scale = info.get("axes"), info.get("scale")
    if axes and len(axes) in (ndim, ndim + 1):
        keep = [i for i, a in enumerate(axes)
                if not (len(axes) == ndim + 1 and (a.get("type") == "channel" or i == channel_axis))]
        if len(keep) == ndim:
            return ([axes[i] for i in keep],
                    [float(scale[i]) for i in keep] if scale else [1.0] * ndim)
    return default_axes(ndim), [1.0] * ndim


def multiscales_metadata(axes: list[dict], scale: list[float], name: str, fmt: int
                         ) -> dict[str, Any]:
    ms = {"name": name, "axes": axes,
          "datasets": [{"path": "0", "coordinateTransformations": [
              {"type": "scale", "scale": scale}]}]}
    if fmt == 2:
        ms["version"] = NGFF[2]
    return ms


def _write_ome(group, attrs: dict[str, Any], fmt: int) -> None:
    if fmt == 3:
        group.attrs["ome"] = {"version": NGFF[3], **attrs}
    else:
        group.attrs.update(attrs)


def create_ome_group(path: Path, array_shape, chunks, dtype, fmt: int, attrs: dict[str, Any]):
    import zarr

    group = zarr.open_group(str(path), mode="w-", zarr_format=fmt)
    group.create_array("0", shape=array_shape, chunks=chunks, dtype=dtype, fill_value=0)
    _write_ome(group, attrs, fmt)
    return group
