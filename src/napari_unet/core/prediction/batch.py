"""Segmenting a data set: one :class:`.job.PredictionJob` per image, run one after the
other, with events over images; Stop keeps every finished image (and the finished blocks
of a zarr run); an image that cannot be segmented (a file that is not an image, channels
the model does not take) is skipped and named in the summary, the others go on.

Images come as ``(name, make_job)`` pairs: the job is made when its turn comes, so a
folder of files is opened one file at a time, in the worker. :func:`folder_jobs` makes
them for a folder of files, with the channel layout read from each file. Qt-free.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.measurements import measure_stack
from ..analysis.measurements_csv import write_table_csv
from ..analysis.spacing import file_spacing
from ..errors import UserInputError
from ..io.image_files import OpenedImage, find_images, open_image
from ..model.trained_model import TrainedModel
from ..stopping import StopFlag
from .engine import PredictionConfig, PredictionResult
from .job import PredictionJob, ResultsTo, run

JobMaker = Callable[[], PredictionJob]


@dataclass(frozen=True)
class ImageStarted:
    """Image ``index`` (0-based) of ``total``, called ``name``, is being segmented by
    ``job``."""

    index: int
    total: int
    name: str
    job: PredictionJob


@dataclass(frozen=True)
class ImageFinished:
    """Image ``index`` of ``total`` is done: its ``job``, ``result`` and the files written
    (``outputs``; none for results in memory)."""

    index: int
    total: int
    name: str
    job: PredictionJob
    result: PredictionResult
    outputs: list[Path] = field(default_factory=list)


@dataclass
class BatchSummary:
    """What a batch did: images finished, skipped (with why) and whether Stop ended it."""

    total: int
    finished: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    stopped: bool = False

    def message(self) -> str:
        """One paragraph for a notification or the command line."""
        text = f"{len(self.finished)} of {self.total} image(s) segmented"
        if self.stopped:
            text += " before Stop (finished images kept; segment again to resume the rest)"
        text += "."
        if self.skipped:
            reasons = "; ".join(f"{name}: {why}" for name, why in self.skipped[:3])
            more = f" (and {len(self.skipped) - 3} more)" if len(self.skipped) > 3 else ""
            text += f" Skipped {len(self.skipped)}: {reasons}{more}"
        return text


def run_batch(
    images: Sequence[tuple[str, JobMaker]],
    stop: StopFlag | None = None,
    after: Callable[[PredictionJob, PredictionResult], list[Path]] | None = None,
) -> Generator[Any, None, BatchSummary]:
    """Segment ``images`` one after the other; yields :class:`ImageStarted`, the events
    of each :func:`.job.run`, then :class:`ImageFinished`; returns the summary.
    ``after(job, result)``: more files to write for a finished image (e.g. the objects'
    measurements), returning their paths."""
    stop = stop or StopFlag()
    summary = BatchSummary(len(images))
    for index, (name, make_job) in enumerate(images):
        if stop.requested:
            summary.stopped = True
            break
        try:
            job = make_job()
            yield ImageStarted(index, len(images), name, job)
            result = yield from run(job, stop)
        except UserInputError as err:
            summary.skipped.append((name, str(err)))
            continue
        if result.stopped:
            summary.stopped = True
            break
        outputs = [p for p in [job.results.labels_path] if p is not None]
        outputs += after(job, result) if after is not None else []
        summary.finished.append(name)
        yield ImageFinished(index, len(images), name, job, result, outputs)
    return summary


def folder_jobs(
    folder: str | Path,
    model: TrainedModel,
    config: PredictionConfig,
    out_dir: str | Path,
    *,
    results_kind: str = "auto",
) -> list[tuple[str, JobMaker]]:
    """A job maker per image in ``folder`` (see :func:`.io.image_files.find_images`),
    each writing ``out_dir/<stem>`` as TIFF, or zarr (``results_kind`` "zarr", or "auto"
    for a zarr input). Refuses an output folder that is the input folder."""
    images = find_images(folder)
    if Path(out_dir).resolve() == Path(folder).resolve():
        raise UserInputError(
            f"The output folder {out_dir} is the input folder: choose another one "
            "(the inputs are never overwritten)."
        )
    return [
        (path.name, _file_job_maker(path, model, config, out_dir, results_kind)) for path in images
    ]


def with_file_voxel_size(
    config: PredictionConfig,
    opened: OpenedImage,
    data: Any,
    rgb: bool,
    channel_axis: int | None,
) -> PredictionConfig:
    """``config`` for cells bounded by a class in the file ``opened`` (its layout ``data``,
    ``rgb``, ``channel_axis``): without a voxel size of its own, the one the file states
    (OME-Zarr scale; TIFF resolution, with ImageJ's Z spacing for a stack) when it
    differs between axes."""
    if config.boundary_class is None or config.voxel_size is not None:
        return config
    spatial = data.ndim - (1 if rgb or channel_axis is not None else 0)
    spacing, _ = file_spacing(
        opened.info or {}, opened.spec, spatial, channel_axis, min(spatial, 3)
    )
    if spacing is None or len(set(spacing)) <= 1:
        return config
    return replace(config, voxel_size=tuple(float(v) for v in spacing))


def _file_job_maker(
    path: Path, model: TrainedModel, config: PredictionConfig, out_dir: str | Path, kind: str
) -> JobMaker:
    def make() -> PredictionJob:
        opened = open_image(path)
        data, rgb, channel_axis = file_layout(opened, model.in_channels)
        zarr_out = kind == "zarr" or (kind == "auto" and bool(opened.info))
        return PredictionJob(
            model,
            data,
            name=str(path.resolve()),
            config=with_file_voxel_size(config, opened, data, rgb, channel_axis),
            results=ResultsTo("zarr" if zarr_out else "tiff", Path(out_dir), opened.stem),
            channel_axis=channel_axis,
            rgb=rgb,
            source=opened.spec,
            info=opened.info,
        )

    return make


def file_layout(opened: OpenedImage, model_channels: int) -> tuple[Any, bool, int | None]:
    """``(data, rgb, channel_axis)`` of a file for a model of ``model_channels``, as napari
    shows it: an OME channel axis is used; a (H, W, 3|4) image is colour for a 3 or
    4-channel model and its grey mean for a 1-channel model; otherwise one channel,
    or channels first when the first axis has the model's channel count."""
    data, shape = opened.data, tuple(opened.data.shape)
    if opened.channel_axis is not None:
        return data, False, opened.channel_axis
    if len(shape) == 3 and shape[-1] in (3, 4):
        if model_channels == shape[-1]:
            return data, True, None
        if model_channels == 1:
            return np.asarray(data[..., :3]).mean(axis=-1, dtype=np.float32), False, None
    if model_channels > 1 and len(shape) >= 3 and shape[0] == model_channels:
        return data, False, 0
    return data, False, None


def write_objects_table(job: PredictionJob, result: PredictionResult, folder: Path) -> Path:
    """``folder/<stem>_objects.csv``: the objects of ``result.instances`` measured on the
    job's image (a row per object, and per slice for a stack of 2D units) in the file's
    pixel size (OME-Zarr scale, TIFF resolution), else in pixels."""
    dims = job.model.spatial_dims
    ndim = result.instances.ndim
    spacing, unit = file_spacing(job.info or {}, job.source, ndim, job.channel_axis, dims)
    table = measure_stack(
        result.instances,
        job.image,
        spatial_dims=dims,
        channel_axis=-1 if job.rgb else job.channel_axis,
        class_labels=result.labels,
        spacing=spacing,
        unit=unit,
    )
    return write_table_csv(Path(folder) / f"{job.results.stem}_objects.csv", table)
