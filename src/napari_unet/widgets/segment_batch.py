"""The Segment widget on several images: every open image (results into each image's
output layers) or a folder of files into a folder (TIFF, or zarr for zarr inputs, with
instances, probabilities and measurements as chosen). One engine run per image
(:func:`napari_unet.core.prediction.batch.run_batch`), progress over images, Stop
keeping what is finished, and a summary naming any image that was skipped."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from napari_unet.core import PredictionConfig, StopFlag, UserInputError
from napari_unet.core.prediction.batch import (
    BatchSummary,
    ImageFinished,
    ImageStarted,
    JobMaker,
    folder_jobs,
    run_batch,
    write_objects_table,
)
from napari_unet.core.prediction.job import PredictionJob, RunStarted

from ._jobs import Job, notify_info
from ._layers import image_layers, spatial_shape


class BatchRun:
    """One run of the Segment widget (``widget``, with its ``SegmentRequest``) over
    several images; ``layers``: the image layer of each name (open images), empty for a
    folder of files. (The widget imports this module, so its types are not named here.)"""

    def __init__(self, widget: Any, request: Any) -> None:
        self.widget = widget
        self.request = request
        self.layers: dict[str, Any] = {}
        self.current: Any = None  # the image layer being segmented (open images)
        self.current_job: PredictionJob | None = None

    def open_images(self, model: Any) -> list[tuple[str, JobMaker]]:
        """A job per open image layer, each whole (no slice in view)."""
        items = []
        for name, layer in image_layers(self.widget._viewer):
            self.layers[name] = layer
            items.append((name, self._layer_job_maker(layer, model)))
        if not items:
            raise UserInputError("Open an image first (File > Open, or File > Open Sample).")
        return items

    def _layer_job_maker(self, layer: Any, model: Any) -> JobMaker:
        lead = len(spatial_shape(layer)) - model.spatial_dims
        if lead < 0:
            why = f"a {model.spatial_dims}D model needs {model.spatial_dims} spatial axes"
            return lambda: _refuse(why)
        request = replace(self.request, index=None, lead=lead)
        job = self.widget._prediction_job(layer, model, request)  # read on the GUI thread
        return lambda: replace(job, model=job.model.copy())

    def folder(self, model: Any, source: str, target: str) -> list[tuple[str, JobMaker]]:
        """A job per image file of ``source`` writing into ``target``."""
        if not source or not target:
            raise UserInputError("Choose an input folder and an output folder.")
        config: PredictionConfig = self.request.config
        return folder_jobs(source, model.copy(), config, target)

    def work(self, images: list[tuple[str, JobMaker]], out_dir: str | None):
        """The worker's generator: the images one by one (objects measured into
        ``out_dir/<stem>_objects.csv`` for files, when asked)."""
        measure = self.request.measure and self.request.config.instances and out_dir

        def after(job: PredictionJob, result: Any) -> list[Path]:
            return [write_objects_table(job, result, Path(out_dir))] if measure else []

        def run(stop: StopFlag):
            return (yield from run_batch(images, stop, after))

        return run

    def on_event(self, event: Any) -> None:
        """Show the batch's progress; write each open image's results as it finishes."""
        widget = self.widget
        job = widget._job
        if widget._closed or job is None or job.done or widget._shown is job:
            return  # a late event of a run whose summary is already shown
        if isinstance(event, ImageStarted):
            self.current, self.current_job = self.layers.get(event.name), event.job
            widget._lazy_layers = []
            widget._status.value = f"Segmenting {event.name} ({event.index + 1} of {event.total})…"
            # last: the progress bar processes Qt events, which may deliver the run's end
            job.set_progress(event.index, f"image {event.index + 1} of {event.total}")
        elif isinstance(event, RunStarted) and event.sink is not None and self.current is not None:
            widget._show_store(self.current, event, self.current_job)
        elif isinstance(event, ImageFinished):
            self._finished(event)

    def _finished(self, event: ImageFinished) -> None:
        layer = self.layers.get(event.name)
        if layer is None or layer not in self.widget._viewer.layers:
            return
        request = replace(self.request, index=None, lead=_lead(layer, event.job))
        self.widget.write_results(layer, event.result, request)
        if request.measure and event.result.instances is not None:
            self.widget._measure_objects(layer, request.lead)

    def on_done(self, summary: BatchSummary) -> None:
        message = summary.message()
        self.widget._shown = self.widget._job
        self.widget._status.value = message
        notify_info(message)


def start_batch(widget: Any, request: Any, model: Any) -> Job | None:
    """Start the Segment widget's run over every open image or a folder of files."""
    batch = BatchRun(widget, request)
    folder_mode = widget._images_choice.value == "folder"
    source, target = _typed(widget._in_folder), _typed(widget._out_folder)
    images = batch.folder(model, source, target) if folder_mode else batch.open_images(model)
    return widget._start_job(
        batch.work(images, target if folder_mode else None),
        what="Segmentation",
        layers=list(batch.layers.values()),
        total=len(images),
        on_event=batch.on_event,
        on_done=batch.on_done,
    )


def _typed(field: Any) -> str:
    """The folder the user typed or chose ("" when none: a file field's value would be
    the current folder)."""
    return str(field.line_edit.value).strip()


def _refuse(why: str) -> PredictionJob:
    raise UserInputError(why)


def _lead(layer: Any, job: PredictionJob) -> int:
    return len(spatial_shape(layer)) - job.model.spatial_dims
