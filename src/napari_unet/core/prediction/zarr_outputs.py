"""The zarr / OME-Zarr outputs of a prediction: created, resumed, opened by cluster workers.

The layout (``<stem>.zarr`` labels with their ``blocks_done`` markers and the run's
fingerprint, ``<stem>_instances.zarr``, ``<stem>_probabilities.zarr``) is described in
:mod:`napari_unet.core.io.zarr_files`, which makes the groups.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserInputError
from ..io.zarr_files import (
    DONE, FINGERPRINT, NGFF, create_ome_group, label_axes, multiscales_metadata,
)
from .outputs import PredictionSink, label_dtype


def zarr_sink(out_dir: str | Path, stem: str, plan, num_classes: int, cfg, *,
              fingerprint: dict[str, Any], info: dict[str, Any] | None = None,
              channel_axis: int | None = None) -> PredictionSink:
    """Open (resume) or create the zarr outputs of one prediction; see the module docstring.

    An existing ``<stem>.zarr`` from the same run (same fingerprint) is resumed: its
    finished blocks are kept. One from another run, or another file, is an error: nothing
    is overwritten.
    """
    import zarr

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = info or {}
    fmt = int(info.get("zarr_format") or 3)
    shape = plan.lead_shape + plan.spatial
    chunks = (1,) * len(plan.lead_shape) + plan.block
    paths = {"labels": out_dir / f"{stem}.zarr",
             "instances": out_dir / f"{stem}_instances.zarr",
             "probabilities": out_dir / f"{stem}_probabilities.zarr"}
    wanted = {"labels": True, "instances": cfg.instances, "probabilities": cfg.probabilities}
    fingerprint = json.loads(json.dumps(fingerprint))  # as it reads back from JSON
    if paths["labels"].exists():
        return _resume(paths, wanted, fingerprint)
    for name, path in paths.items():
        if wanted[name] and path.exists():
            raise UserInputError(f"{path} already exists; move it away or choose another "
                                 "--out-dir (nothing is overwritten).")
    axes, scale = label_axes(info, len(shape), channel_axis)
    label_attrs = {"multiscales": [multiscales_metadata(axes, scale, stem, fmt)],
                   "image-label": {"version": NGFF[fmt]} if fmt == 2 else {}}
    groups = {}
    try:
        if wanted["instances"]:
            groups["instances"] = create_ome_group(paths["instances"], shape, chunks, np.uint32,
                                                fmt, label_attrs)
        if wanted["probabilities"]:
            c_axes = [{"name": "c", "type": "channel"}] + axes
            groups["probabilities"] = create_ome_group(
                paths["probabilities"], (num_classes,) + shape, (num_classes,) + chunks,
                np.float32, fmt, {"multiscales": [multiscales_metadata(c_axes, [1.0] + scale,
                                                               stem, fmt)]})
        labels = create_ome_group(paths["labels"], shape, chunks, label_dtype(num_classes), fmt,
                               label_attrs)
        labels.create_array(DONE, shape=plan.done_shape, chunks=(1,) * len(plan.done_shape),
                            dtype=np.uint8, fill_value=0)
        labels.attrs[FINGERPRINT] = fingerprint  # last: a complete store is a resumable one
    except BaseException:  # a half-made store would block the next run: remove ours
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
            "(model, image or settings differ); move it away or choose another --out-dir.")
    groups = {"labels": labels}
    for name in ("instances", "probabilities"):
        if wanted[name]:
            groups[name] = zarr.open_group(str(paths[name]), mode="r+")
    return _sink_from(groups)


def open_sink(out_dir: str | Path, stem: str, *, instances: bool, probabilities: bool
              ) -> PredictionSink:
    """Open the outputs that :func:`zarr_sink` created, for writing (cluster workers)."""
    import zarr

    out_dir = Path(out_dir)
    groups = {"labels": zarr.open_group(str(out_dir / f"{stem}.zarr"), mode="r+")}
    if instances:
        groups["instances"] = zarr.open_group(str(out_dir / f"{stem}_instances.zarr"), mode="r+")
    if probabilities:
        groups["probabilities"] = zarr.open_group(str(out_dir / f"{stem}_probabilities.zarr"),
                                                  mode="r+")
    return _sink_from(groups)


def _sink_from(groups: dict[str, Any]) -> PredictionSink:
    return PredictionSink(
        labels=groups["labels"]["0"],
        probabilities=groups["probabilities"]["0"] if "probabilities" in groups else None,
        instances=groups["instances"]["0"] if "instances" in groups else None,
        done=groups["labels"][DONE])
