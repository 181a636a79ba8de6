"""zarr and OME-Zarr (NGFF 0.4 / 0.5) inputs and outputs, written with zarr itself.

Inputs: a zarr array (format 2 or 3), or an OME-Zarr image group, of which the first
(full-resolution) dataset of its first multiscale is used.

Outputs of a prediction, for ``DIR/<stem>``:

* ``<stem>.zarr``: an OME-Zarr labels group (``multiscales`` with one level and
  ``image-label``), array ``0`` = class values 1..K at full resolution; its
  ``blocks_done`` array holds one completion marker per block (see :mod:`.sinks`) and
  its ``napari_unet`` attributes the run's fingerprint, so a killed run resumes.
* ``<stem>_instances.zarr``: the same layout with uint32 instance ids.
* ``<stem>_probabilities.zarr``: an OME-Zarr image group, array ``0`` = ``(K, *shape)``
  float32 with a leading channel axis.

Chunks are the prediction blocks (one leading index x one spatial block), so blocks
written in parallel by cluster workers never share a chunk. Format 2 writes NGFF 0.4
metadata, format 3 NGFF 0.5.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserInputError
from .block_integrity import checksum_array, create_checksums, verify_resumed
from .chunk_errors import NamedChunks
from .image_claims import check_metadata_files, check_zarr_array
from .ome_metadata import has_multiscales, read_level0
from .sinks import PredictionSink, label_dtype

DONE = "blocks_done"
FINGERPRINT = "napari_unet"
NGFF = {2: "0.4", 3: "0.5"}


def is_zarr_path(path: str | Path) -> bool:
    """A ``.zarr`` path, or a folder holding zarr metadata."""
    path = Path(path)
    return path.suffix.lower() == ".zarr" or any(
        (path / name).exists() for name in ("zarr.json", ".zarray", ".zgroup")
    )


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
    check_metadata_files(path)
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as err:  # noqa: BLE001 - any zarr failure becomes one clear message
        raise UserInputError(f"Could not open {path} as zarr: {one_line(err)}") from None
    fmt = node.metadata.zarr_format
    if isinstance(node, zarr.Array):
        check_zarr_array(node, path)
        return NamedChunks(node, path), None, {"zarr_format": fmt, "axes": None, "scale": None}
    if not has_multiscales(dict(node.attrs)):
        raise UserInputError(
            f"{path} is a zarr group without OME-Zarr multiscales metadata; give the path of "
            f"an array inside it (one of: {', '.join(sorted(node.array_keys())) or 'none'})."
        )
    level = read_level0(node, path)  # every field checked: one line per malformed one
    check_zarr_array(level.array, path)
    return (
        NamedChunks(level.array, path, level.component),
        level.component,
        {"zarr_format": fmt, "axes": level.axes, "scale": level.scale},
    )


def one_line(err: BaseException) -> str:
    """An exception's message on one line, at most 300 characters."""
    return " ".join(str(err).split())[:300] or type(err).__name__


def default_axes(ndim: int) -> list[dict[str, str]]:
    """NGFF axes for an array without metadata: ``[t,] [z,] y, x`` (extra axes unnamed)."""
    names = (
        ["t", "z", "y", "x"][-ndim:]
        if ndim <= 4
        else [f"dim_{i}" for i in range(ndim - 3)] + ["z", "y", "x"]
    )
    return [
        {"name": n, "type": "time" if n == "t" else "space" if n in "zyx" else "other"}
        for n in names
    ]


def label_axes(
    info: dict[str, Any], ndim: int, channel_axis: int | None
) -> tuple[list[dict], list[float]]:
    """Axes and scale of the outputs (no channel axis) from the input's OME metadata."""
    axes, scale = info.get("axes"), info.get("scale")
    if axes and len(axes) in (ndim, ndim + 1):
        keep = [
            i
            for i, a in enumerate(axes)
            if not (len(axes) == ndim + 1 and (a.get("type") == "channel" or i == channel_axis))
        ]
        if len(keep) == ndim:
            return (
                [axes[i] for i in keep],
                [float(scale[i]) for i in keep] if scale else [1.0] * ndim,
            )
    return default_axes(ndim), [1.0] * ndim


def _multiscales(axes: list[dict], scale: list[float], name: str, fmt: int) -> dict[str, Any]:
    ms = {
        "name": name,
        "axes": axes,
        "datasets": [
            {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}
        ],
    }
    if fmt == 2:
        ms["version"] = NGFF[2]
    return ms


def _write_ome(group, attrs: dict[str, Any], fmt: int) -> None:
    if fmt == 3:
        group.attrs["ome"] = {"version": NGFF[3], **attrs}
    else:
        group.attrs.update(attrs)


def _create_group(path: Path, array_shape, chunks, dtype, fmt: int, attrs: dict[str, Any]):
    import zarr

    group = zarr.open_group(str(path), mode="w-", zarr_format=fmt)
    group.create_array("0", shape=array_shape, chunks=chunks, dtype=dtype, fill_value=0)
    _write_ome(group, attrs, fmt)
    return group


def zarr_sink(
    out_dir: str | Path,
    stem: str,
    plan,
    num_classes: int,
    cfg,
    *,
    fingerprint: dict[str, Any],
    info: dict[str, Any] | None = None,
    channel_axis: int | None = None,
) -> PredictionSink:
    """Open (resume) or create the zarr outputs of one prediction; see the module docstring.

    An existing ``<stem>.zarr`` from the same run (same fingerprint) is resumed: its
    finished blocks are kept. One from another run, or another file, is an error: nothing
    is overwritten.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "labels": out_dir / f"{stem}.zarr",
        "instances": out_dir / f"{stem}_instances.zarr",
        "probabilities": out_dir / f"{stem}_probabilities.zarr",
    }
    wanted = {"labels": True, "instances": cfg.instances, "probabilities": cfg.probabilities}
    fingerprint = json.loads(json.dumps(fingerprint))  # as it reads back from JSON
    if paths["labels"].exists():
        return _resume_checked(paths, wanted, fingerprint, plan)
    for name, path in paths.items():
        if wanted[name] and path.exists():
            raise UserInputError(
                f"{path} already exists; move it away or choose another "
                "--out-dir (nothing is overwritten)."
            )
    layout = _OutputLayout(plan, num_classes, stem, info or {}, channel_axis)
    return _create_outputs(paths, wanted, layout, fingerprint)


def _resume_checked(
    paths: dict[str, Path], wanted: dict[str, bool], fingerprint: dict, plan
) -> PredictionSink:
    """The outputs of an earlier run with ``fingerprint``, their finished blocks verified;
    anything else is a :class:`UserInputError` saying what to remove."""
    ours = [p for name, p in paths.items() if wanted[name]]
    try:
        sink = _resume(paths, wanted, fingerprint)
        verify_resumed(sink, plan, ours)
    except UserInputError:
        raise
    except Exception as err:  # noqa: BLE001 - damaged metadata, a removed output
        raise UserInputError(
            f"{paths['labels']} cannot be resumed: its outputs are damaged or incomplete "
            f"({one_line(err)}); remove {', '.join(str(p) for p in ours)} and run again."
        ) from None
    return sink


@dataclass(frozen=True)
class _OutputLayout:
    """What new outputs look like: the block ``plan``'s shape and chunks, the classes,
    the name, and the input's OME ``info`` (format, axes, scale) without its channels."""

    plan: Any
    num_classes: int
    stem: str
    info: dict[str, Any]
    channel_axis: int | None

    @property
    def fmt(self) -> int:
        return int(self.info.get("zarr_format") or 3)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.plan.lead_shape + self.plan.spatial

    @property
    def chunks(self) -> tuple[int, ...]:
        return (1,) * len(self.plan.lead_shape) + self.plan.block

    def attrs(self, channels: bool = False) -> dict[str, Any]:
        """OME attributes of a labels output, or (``channels``) of the probabilities."""
        axes, scale = label_axes(self.info, len(self.shape), self.channel_axis)
        if channels:
            c_axes = [{"name": "c", "type": "channel"}] + axes
            return {"multiscales": [_multiscales(c_axes, [1.0] + scale, self.stem, self.fmt)]}
        return {
            "multiscales": [_multiscales(axes, scale, self.stem, self.fmt)],
            "image-label": {"version": NGFF[self.fmt]} if self.fmt == 2 else {},
        }


def _create_outputs(
    paths: dict[str, Path], wanted: dict[str, bool], layout: _OutputLayout, fingerprint: dict
) -> PredictionSink:
    """New outputs; the fingerprint is written last (a complete store is a resumable one)
    and a half-made store is removed (it would block the next run)."""
    shape, chunks, fmt = layout.shape, layout.chunks, layout.fmt
    groups = {}
    try:
        if wanted["instances"]:
            groups["instances"] = _create_group(
                paths["instances"], shape, chunks, np.uint32, fmt, layout.attrs()
            )
        if wanted["probabilities"]:
            groups["probabilities"] = _create_group(
                paths["probabilities"],
                (layout.num_classes,) + shape,
                (layout.num_classes,) + chunks,
                np.float32,
                fmt,
                layout.attrs(channels=True),
            )
        labels = _create_group(
            paths["labels"], shape, chunks, label_dtype(layout.num_classes), fmt, layout.attrs()
        )
        done_shape = layout.plan.done_shape
        labels.create_array(
            DONE, shape=done_shape, chunks=(1,) * len(done_shape), dtype=np.uint8, fill_value=0
        )
        create_checksums(labels, layout.plan)
        labels.attrs[FINGERPRINT] = fingerprint
    except BaseException:
        for name in list(groups) + ["labels"]:
            shutil.rmtree(paths[name], ignore_errors=True)
        raise
    groups["labels"] = labels
    return _sink_from(groups)


def _resume(paths: dict[str, Path], wanted: dict[str, bool], fingerprint: dict) -> PredictionSink:
    import zarr

    try:
        labels = zarr.open_group(str(paths["labels"]), mode="r+")
        previous = labels.attrs.get(FINGERPRINT)
    except Exception:  # noqa: BLE001 - not a zarr group of ours
        previous = None
    if previous != fingerprint:
        raise UserInputError(
            f"{paths['labels']} already exists and was not written by this same prediction "
            "(model, image or settings differ); move it away or choose another --out-dir."
        )
    groups = {"labels": labels}
    for name in ("instances", "probabilities"):
        if wanted[name]:
            groups[name] = zarr.open_group(str(paths[name]), mode="r+")
    return _sink_from(groups)


def open_sink(
    out_dir: str | Path, stem: str, *, instances: bool, probabilities: bool
) -> PredictionSink:
    """Open the outputs that :func:`zarr_sink` created, for writing (cluster workers)."""
    import zarr

    out_dir = Path(out_dir)
    groups = {"labels": zarr.open_group(str(out_dir / f"{stem}.zarr"), mode="r+")}
    if instances:
        groups["instances"] = zarr.open_group(str(out_dir / f"{stem}_instances.zarr"), mode="r+")
    if probabilities:
        groups["probabilities"] = zarr.open_group(
            str(out_dir / f"{stem}_probabilities.zarr"), mode="r+"
        )
    return _sink_from(groups)


def _sink_from(groups: dict[str, Any]) -> PredictionSink:
    return PredictionSink(
        labels=groups["labels"]["0"],
        probabilities=groups["probabilities"]["0"] if "probabilities" in groups else None,
        instances=groups["instances"]["0"] if "instances" in groups else None,
        done=groups["labels"][DONE],
        checksums=checksum_array(groups["labels"]),
    )
